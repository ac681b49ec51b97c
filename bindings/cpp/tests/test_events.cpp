// User events and queries through the C++ binding: each user event is
// delivered exactly once to every pool (the sender included); queries reach
// the members their filters select, which respond; acks; errors of respond.
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "harness.hpp"

using harness::alive_count;
using harness::test_config;
using std::chrono::milliseconds;

namespace {

std::vector<hearsay::Pool> cluster(hearsay::Runtime& rt, const std::vector<std::string>& names,
                                   const std::vector<std::map<std::string, std::string>>& tags = {}) {
    std::vector<hearsay::Pool> pools;
    for (std::size_t i = 0; i < names.size(); ++i) {
        pools.push_back(rt.pool(test_config(names[i]).tags(i < tags.size() ? tags[i] : std::map<std::string, std::string>{})));
    }
    const std::string seed = pools[0].local_addr();
    for (std::size_t i = 1; i < pools.size(); ++i) CHECK_EQ(pools[i].join({seed}), 1u);
    for (const hearsay::Pool& p : pools) {
        CHECK_MSG(harness::wait_until([&] { return alive_count(p) == names.size(); }, milliseconds(10000)),
                  harness::describe(p));
    }
    return pools;
}

std::vector<std::uint8_t> bytes(std::initializer_list<int> list) {
    std::vector<std::uint8_t> out;
    for (int b : list) out.push_back(static_cast<std::uint8_t>(b));
    return out;
}

/// Answers every waiting query named `name` on each pool with
/// "pong-<node>", counting in `received` which nodes got one (and checking
/// its payload).
void answer_queries(std::vector<hearsay::Pool>& pools, const std::string& name, const std::string& payload,
                    std::map<std::string, int>& received) {
    for (hearsay::Pool& p : pools) {
        while (auto e = p.next_event(milliseconds(0))) {
            if (!e->is_query() || e->name != name) continue;
            CHECK_EQ(e->payload_string(), payload);
            CHECK(!e->member.has_value());
            received[p.node_name()] += 1;
            e->respond("pong-" + p.node_name());
        }
    }
}

}  // namespace

TEST(user_events_exactly_once) {
    hearsay::Runtime rt;
    std::vector<hearsay::Pool> pools = cluster(rt, {"a", "b", "c"});

    // One event from each pool, with binary payloads (NUL bytes included).
    std::map<std::string, std::vector<std::uint8_t>> sent;
    for (std::size_t i = 0; i < pools.size(); ++i) {
        const std::string name = "deploy-" + pools[i].node_name();
        sent[name] = bytes({static_cast<int>(i), 0, 0xff, 'x', 0});
        pools[i].send_event(name, sent[name]);
    }
    // An empty payload is fine too.
    pools[1].send_event("empty");
    sent["empty"] = {};

    // Each pool sees each event, then a marker sent after it saw them all;
    // nothing may come twice in between.
    for (std::size_t i = 0; i < pools.size(); ++i) {
        std::map<std::string, int> count;
        std::uint64_t max_ltime = 0, end_ltime = 0;
        auto take = [&]() {
            while (auto e = pools[i].next_event(milliseconds(0))) {
                if (!e->is_user()) continue;
                count[e->name] += 1;
                if (e->name == "end") {
                    end_ltime = e->ltime;
                } else {
                    CHECK_MSG(sent.count(e->name) == 1, "unexpected event " << e->name);
                    CHECK(e->payload == sent[e->name]);
                    max_ltime = std::max(max_ltime, e->ltime);
                }
                CHECK(!e->member.has_value());
            }
        };
        auto seen = [&]() {
            std::string out = pools[i].node_name() + " saw:";
            for (const auto& kv : count) out += " " + kv.first + "x" + std::to_string(kv.second);
            return out;
        };
        auto saw_all_sent = [&]() {
            for (const auto& kv : sent) {
                if (count.count(kv.first) == 0) return false;
            }
            return true;
        };
        CHECK_MSG(harness::wait_until([&] { return take(), saw_all_sent(); }, milliseconds(10000)),
                  seen());
        if (i == 0) pools[0].send_event("end", "done");
        WAIT_UNTIL((take(), count.count("end") == 1), 10000);
        for (const auto& kv : count) CHECK_MSG(kv.second == 1, kv.first << " delivered " << kv.second << " times");
        // "end" was sent after its sender saw the others: a later Lamport time.
        CHECK_MSG(end_ltime > max_ltime, end_ltime << " <= " << max_ltime);
    }
}

TEST(user_event_ltime_orders_causally) {
    hearsay::Runtime rt;
    std::vector<hearsay::Pool> pools = cluster(rt, {"a", "b"});
    pools[0].send_event("first", "1");
    // b sees "first", then sends "second": its Lamport time is later.
    std::optional<hearsay::Event> first;
    WAIT_UNTIL((first = pools[1].next_event(milliseconds(10)), first && first->is_user() && first->name == "first"),
               10000);
    pools[1].send_event("second", "2");
    std::optional<hearsay::Event> second;
    WAIT_UNTIL((second = pools[0].next_event(milliseconds(10)), second && second->is_user() && second->name == "second"),
               10000);
    CHECK_MSG(second->ltime > first->ltime, second->ltime << " <= " << first->ltime);
}

