// Membership through the C++ binding: pools join and converge, a pool
// closed without leaving is reported failed (and can be forced out), a
// leave is reported as left, tags travel and change, a closed runtime
// closes its pools.
#include <poll.h>

#include <map>
#include <set>

#include "harness.hpp"

using harness::alive_count;
using harness::status_of;
using harness::test_config;
using std::chrono::milliseconds;

namespace {

/// Pulls every waiting event of `pool` into `log` (without waiting).
void drain(hearsay::Pool& pool, std::vector<hearsay::Event>& log) {
    while (auto e = pool.next_event(milliseconds(0))) log.push_back(std::move(*e));
}

/// Whether `log` holds an event of `type` about member `name`.
bool saw(const std::vector<hearsay::Event>& log, hearsay::EventType type, const std::string& name) {
    for (const hearsay::Event& e : log) {
        if (e.type == type && e.member && e.member->name == name) return true;
    }
    return false;
}

/// `n` pools named a, b, c, ... on `rt`, all joined through the first, and
/// converged (each sees all alive).
std::vector<hearsay::Pool> cluster(hearsay::Runtime& rt, std::size_t n) {
    std::vector<hearsay::Pool> pools;
    for (std::size_t i = 0; i < n; ++i) {
        pools.push_back(rt.pool(test_config(std::string(1, static_cast<char>('a' + i)))));
    }
    const std::string seed = pools[0].local_addr();
    for (std::size_t i = 1; i < n; ++i) CHECK_EQ(pools[i].join({seed}), 1u);
    for (const hearsay::Pool& p : pools) {
        CHECK_MSG(harness::wait_until([&] { return alive_count(p) == n; }, milliseconds(10000)), harness::describe(p));
    }
    return pools;
}

}  // namespace

TEST(join_and_converge) {
    // Two runtimes (two threads), four pools, each with its own tags.
    hearsay::Runtime rt1, rt2;
    std::vector<hearsay::Pool> pools;
    const std::vector<std::string> names = {"a", "b", "c", "d"};
    for (std::size_t i = 0; i < names.size(); ++i) {
        hearsay::Runtime& rt = i < 2 ? rt1 : rt2;
        pools.push_back(rt.pool(test_config(names[i]).tag("role", "r-" + names[i]).tag("index", std::to_string(i))));
    }
    std::map<std::string, std::string> addr_of;
    for (std::size_t i = 0; i < pools.size(); ++i) {
        CHECK_EQ(pools[i].node_name(), names[i]);
        const std::string addr = pools[i].local_addr();
        CHECK_MSG(addr.rfind("127.0.0.1:", 0) == 0 && addr != "127.0.0.1:0", addr);
        addr_of[names[i]] = addr;
        // Alone before joining: only itself, alive.
        const std::vector<hearsay::Member> alone = pools[i].members();
        CHECK_EQ(alone.size(), 1u);
        CHECK_EQ(alone[0].name, names[i]);
    }

    // Join through two seeds at once: both answer.
    CHECK_EQ(pools[1].join({addr_of["a"]}), 1u);
    CHECK_EQ(pools[2].join({addr_of["a"], addr_of["b"]}), 2u);
    CHECK_EQ(pools[3].join({addr_of["c"]}), 1u);

    for (const hearsay::Pool& p : pools) {
        CHECK_MSG(harness::wait_until([&] { return alive_count(p) == 4; }, milliseconds(10000)), harness::describe(p));
    }

    for (const hearsay::Pool& p : pools) {
        std::set<std::string> seen;
        for (const hearsay::Member& m : p.members()) {
            CHECK(m.alive());
            CHECK_EQ(m.status, hearsay::Status::Alive);
            CHECK_EQ(m.addr, addr_of[m.name]);
            CHECK_EQ(m.tag("role").value_or("?"), "r-" + m.name);
            CHECK_EQ(m.tags.size(), 2u);
            CHECK(!m.tag("absent").has_value());
            seen.insert(m.name);
        }
        CHECK_EQ(seen.size(), 4u);
        const hearsay::Stats s = p.stats();
        hearsay::Stats s2;
        CHECK_EQ(s.members_alive, 4u);
        CHECK_EQ(s.members_failed, 0u);
        // Probes and gossip are datagrams, soon counted.
        WAIT_UNTIL((s2 = p.stats(), s2.packets_in > 0 && s2.packets_out > 0 && s2.bytes_in > 0 && s2.bytes_out > 0),
                   10000);
    }

    // The seed has join events waiting: its descriptor is readable, and it
    // reports a join of each other member.
    const int fd = pools[0].event_fd();
    CHECK(fd >= 0);
    pollfd pfd{fd, POLLIN, 0};
    CHECK_EQ(::poll(&pfd, 1, 0), 1);
    std::vector<hearsay::Event> log;
    drain(pools[0], log);
    for (const char* n : {"b", "c", "d"}) {
        CHECK_MSG(saw(log, hearsay::EventType::MemberJoin, n), "no join event for " << n);
    }
    for (const hearsay::Event& e : log) {
        if (e.type == hearsay::EventType::MemberJoin) {
            CHECK(e.is_member_event());
            CHECK_EQ(e.member->addr, addr_of[e.member->name]);
            CHECK(e.payload.empty());
        }
    }
}

