// Errors and handles of the C++ binding: bad input throws hearsay::Error
// (the subclass of its result code, with hearsay_last_error()'s text);
// handles are move-only, close() is idempotent, and a closed handle throws
// ClosedError instead of reaching C with NULL.
#include <type_traits>

#include "harness.hpp"

using harness::test_config;
using std::chrono::milliseconds;

static_assert(!std::is_copy_constructible_v<hearsay::Runtime>, "Runtime is move-only");
static_assert(!std::is_copy_constructible_v<hearsay::Config>, "Config is move-only");
static_assert(!std::is_copy_constructible_v<hearsay::Pool>, "Pool is move-only");
static_assert(!std::is_copy_constructible_v<hearsay::Query>, "Query is move-only");
static_assert(std::is_nothrow_move_constructible_v<hearsay::Pool>, "Pool moves without throwing");
static_assert(std::is_base_of_v<std::runtime_error, hearsay::Error>, "Error is a runtime_error");
static_assert(std::is_base_of_v<hearsay::Error, hearsay::AddrInUseError>, "one subclass per code");

TEST(versions) {
    CHECK(hearsay::abi_compatible());
    CHECK_EQ(hearsay::abi_version() >> 16, static_cast<std::uint32_t>(HEARSAY_ABI_VERSION_MAJOR));
    CHECK_EQ(hearsay::version(), std::string(HEARSAY_VERSION));
    CHECK_EQ(std::string(hearsay::result_name(hearsay::Result::AddrInUse)), "HEARSAY_ERR_ADDR_IN_USE");
}

