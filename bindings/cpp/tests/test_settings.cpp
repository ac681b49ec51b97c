// The buffer, snapshot, coordinate and resource-limit settings of Config:
// out of range each is refused naming it (by validate() and by Pool), in
// range each bounds or changes what it says.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "harness.hpp"

using harness::alive_count;
using harness::test_config;
using std::chrono::milliseconds;

namespace {

/// A temporary directory, removed with what it holds.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/hearsay-cpp-settings.XXXXXX";
        const char* p = mkdtemp(tmpl);
        CHECK(p != nullptr);
        path = p;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
};

/// The size of a file, or -1 when it does not exist.
long long file_size(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : -1;
}

sockaddr_in parse(const std::string& ip_port) {
    const std::size_t colon = ip_port.rfind(':');
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(std::stoi(ip_port.substr(colon + 1))));
    CHECK(inet_pton(AF_INET, ip_port.substr(0, colon).c_str(), &a.sin_addr) == 1);
    return a;
}

/// A socket closed on scope exit.
struct Fd {
    int fd;
    explicit Fd(int f) : fd(f) { CHECK(fd >= 0); }
    Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
    Fd(const Fd&) = delete;
    ~Fd() {
        if (fd >= 0) close(fd);
    }
};

Fd connect_tcp(const std::string& ip_port) {
    Fd s(socket(AF_INET, SOCK_STREAM, 0));
    const sockaddr_in a = parse(ip_port);
    CHECK(connect(s.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    return s;
}

/// Whether the other end closed (or reset) the connection; never waits.
bool closed_by_peer(const Fd& s) {
    char b;
    const ssize_t n = recv(s.fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

void send_junk(const std::string& ip_port, int n) {
    Fd s(socket(AF_INET, SOCK_DGRAM, 0));
    const sockaddr_in a = parse(ip_port);
    const char junk[8] = {};  // not a packet: counted as malformed once read
    for (int i = 0; i < n; ++i) {
        (void)sendto(s.fd, junk, sizeof junk, 0, reinterpret_cast<const sockaddr*>(&a), sizeof a);
    }
}

/// Takes events of `p` until the user event `name`.
hearsay::Event next_user(hearsay::Pool& p, const std::string& name) {
    std::optional<hearsay::Event> e;
    WAIT_UNTIL((e = p.next_event(milliseconds(10)), e && e->is_user() && e->name == name), 10000);
    return *e;
}

void join_and_wait(std::vector<hearsay::Pool>& pools) {
    for (std::size_t i = 1; i < pools.size(); ++i) CHECK_EQ(pools[i].join({pools[0].local_addr()}), 1u);
    for (const hearsay::Pool& p : pools) WAIT_UNTIL(alive_count(p) == pools.size(), 10000);
}

}  // namespace

TEST(settings_out_of_range_name_themselves) {
    hearsay::Runtime rt;
    const std::vector<std::pair<std::string, std::function<void(hearsay::Config&)>>> cases = {
        {"max_query_size", [](hearsay::Config& c) { c.max_query_size(15); }},
        {"max_query_size", [](hearsay::Config& c) { c.max_query_size(1400); }},
        {"event_buffer", [](hearsay::Config& c) { c.event_buffer(15); }},
        {"event_buffer", [](hearsay::Config& c) { c.event_buffer(65537); }},
        {"query_buffer", [](hearsay::Config& c) { c.query_buffer(15); }},
        {"max_intents", [](hearsay::Config& c) { c.max_intents(0); }},
        {"max_pending_queries", [](hearsay::Config& c) { c.max_pending_queries(0); }},
        {"max_broadcast_queue", [](hearsay::Config& c) { c.max_broadcast_queue(15); }},
        {"max_concurrent_streams", [](hearsay::Config& c) { c.max_concurrent_streams(0); }},
        {"max_concurrent_streams", [](hearsay::Config& c) { c.max_concurrent_streams(65537); }},
        {"inbound_packet_queue", [](hearsay::Config& c) { c.inbound_packet_queue(0); }},
        {"inbound_packet_queue", [](hearsay::Config& c) { c.inbound_packet_queue((1u << 20) + 1); }},
        {"max_per_ltime", [](hearsay::Config& c) { c.max_per_ltime(0); }},
        {"max_per_ltime", [](hearsay::Config& c) { c.max_per_ltime(65537); }},
        {"max_query_responses", [](hearsay::Config& c) { c.max_query_responses(0); }},
    };
    for (const auto& [setting, set] : cases) {
        hearsay::Config c = test_config("bad");
        set(c);
        CHECK_THROWS_WITH(c.validate(), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument, setting);
        CHECK_THROWS_WITH(rt.pool(c), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument, setting);
    }
    CHECK_THROWS(test_config("x").recent_intent_timeout(milliseconds(-1)), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);

    // In range, every one is accepted, on a temporary too.
    TempDir dir;
    hearsay::Pool p = rt.pool(test_config("every")
                                  .max_query_size(1200)
                                  .event_buffer(16)
                                  .query_buffer(65536)
                                  .max_intents(1)
                                  .recent_intent_timeout(milliseconds(0))
                                  .max_pending_queries(1)
                                  .snapshot_path(dir.path + "/snap")
                                  .coordinates(false)
                                  .max_broadcast_queue(16)
                                  .max_concurrent_streams(1)
                                  .inbound_packet_queue(1u << 20)
                                  .max_per_ltime(1)
                                  .max_query_responses(1));
    CHECK_EQ(p.node_name(), "every");
}

TEST(snapshot_path) {
    hearsay::Runtime rt;
    TempDir dir;
    const std::string path = dir.path + "/node.snap";
    std::uint64_t last = 0;
    {
        hearsay::Pool p = rt.pool(test_config("snap").snapshot_path(path));
        CHECK_MSG(file_size(path) >= 0, "the pool did not create " << path);
        for (int i = 0; i < 3; ++i) {
            p.send_event("e");
            last = next_user(p, "e").ltime;
        }
    }
    CHECK_MSG(file_size(path) > 0, "snapshot of " << file_size(path) << " bytes after three events");
    // A pool started from it resumes the clock; a fresh one starts over.
    hearsay::Pool restored = rt.pool(test_config("snap").snapshot_path(path));
    hearsay::Pool fresh = rt.pool(test_config("fresh"));
    restored.send_event("after");
    fresh.send_event("after");
    const std::uint64_t resumed = next_user(restored, "after").ltime;
    const std::uint64_t anew = next_user(fresh, "after").ltime;
    CHECK_MSG(resumed > last, resumed << " after " << last);
    CHECK_MSG(anew <= last, anew << " after " << last);
    // A file that cannot be opened fails the pool.
    CHECK_THROWS(rt.pool(test_config("nowhere").snapshot_path(dir.path + "/missing/dir/snap")), hearsay::IoError,
                 hearsay::Result::Io);
}

TEST(coordinates_off) {
    hearsay::Runtime rt;
    hearsay::Pool on = rt.pool(test_config("on"));
    hearsay::Pool off = rt.pool(test_config("off").coordinates(false));
    CHECK(on.coordinate().has_value());
    CHECK(!off.coordinate().has_value());
}

TEST(max_query_size) {
    hearsay::Runtime rt;
    hearsay::Pool dflt = rt.pool(test_config("default"));
    hearsay::Pool small = rt.pool(test_config("small").max_query_size(100));
    hearsay::Pool large = rt.pool(test_config("large").max_query_size(1300));
    const hearsay::QueryParams params = hearsay::QueryParams().set_timeout(milliseconds(100));
    (void)dflt.query("q", std::vector<std::uint8_t>(200, 1), params);
    CHECK_THROWS(small.query("q", std::vector<std::uint8_t>(200, 1), params), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);
    CHECK_THROWS(dflt.query("q", std::vector<std::uint8_t>(1100, 1), params), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);
    (void)large.query("q", std::vector<std::uint8_t>(1100, 1), params);
}

TEST(max_pending_queries) {
    hearsay::Runtime rt;
    hearsay::Pool p = rt.pool(test_config("asker").max_pending_queries(1));
    const hearsay::QueryParams params = hearsay::QueryParams().set_timeout(milliseconds(60000));
    hearsay::Query first = p.query("first", "", params);
    CHECK_THROWS(p.query("second", "", params), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
    CHECK_EQ(p.stats().queries_refused, 1u);
}

TEST(max_broadcast_queue) {
    hearsay::Runtime rt;
    hearsay::Pool shortq = rt.pool(test_config("short").max_broadcast_queue(16));
    hearsay::Pool longq = rt.pool(test_config("long"));
    // Alone, a pool keeps its broadcasts queued: nobody to gossip them to.
    for (int i = 0; i < 100; ++i) {
        shortq.send_event("e" + std::to_string(i));
        longq.send_event("e" + std::to_string(i));
    }
    WAIT_UNTIL(shortq.stats().broadcasts_dropped > 0, 10000);
    CHECK_EQ(longq.stats().broadcasts_dropped, 0u);
}

TEST(max_concurrent_streams) {
    hearsay::Runtime rt;
    // Idle connections keep their slots for the whole test.
    hearsay::Pool p = rt.pool(test_config("streams").max_concurrent_streams(2).tcp_timeout(milliseconds(60000)));
    std::vector<Fd> conns;
    for (int i = 0; i < 3; ++i) conns.push_back(connect_tcp(p.local_addr()));
    auto closed = [&] {
        int n = 0;
        for (const Fd& c : conns) n += closed_by_peer(c) ? 1 : 0;
        return n;
    };
    WAIT_UNTIL(p.stats().streams_refused >= 1 && closed() >= 1, 10000);
    // Exactly the one beyond the limit: two still hold their slots.
    CHECK_EQ(closed(), 1);
    CHECK_EQ(p.stats().streams_refused, 1u);
}

TEST(inbound_packet_queue) {
    hearsay::Runtime rt;
    hearsay::Pool shallow = rt.pool(test_config("shallow").inbound_packet_queue(1));
    hearsay::Pool deep = rt.pool(test_config("deep"));
    // The default queue (1,024) takes a burst of 100 whole.
    send_junk(deep.local_addr(), 100);
    WAIT_UNTIL(deep.stats().dropped_malformed == 100, 10000);
    CHECK_EQ(deep.stats().dropped_overload, 0u);
    // A queue of one sheds as soon as two datagrams wait together.
    WAIT_UNTIL((send_junk(shallow.local_addr(), 100), shallow.stats().dropped_overload > 0), 10000);
}

TEST(max_per_ltime) {
    hearsay::Runtime rt;
    // Two pools that never met send one event each: the same Lamport time.
    hearsay::Pool a = rt.pool(test_config("a"));
    hearsay::Pool c = rt.pool(test_config("c"));
    a.send_event("from-a");
    c.send_event("from-c");
    CHECK_EQ(next_user(a, "from-a").ltime, next_user(c, "from-c").ltime);
    hearsay::Pool b = rt.pool(test_config("b").max_per_ltime(1));
    CHECK_EQ(b.join({a.local_addr()}), 1u);
    (void)next_user(b, "from-a");
    CHECK_EQ(b.join({c.local_addr()}), 1u);
    // b remembers one event for that time: c's is dropped and counted...
    WAIT_UNTIL(b.stats().dedup_full >= 1, 15000);
    while (auto e = b.next_event(milliseconds(0))) CHECK_MSG(!e->is_user(), "b delivered " << e->name);
    // ...while c, with the default of 64, delivers a's beside its own.
    (void)next_user(c, "from-a");
}

TEST(max_query_responses) {
    hearsay::Runtime rt;
    std::vector<hearsay::Pool> pools;
    pools.push_back(rt.pool(test_config("asker").max_query_responses(1)));
    pools.push_back(rt.pool(test_config("b")));
    pools.push_back(rt.pool(test_config("c")));
    join_and_wait(pools);
    hearsay::Query q = pools[0].query("who", "", hearsay::QueryParams().set_timeout(milliseconds(3000)));
    for (hearsay::Pool& p : pools) {
        std::optional<hearsay::Event> e;
        WAIT_UNTIL((e = p.next_event(milliseconds(10)), e && e->is_query()), 10000);
        e->respond(p.node_name());
    }
    // Three answered; the asker takes one and counts the other two.
    WAIT_UNTIL(pools[0].stats().query_replies_dropped == 2, 10000);
    CHECK_EQ(q.collect().size(), 1u);
    CHECK_EQ(pools[0].stats().query_replies_dropped, 2u);
}

TEST_MAIN()
