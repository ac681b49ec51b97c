// node: one hearsay node on loopback, driven from the command line, for
// cross-language tests and demos.
//
//   node NAME [--join ADDR] [--expect-members N] [--send EVENT_NAME]
//             [--payload TEXT] [--expect-events N] [--timeout-ms T]
//             [--bind IP:PORT]
//
// It starts a LOCAL-profile pool named NAME on 127.0.0.1:0 (or --bind) and
// prints "ADDR <ip:port>" as its first line. With --join it joins through
// ADDR (retrying until the timeout if nobody answers yet). With
// --expect-members N it waits until it sees N alive members (itself
// included). Once that membership is complete it sends the user event
// EVENT_NAME if asked (payload: --payload, default NAME). It prints every
// user event it receives, its own included, as "EVENT <name> <payload>"
// (the payload's bytes as they are, control characters as \xNN).
//
// It exits 0 as soon as it has seen N alive members and N user events (the
// --expect-* values; 0 when not given), leaving the pool gracefully first.
// With neither --expect-members nor --expect-events it serves until the
// timeout and then exits 0. It exits 1 when the timeout (default 30000 ms)
// passes with an expectation unmet, 2 for bad usage or a hearsay error,
// 3 on SIGINT or SIGTERM. Every line on stdout is flushed as it is written.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "hearsay.hpp"

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

[[noreturn]] void usage(const char* why) {
    std::cerr << "node: " << why << "\n"
              << "usage: node NAME [--join ADDR] [--expect-members N] [--send EVENT_NAME]\n"
              << "            [--payload TEXT] [--expect-events N] [--timeout-ms T] [--bind IP:PORT]\n";
    std::exit(2);
}

long number(const char* flag, const char* text) {
    char* end = nullptr;
    const long v = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < 0) usage((std::string(flag) + " needs a non-negative number").c_str());
    return v;
}

/// The payload as text on one line: bytes as they are (UTF-8 passes
/// through), control characters (below 0x20, and 0x7f) as \xNN.
std::string printable(const std::vector<std::uint8_t>& bytes) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (std::uint8_t b : bytes) {
        if (b >= 0x20 && b != 0x7f) {
            out.push_back(static_cast<char>(b));
        } else {
            out += "\\x";
            out.push_back(hex[b >> 4]);
            out.push_back(hex[b & 0xf]);
        }
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    using Clock = std::chrono::steady_clock;
    using std::chrono::milliseconds;

    if (argc < 2 || argv[1][0] == '-') usage("NAME is required first");
    const std::string name = argv[1];
    std::string join_addr, send_name, bind = "127.0.0.1:0";
    std::string payload = name;
    long expect_members = 0, expect_events = 0, timeout_ms = 30000;
    bool has_expectation = false;
    for (int i = 2; i < argc; ++i) {
        const std::string flag = argv[i];
        if (i + 1 >= argc) usage((flag + " needs a value").c_str());
        const char* value = argv[++i];
        if (flag == "--join") {
            join_addr = value;
        } else if (flag == "--send") {
            send_name = value;
        } else if (flag == "--payload") {
            payload = value;
        } else if (flag == "--expect-members") {
            expect_members = number("--expect-members", value);
            has_expectation = true;
        } else if (flag == "--expect-events") {
            expect_events = number("--expect-events", value);
            has_expectation = true;
        } else if (flag == "--timeout-ms") {
            timeout_ms = number("--timeout-ms", value);
        } else if (flag == "--bind") {
            bind = value;
        } else {
            usage(("unknown option " + flag).c_str());
        }
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    const auto deadline = Clock::now() + milliseconds(timeout_ms);

    try {
        hearsay::Runtime rt;
        hearsay::Pool pool = rt.pool(hearsay::Config(hearsay::Profile::Local).node_name(name).bind_addr(bind));
        std::cout << "ADDR " << pool.local_addr() << std::endl;

        if (!join_addr.empty()) {
            for (;;) {
                try {
                    pool.join({join_addr});
                    break;
                } catch (const hearsay::IoError& e) {
                    // Nobody answered yet: try again until the timeout.
                    if (Clock::now() >= deadline || g_stop) {
                        std::cerr << "node: " << e.what() << std::endl;
                        return g_stop ? 3 : 1;
                    }
                    std::this_thread::sleep_for(milliseconds(100));
                }
            }
        }

        bool members_complete = false, sent = false;
        long events_seen = 0;
        for (;;) {
            if (g_stop) {
                pool.leave(milliseconds(1000));
                return 3;
            }
            if (!members_complete) {
                long alive = 0;
                for (const hearsay::Member& m : pool.members()) alive += m.alive() ? 1 : 0;
                members_complete = alive >= expect_members;
            }
            if (members_complete && !send_name.empty() && !sent) {
                pool.send_event(send_name, payload);
                sent = true;
            }
            if (has_expectation && members_complete && (send_name.empty() || sent) && events_seen >= expect_events) {
                pool.leave(milliseconds(1000));
                return 0;
            }
            const auto now = Clock::now();
            if (now >= deadline) {
                if (!has_expectation) {
                    pool.leave(milliseconds(1000));
                    return 0;
                }
                std::cerr << "node: timeout: " << (members_complete ? "members complete" : "members incomplete")
                          << ", " << events_seen << " of " << expect_events << " events" << std::endl;
                return 1;
            }
            const auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
            // Wake at least every 100 ms to look at the membership and the signals.
            if (auto e = pool.next_event(std::min(left, milliseconds(100)))) {
                if (e->is_user()) {
                    ++events_seen;
                    std::cout << "EVENT " << e->name << " " << printable(e->payload) << std::endl;
                }
            }
        }
    } catch (const hearsay::Error& e) {
        std::cerr << "node: " << e.what() << std::endl;
        return 2;
    }
}