TEST(bad_address) {
    hearsay::Config c(hearsay::Profile::Local);
    CHECK_THROWS(c.bind_addr("not-an-addr"), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
    CHECK_THROWS(c.bind_addr("127.0.0.1"), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
    CHECK_THROWS(c.advertise_addr("300.1.1.1:5"), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
    // The config is unchanged and still usable.
    c.validate();

    hearsay::Runtime rt;
    hearsay::Pool p = rt.pool(test_config("a"));
    CHECK_THROWS(p.join({"not an address"}), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
    CHECK_THROWS(p.join({p.local_addr(), "1.2.3.4"}), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
    // No seeds: nothing to do.
    CHECK_EQ(p.join({}), 0u);

    // What an Error says: the call, the code's name, the last error.
    try {
        c.bind_addr("not-an-addr");
        CHECK_MSG(false, "no exception");
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        CHECK_MSG(what.find("hearsay_config_set_bind_addr") != std::string::npos, what);
        CHECK_MSG(what.find("HEARSAY_ERR_INVALID_ARGUMENT") != std::string::npos, what);
        const auto* he = dynamic_cast<const hearsay::Error*>(&e);
        CHECK(he != nullptr);
        CHECK_EQ(he->call(), "hearsay_config_set_bind_addr");
        CHECK_MSG(what.find(he->message()) != std::string::npos, what);
    }
}

TEST(port_in_use) {
    hearsay::Runtime rt;
    hearsay::Pool a = rt.pool(test_config("a"));
    CHECK_THROWS(rt.pool(test_config("b").bind_addr(a.local_addr())), hearsay::AddrInUseError,
                 hearsay::Result::AddrInUse);
    // Another runtime cannot take it either.
    hearsay::Runtime rt2;
    CHECK_THROWS(hearsay::Pool(rt2, test_config("c").bind_addr(a.local_addr())), hearsay::AddrInUseError,
                 hearsay::Result::AddrInUse);
    // Once the pool is closed, its port is free again.
    const std::string addr = a.local_addr();
    a.close();
    hearsay::Pool b = rt.pool(test_config("b").bind_addr(addr));
    CHECK_EQ(b.local_addr(), addr);
}

TEST(invalid_config) {
    hearsay::Runtime rt;
    // Ranges and relations are checked by validate() and by Pool.
    {
        hearsay::Config c = test_config("a").probe_interval(milliseconds(200)).probe_timeout(milliseconds(300));
        CHECK_THROWS(c.validate(), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
        CHECK_THROWS(rt.pool(c), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
        try {
            c.validate();
        } catch (const hearsay::Error& e) {
            CHECK_MSG(e.message().find("probe") != std::string::npos, e.message());
        }
    }
    CHECK_THROWS(test_config("a").gossip_nodes(0).validate(), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);
    CHECK_THROWS(test_config("a").max_packet_size(100).validate(), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);
    CHECK_THROWS(rt.pool(test_config("a").event_queue_depth(0)), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);
    CHECK_THROWS(rt.pool(test_config("")), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
    // What a setter alone can tell.
    CHECK_THROWS(test_config("a").node_name("\xff\xfe"), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);
    CHECK_THROWS(test_config("a").label(std::string(300, 'l')), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);
    CHECK_THROWS(test_config("a").tag("", "v"), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
    // Durations the binding refuses before calling C.
    CHECK_THROWS(test_config("a").probe_interval(milliseconds(-5)), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);
    CHECK_THROWS(test_config("a").tcp_timeout(milliseconds(std::int64_t{1} << 40)), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);
    // Every knob has a setter; a full chain of valid values makes a pool.
    hearsay::Config full = hearsay::Config::local()
                               .node_name("full")
                               .bind_addr("127.0.0.1:0")
                               .advertise_addr("")
                               .label("cpp-tests")
                               .tag("k", "v")
                               .event_queue_depth(128)
                               .probe_interval(milliseconds(300))
                               .probe_timeout(milliseconds(100))
                               .gossip_interval(milliseconds(40))
                               .gossip_nodes(3)
                               .suspicion_mult(3)
                               .suspicion_max_timeout_mult(4)
                               .retransmit_mult(3)
                               .indirect_checks(2)
                               .push_pull_interval(milliseconds(0))
                               .tcp_timeout(milliseconds(800))
                               .gossip_to_the_dead(milliseconds(5000))
                               .dead_node_reclaim(milliseconds(0))
                               .awareness_max_multiplier(4)
                               .max_packet_size(1400)
                               .max_meta_size(256)
                               .max_stream_size(1 << 20)
                               .max_push_pull_members(1000)
                               .max_user_event_size(600)
                               .max_query_response_size(800)
                               .query_timeout_mult(8)
                               .coalesce_period(milliseconds(100))
                               .quiescent_period(milliseconds(20))
                               .reap_interval(milliseconds(1000))
                               .reconnect_interval(milliseconds(2000))
                               .reconnect_timeout(milliseconds(60000))
                               .tombstone_timeout(milliseconds(60000))
                               .resolve_name_conflicts(true)
                               .local_health(true)
                               .suspicion_confirmations(true)
                               .nacks(false)
                               .tcp_fallback_probe(false);
    full.validate();
    hearsay::Pool p = rt.pool(full);
    CHECK_EQ(p.node_name(), "full");
}

TEST(oversized_event) {
    hearsay::Runtime rt;
    hearsay::Pool p = rt.pool(test_config("a"));
    // max_user_event_size is 512 bytes by default.
    CHECK_THROWS(p.send_event("big", std::vector<std::uint8_t>(1000, 1)), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);
    CHECK_THROWS(p.send_event("", "x"), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
    // Within the limit it goes out and comes back to the sender.
    p.send_event("small", std::vector<std::uint8_t>(400, 2));
    std::optional<hearsay::Event> e;
    WAIT_UNTIL((e = p.next_event(milliseconds(10)), e && e->is_user()), 10000);
    CHECK_EQ(e->name, "small");
    CHECK_EQ(e->payload.size(), 400u);

    // A pool configured for larger events sends them.
    hearsay::Pool q = rt.pool(test_config("b").max_user_event_size(1200));
    q.send_event("bigger", std::vector<std::uint8_t>(1000, 3));
    WAIT_UNTIL((e = q.next_event(milliseconds(10)), e && e->is_user()), 10000);
    CHECK_EQ(e->payload.size(), 1000u);
}

TEST(join_nobody) {
    hearsay::Runtime rt;
    std::string addr;
    {
        hearsay::Pool gone = rt.pool(test_config("gone"));
        addr = gone.local_addr();
    }
    hearsay::Pool p = rt.pool(test_config("a").tcp_timeout(milliseconds(300)));
    CHECK_THROWS(p.join({addr}), hearsay::IoError, hearsay::Result::Io);
    CHECK_THROWS(p.leave(milliseconds(-1)), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
}

TEST(force_leave_errors) {
    hearsay::Runtime rt;
    hearsay::Pool p = rt.pool(test_config("a"));
    CHECK_THROWS(p.force_leave("nobody"), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
    CHECK_THROWS(p.force_leave("a"), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
    CHECK_THROWS(p.set_tag("", "v"), hearsay::InvalidArgumentError, hearsay::Result::InvalidArgument);
    CHECK_THROWS(p.set_tags({{"k", std::string(5000, 'v')}}), hearsay::InvalidArgumentError,
                 hearsay::Result::InvalidArgument);
}

TEST(panic_becomes_panic_error) {
    CHECK_THROWS(hearsay::detail::check(hearsay_test_panic(), "hearsay_test_panic"), hearsay::PanicError,
                 hearsay::Result::Panic);
    // An unknown code (from a newer library) is still an Error.
    bool caught = false;
    try {
        hearsay::detail::throw_error(static_cast<hearsay::Result>(-42), "x", "y");
    } catch (const hearsay::Error& e) {
        caught = true;
        CHECK_EQ(static_cast<int>(e.code()), -42);
        CHECK_MSG(std::string(e.what()).find("HEARSAY_UNKNOWN") != std::string::npos, e.what());
    }
    CHECK(caught);
}

TEST(panic_in_a_pointer_call_gives_null) {
    CHECK(hearsay_test_panic_ptr() == nullptr);
    CHECK_MSG(std::string(hearsay_last_error()).rfind("panic: ", 0) == 0, hearsay_last_error());
}

TEST(handles_move_and_close) {
    hearsay::Runtime rt;
    hearsay::Runtime rt_moved = std::move(rt);
    CHECK(!rt);
    CHECK(rt_moved);
    CHECK_THROWS(rt.pool(test_config("x")), hearsay::ClosedError, hearsay::Result::Closed);

    hearsay::Pool a = rt_moved.pool(test_config("a"));
    const std::string addr = a.local_addr();
    hearsay::Pool b = std::move(a);
    CHECK(!a);
    CHECK(b);
    CHECK_EQ(b.local_addr(), addr);
    CHECK_THROWS(a.members(), hearsay::ClosedError, hearsay::Result::Closed);
    CHECK_THROWS(a.next_event(milliseconds(0)), hearsay::ClosedError, hearsay::Result::Closed);
    CHECK_EQ(a.event_fd(), -1);
    a.close();  // closing a moved-from handle does nothing

    CHECK(b.event_fd() >= 0);
    b.close();
    b.close();  // idempotent
    CHECK_THROWS(b.stats(), hearsay::ClosedError, hearsay::Result::Closed);

    hearsay::Config c = test_config("c");
    hearsay::Config c2 = std::move(c);
    CHECK(!c);
    CHECK_THROWS(c.node_name("z"), hearsay::ClosedError, hearsay::Result::Closed);
    CHECK_THROWS(c.validate(), hearsay::ClosedError, hearsay::Result::Closed);
    CHECK_THROWS(rt_moved.pool(c), hearsay::ClosedError, hearsay::Result::Closed);
    // The config is copied by Pool: closing it afterwards is fine.
    hearsay::Pool p = rt_moved.pool(c2);
    c2.close();
    CHECK_EQ(p.node_name(), "c");

    // Move-assignment closes what the target held.
    hearsay::Pool q = rt_moved.pool(test_config("q"));
    const std::string q_addr = q.local_addr();
    q = rt_moved.pool(test_config("r"));
    CHECK_EQ(q.node_name(), "r");
    hearsay::Pool reuse = rt_moved.pool(test_config("q2").bind_addr(q_addr));  // q's port is free again
    CHECK_EQ(reuse.local_addr(), q_addr);
}

TEST_MAIN()
