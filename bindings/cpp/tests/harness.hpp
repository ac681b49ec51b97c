// A small test harness for the C++ binding's tests: registered test cases,
// checks that throw, polling with deadlines (never a sleep as
// synchronisation), and pools with the LOCAL profile and short timings.
//
// Each test binary runs one test per process when given its name, every test
// when given none, and lists its tests with --list (run-tests.sh runs them
// one per process so that a crash or a leak is charged to one test).
#ifndef HEARSAY_CPP_TEST_HARNESS_HPP
#define HEARSAY_CPP_TEST_HARNESS_HPP

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "hearsay.hpp"

namespace harness {

struct TestCase {
    const char* name;
    void (*fn)();
};

inline std::vector<TestCase>& registry() {
    static std::vector<TestCase> tests;
    return tests;
}

struct Register {
    Register(const char* name, void (*fn)()) { registry().push_back({name, fn}); }
};

/// A failed check: the message says where and what.
struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline std::string where(const char* file, int line) {
    const char* base = std::strrchr(file, '/');
    return std::string(base ? base + 1 : file) + ":" + std::to_string(line) + ": ";
}

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
/// Between two polls it pauses 20 ms (a poll interval, not a wait for the
/// condition itself).
inline bool wait_until(const std::function<bool()>& cond, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (cond()) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(milliseconds(20));
    }
}

/// A config for loopback tests: LOCAL profile, probe 200 ms / 100 ms,
/// gossip 50 ms, suspicion from 0.6 s to 1.2 s, push-pull every second (so
/// a member wrongly declared failed on a busy machine is soon back), a
/// short TCP timeout.
inline hearsay::Config test_config(const std::string& name) {
    return hearsay::Config(hearsay::Profile::Local)
        .node_name(name)
        .bind_addr("127.0.0.1:0")
        .probe_interval(milliseconds(200))
        .probe_timeout(milliseconds(100))
        .gossip_interval(milliseconds(50))
        .suspicion_mult(3)
        .suspicion_max_timeout_mult(2)
        .push_pull_interval(milliseconds(1000))
        .tcp_timeout(milliseconds(1000));
}

/// What `pool` sees, for failure messages: "a sees a=alive/1 b=failed/0".
inline std::string describe(const hearsay::Pool& pool) {
    std::string out = pool.node_name() + " sees";
    for (const hearsay::Member& m : pool.members()) {
        out += " " + m.name + "=" + hearsay::to_string(m.status) + "/" + std::to_string(m.incarnation);
    }
    return out;
}

/// How many members `pool` sees alive.
inline std::size_t alive_count(const hearsay::Pool& pool) {
    std::size_t n = 0;
    for (const hearsay::Member& m : pool.members()) n += m.alive() ? 1 : 0;
    return n;
}

/// The status `pool` sees for `name` (Status::None if it does not know it).
inline hearsay::Status status_of(const hearsay::Pool& pool, const std::string& name) {
    for (const hearsay::Member& m : pool.members()) {
        if (m.name == name) return m.status;
    }
    return hearsay::Status::None;
}

inline int run_main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "--list") == 0) {
        for (const TestCase& t : registry()) std::cout << t.name << "\n";
        return 0;
    }
    int passed = 0, failed = 0, ran = 0;
    for (const TestCase& t : registry()) {
        if (argc > 1) {
            bool wanted = false;
            for (int i = 1; i < argc; ++i) wanted = wanted || std::strcmp(argv[i], t.name) == 0;
            if (!wanted) continue;
        }
        ++ran;
        const auto t0 = Clock::now();
        try {
            t.fn();
            ++passed;
            const auto ms = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
            std::cout << "PASS " << t.name << " (" << ms << " ms)" << std::endl;
        } catch (const std::exception& e) {
            ++failed;
            std::cout << "FAIL " << t.name << ": " << e.what() << std::endl;
        } catch (...) {
            ++failed;
            std::cout << "FAIL " << t.name << ": unknown exception" << std::endl;
        }
    }
    if (ran == 0) {
        std::cerr << "no test matched" << std::endl;
        return 2;
    }
    return failed == 0 ? 0 : 1;
}

}  // namespace harness

#define HS_CONCAT2(a, b) a##b
#define HS_CONCAT(a, b) HS_CONCAT2(a, b)

/// Defines and registers a test case.
#define TEST(name)                                                            \
    static void name();                                                       \
    static harness::Register HS_CONCAT(register_, name)(#name, &name);        \
    static void name()

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) throw harness::Failure(harness::where(__FILE__, __LINE__) + "CHECK failed: " #cond); \
    } while (0)

#define CHECK_MSG(cond, msg)                                                  \
    do {                                                                      \
        if (!(cond)) {                                                        \
            std::ostringstream os_;                                           \
            os_ << harness::where(__FILE__, __LINE__) << "CHECK failed: " #cond << ": " << msg; \
            throw harness::Failure(os_.str());                                \
        }                                                                     \
    } while (0)

#define CHECK_EQ(a, b)                                                        \
    do {                                                                      \
        const auto& a_ = (a);                                                 \
        const auto& b_ = (b);                                                 \
        if (!(a_ == b_)) {                                                    \
            std::ostringstream os_;                                           \
            os_ << harness::where(__FILE__, __LINE__) << "CHECK_EQ failed: " #a " == " #b " (" << a_ << " vs " << b_ << ")"; \
            throw harness::Failure(os_.str());                                \
        }                                                                     \
    } while (0)

/// `expr` throws `Type` (a hearsay::Error subclass) with result code `expected`
/// and a non-empty message.
#define CHECK_THROWS(expr, Type, expected)                                        \
    do {                                                                      \
        bool thrown_ = false;                                                 \
        try {                                                                 \
            (void)(expr);                                                     \
        } catch (const Type& e_) {                                            \
            thrown_ = true;                                                   \
            CHECK_MSG(e_.code() == (expected), "code " << e_.code() << ", what: " << e_.what()); \
            CHECK_MSG(!e_.message().empty(), "empty message, what: " << e_.what()); \
        }                                                                     \
        CHECK_MSG(thrown_, #expr " did not throw " #Type);                    \
    } while (0)

/// CHECK_THROWS, and the message contains `text`.
#define CHECK_THROWS_WITH(expr, Type, expected, text)                         \
    do {                                                                      \
        bool thrown_ = false;                                                 \
        try {                                                                 \
            (void)(expr);                                                     \
        } catch (const Type& e_) {                                            \
            thrown_ = true;                                                   \
            CHECK_MSG(e_.code() == (expected), "code " << e_.code() << ", what: " << e_.what()); \
            CHECK_MSG(e_.message().find(text) != std::string::npos, "no \"" << (text) << "\" in: " << e_.what()); \
        }                                                                     \
        CHECK_MSG(thrown_, #expr " did not throw " #Type);                    \
    } while (0)

/// Waits (polling) until `cond` holds, failing the test after `ms`.
#define WAIT_UNTIL(cond, ms)                                                  \
    CHECK_MSG(harness::wait_until([&]() -> bool { return (cond); }, harness::milliseconds(ms)), \
              "not true within " << (ms) << " ms")

#define TEST_MAIN()                                                           \
    int main(int argc, char** argv) { return harness::run_main(argc, argv); }

#endif  // HEARSAY_CPP_TEST_HARNESS_HPP