TEST(threads_share_a_pool) {
    hearsay::Runtime rt;
    std::vector<hearsay::Pool> pools = cluster(rt, {"a", "b"});
    hearsay::Pool& b = pools[1];
    constexpr int kEvents = 20;

    // Two threads pull b's events while this one sends from a and reads b's
    // members and stats: each event goes to exactly one of the threads.
    std::mutex mu;
    std::map<std::string, int> got;
    std::atomic<bool> stop{false};
    auto consume = [&]() {
        while (!stop) {
            if (auto e = b.next_event(milliseconds(50))) {
                if (!e->is_user()) continue;
                std::lock_guard<std::mutex> lock(mu);
                got[e->name] += 1;
            }
        }
    };
    std::thread t1(consume), t2(consume);
    auto done = [&]() {
        std::lock_guard<std::mutex> lock(mu);
        return got.size() == static_cast<std::size_t>(kEvents);
    };
    bool all = false;
    try {
        for (int i = 0; i < kEvents; ++i) pools[0].send_event("e" + std::to_string(i), std::to_string(i));
        all = harness::wait_until([&] { return b.members().size() == 2 && b.stats().members_alive == 2 && done(); },
                                  milliseconds(10000));
    } catch (...) {
        stop = true;
        t1.join();
        t2.join();
        throw;
    }
    stop = true;
    t1.join();
    t2.join();
    CHECK(all);
    for (const auto& kv : got) CHECK_MSG(kv.second == 1, kv.first << " taken " << kv.second << " times");
}

TEST(queries_with_responses) {
    hearsay::Runtime rt;
    std::vector<hearsay::Pool> pools =
        cluster(rt, {"a", "b", "c"}, {{{"role", "web"}}, {{"role", "web"}}, {{"role", "db"}}});

    // Everyone (the querier included) receives it, acks and responds.
    {
        hearsay::Query q = pools[0].query("ping", "hi", hearsay::QueryParams().set_request_ack().set_timeout(milliseconds(5000)));
        CHECK(q.remaining() > milliseconds(0));
        CHECK(q.remaining() <= milliseconds(5000));
        std::map<std::string, int> received;
        std::map<std::string, std::string> responses;
        std::set<std::string> acks;
        WAIT_UNTIL((answer_queries(pools, "ping", "hi", received), [&] {
                       while (auto r = q.next(milliseconds(10))) {
                           if (r->is_ack()) {
                               CHECK(r->payload.empty());
                               CHECK(acks.insert(r->from).second);
                           } else {
                               CHECK_EQ(r->type, hearsay::ReplyType::Response);
                               CHECK_MSG(responses.emplace(r->from, r->payload_string()).second,
                                         "second response from " << r->from);
                           }
                       }
                       return responses.size() == 3 && acks.size() == 3;
                   }()),
                   10000);
        for (const char* n : {"a", "b", "c"}) {
            CHECK_EQ(received[n], 1);
            CHECK_EQ(responses[n], std::string("pong-") + n);
            CHECK(acks.count(n) == 1);
        }
        CHECK(!q.done());
    }

    // A tag filter: only the web nodes receive it; the query ends at its
    // deadline with their two responses.
    {
        hearsay::Query q = pools[1].query("who", bytes({1, 2, 3}),
                                          hearsay::QueryParams().add_tag_filter("role", "^web$").set_timeout(milliseconds(1500)));
        std::map<std::string, int> received;
        std::map<std::string, std::string> responses;
        WAIT_UNTIL((answer_queries(pools, "who", std::string("\x01\x02\x03"), received), [&] {
                       while (auto r = q.next(milliseconds(10))) responses[r->from] = r->payload_string();
                       return q.done();
                   }()),
                   10000);
        CHECK_EQ(responses.size(), 2u);
        CHECK_EQ(responses["a"], "pong-a");
        CHECK_EQ(responses["b"], "pong-b");
        CHECK_EQ(received.count("c"), 0u);
        CHECK(q.remaining() == milliseconds(0));
        CHECK(!q.next(milliseconds(0)).has_value());
    }

    // A node filter: only c; collect() reads until the end.
    {
        hearsay::Query q = pools[0].query("only-c", std::string_view(),
                                          hearsay::QueryParams().add_node("c").set_timeout(milliseconds(1500)));
        std::map<std::string, int> received;
        WAIT_UNTIL((answer_queries(pools, "only-c", "", received), received.count("c") == 1), 10000);
        const std::vector<hearsay::QueryReply> replies = q.collect();
        CHECK(q.done());
        CHECK_EQ(replies.size(), 1u);
        CHECK_EQ(replies[0].from, "c");
        CHECK_EQ(replies[0].payload_string(), "pong-c");
        CHECK_EQ(received.size(), 1u);
    }
}