TEST(closed_without_leave_is_failed) {
    hearsay::Runtime rt;
    std::vector<hearsay::Pool> pools = cluster(rt, 3);
    pools[2].close();  // no leave: the others must detect it
    CHECK(!pools[2]);

    std::vector<hearsay::Event> log_a;
    WAIT_UNTIL((drain(pools[0], log_a), saw(log_a, hearsay::EventType::MemberFailed, "c")), 15000);
    for (std::size_t i = 0; i < 2; ++i) WAIT_UNTIL(status_of(pools[i], "c") == hearsay::Status::Failed, 15000);
    CHECK_EQ(pools[0].stats().members_failed, 1u);
    CHECK_EQ(alive_count(pools[0]), 2u);

    // A failed member can be forced out: everyone then reports it left.
    pools[0].force_leave("c");
    std::vector<hearsay::Event> log_b;
    for (std::size_t i = 0; i < 2; ++i) WAIT_UNTIL(status_of(pools[i], "c") == hearsay::Status::Left, 10000);
    WAIT_UNTIL((drain(pools[1], log_b), saw(log_b, hearsay::EventType::MemberLeave, "c")), 10000);
}

TEST(leave_is_reported_left) {
    hearsay::Runtime rt;
    std::vector<hearsay::Pool> pools = cluster(rt, 3);
    std::vector<hearsay::Event> log_a;
    drain(pools[0], log_a);

    CHECK(pools[2].leave(milliseconds(3000)));
    for (std::size_t i = 0; i < 2; ++i) WAIT_UNTIL(status_of(pools[i], "c") == hearsay::Status::Left, 10000);
    WAIT_UNTIL((drain(pools[0], log_a), saw(log_a, hearsay::EventType::MemberLeave, "c")), 10000);
    CHECK(!saw(log_a, hearsay::EventType::MemberFailed, "c"));
    pools[2].close();
    // A member that left and then stopped is still left, not failed.
    CHECK_EQ(status_of(pools[0], "c"), hearsay::Status::Left);
    CHECK_EQ(pools[0].stats().members_left, 1u);
}

TEST(tags_and_updates) {
    hearsay::Runtime rt;
    hearsay::Pool a = rt.pool(test_config("a").tags({{"role", "db"}, {"zone", "1"}}).remove_tag("zone"));
    hearsay::Pool b = rt.pool(test_config("b"));
    CHECK_EQ(b.join({a.local_addr()}), 1u);
    WAIT_UNTIL(alive_count(a) == 2 && alive_count(b) == 2, 10000);

    auto a_seen_by_b = [&]() {
        for (const hearsay::Member& m : b.members()) {
            if (m.name == "a") return m;
        }
        throw harness::Failure("b does not know a");
    };
    using Tags = std::map<std::string, std::string>;
    CHECK(a_seen_by_b().tags == (Tags{{"role", "db"}}));
    std::uint32_t incarnation = a_seen_by_b().incarnation;

    std::vector<hearsay::Event> log;
    drain(b, log);
    log.clear();

    auto update_for_a_with = [&](const Tags& tags) {
        drain(b, log);
        for (const hearsay::Event& e : log) {
            if (e.type == hearsay::EventType::MemberUpdate && e.member && e.member->name == "a" &&
                e.member->tags == tags)
                return true;
        }
        return false;
    };

    a.set_tag("role", "web");
    WAIT_UNTIL(update_for_a_with(Tags{{"role", "web"}}), 10000);
    WAIT_UNTIL(a_seen_by_b().tags == (Tags{{"role", "web"}}), 10000);
    CHECK(a_seen_by_b().incarnation > incarnation);
    incarnation = a_seen_by_b().incarnation;

    a.set_tags({{"x", "1"}, {"y", "2"}});
    WAIT_UNTIL(update_for_a_with(Tags{{"x", "1"}, {"y", "2"}}), 10000);
    WAIT_UNTIL(a_seen_by_b().tags == (Tags{{"x", "1"}, {"y", "2"}}), 10000);
    CHECK(a_seen_by_b().incarnation > incarnation);

    a.remove_tag("x");
    WAIT_UNTIL(a_seen_by_b().tags == (Tags{{"y", "2"}}), 10000);
    a.set_tags({});
    WAIT_UNTIL(update_for_a_with(Tags{}), 10000);
    WAIT_UNTIL(a_seen_by_b().tags.empty(), 10000);

    // The local view changes at once.
    for (const hearsay::Member& m : a.members()) {
        if (m.name == "a") CHECK(m.tags.empty());
    }
}

TEST(closed_runtime_closes_pools) {
    hearsay::Runtime rt;
    hearsay::Pool p = rt.pool(test_config("a"));
    rt.close();
    CHECK(!rt);
    CHECK_THROWS(p.members(), hearsay::ClosedError, hearsay::Result::Closed);
    CHECK_THROWS(p.send_event("e", "x"), hearsay::ClosedError, hearsay::Result::Closed);
    // Events queued before the stop can still be taken; then it is closed.
    bool closed = false;
    for (int i = 0; i < 10000 && !closed; ++i) {
        try {
            (void)p.next_event(milliseconds(100));
        } catch (const hearsay::ClosedError&) {
            closed = true;
        }
    }
    CHECK(closed);
    // A closed runtime makes no pools.
    CHECK_THROWS(rt.pool(test_config("b")), hearsay::ClosedError, hearsay::Result::Closed);
    p.close();
}

TEST(coordinates_and_nearest_first) {
    hearsay::Runtime rt;
    std::vector<hearsay::Pool> pools = cluster(rt, 2);
    CHECK(pools[0].coordinate().has_value());
    CHECK(harness::wait_until([&] { return pools[0].coordinate("b").has_value(); }, milliseconds(10000)));
    const auto rtt = pools[0].estimated_rtt("b");
    CHECK(rtt.has_value() && *rtt < milliseconds(50));
    const std::vector<hearsay::Member> near = pools[0].members_near();
    CHECK_EQ(near.size(), 2u);
    CHECK(near[0].name == "a");
    CHECK(!pools[0].estimated_rtt("nobody").has_value());
}

TEST_MAIN()