TEST(query_respond_errors) {
    hearsay::Runtime rt;
    std::vector<hearsay::Pool> pools = cluster(rt, {"a", "b"});

    // respond() on something that is not a query.
    pools[0].send_event("not-a-query", "x");
    std::optional<hearsay::Event> user;
    WAIT_UNTIL((user = pools[1].next_event(milliseconds(10)), user && user->is_user()), 10000);
    CHECK_THROWS(user->respond("x"), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);

    // A response over max_query_response_size (1,024 bytes by default).
    hearsay::Query q = pools[0].query("short", "", hearsay::QueryParams().set_timeout(milliseconds(800)));
    std::optional<hearsay::Event> query;
    WAIT_UNTIL((query = pools[1].next_event(milliseconds(10)), query && query->is_query()), 10000);
    CHECK_THROWS(query->respond(std::vector<std::uint8_t>(2000, 7)), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);

    // Past the deadline: refused with TimeoutError. The responder's
    // deadline runs from when the query reached it, a gossip hop after the
    // querier's, so poll until it passes there too.
    (void)q.collect();
    CHECK(q.done());
    auto refused_late = [&]() {
        try {
            query->respond("late");
            return false;
        } catch (const hearsay::TimeoutError& e) {
            CHECK_EQ(e.code(), hearsay::Result::Timeout);
            return true;
        }
    };
    WAIT_UNTIL(refused_late(), 5000);

    // Once its pool is closed, a kept query event cannot be answered.
    hearsay::Query q2 = pools[0].query("orphan", "", hearsay::QueryParams().set_timeout(milliseconds(5000)));
    std::optional<hearsay::Event> orphan;
    WAIT_UNTIL((orphan = pools[1].next_event(milliseconds(10)), orphan && orphan->is_query() && orphan->name == "orphan"),
               10000);
    hearsay::Event copy = *orphan;  // copies share the query
    pools[1].close();
    CHECK_THROWS(copy.respond("x"), hearsay::ClosedError, hearsay::Result::Closed);
    // The query outlives the pool that answered, and its own pool too.
    pools[0].close();
    (void)q2.collect();
    CHECK(q2.done());

    // Bad parameters are refused before anything is sent.
    hearsay::Pool p = rt.pool(test_config("p"));
    CHECK_THROWS(p.query("q", "", hearsay::QueryParams().add_tag_filter("role", "(")), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);
    CHECK_THROWS(p.query("q", "", hearsay::QueryParams().add_node("")), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);
    CHECK_THROWS(p.query("", ""), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
    CHECK_THROWS(p.query("big", std::vector<std::uint8_t>(5000, 1)), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);
    CHECK_THROWS(p.query("q", "", hearsay::QueryParams().set_timeout(milliseconds(-1))), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);
}

TEST(query_sender_and_remaining) {
    hearsay::Runtime rt;
    std::vector<hearsay::Pool> pools = cluster(rt, {"a", "b"});
    auto next_named = [&](const std::string& name) {
        std::optional<hearsay::Event> e;
        WAIT_UNTIL((e = pools[1].next_event(milliseconds(10)), e && e->name == name), 10000);
        return *e;
    };

    // Other events have no sender and no time left.
    pools[0].send_event("not-a-query", "x");
    const hearsay::Event user = next_named("not-a-query");
    CHECK(user.from.empty());
    CHECK(user.remaining() == milliseconds(0));

    hearsay::Query q = pools[0].query("early", "", hearsay::QueryParams().set_timeout(milliseconds(2000)));
    const hearsay::Event early = next_named("early");
    CHECK(early.is_query());
    CHECK_EQ(early.from, "a");
    CHECK_MSG(early.remaining() > milliseconds(0) && early.remaining() <= milliseconds(2000),
              early.remaining().count() << " ms left");
    early.respond("in time");
    const std::vector<hearsay::QueryReply> replies = q.collect();
    CHECK_EQ(replies.size(), 1u);
    CHECK_EQ(replies[0].from, "b");

    // remaining() counts down live; once it is over, answers are refused.
    hearsay::Query late_q = pools[0].query("late", "", hearsay::QueryParams().set_timeout(milliseconds(1000)));
    const hearsay::Event late = next_named("late");
    const milliseconds left = late.remaining();
    CHECK_MSG(left > milliseconds(0) && left <= milliseconds(1000), left.count() << " ms left");
    // The library counts whole milliseconds: one more and the deadline has surely passed.
    const auto deadline = harness::Clock::now() + left + milliseconds(1);
    WAIT_UNTIL(harness::Clock::now() > deadline, 5000);
    CHECK(late.remaining() == milliseconds(0));
    CHECK_THROWS(late.respond("too late"), hearsay::TimeoutError, hearsay::Result::Timeout);
}

TEST_MAIN()
