/*
 * Six pools on two runtimes join one seed on 127.0.0.1: each sees six alive
 * members with their tags and addresses; the event descriptor is readable
 * exactly while events wait; a tag changed at run time reaches everyone;
 * stats count the traffic.
 */
#include "common.h"

#define N 6

static hearsay_pool *pools[N];
static char names[N][32];
static char addrs[N][64];

/* Every pool lists N alive members, each with the right address and tags. */
static int all_converged(void) {
    for (int i = 0; i < N; i++) {
        hearsay_members *m = NULL;
        CHECK_OK(hearsay_pool_members(pools[i], &m));
        int ok = hearsay_members_count(m) == N;
        for (int j = 0; ok && j < N; j++) {
            const hearsay_member *member = find_member(m, names[j]);
            char rack[32];
            snprintf(rack, sizeof rack, "r%d", j % 2);
            ok = member != NULL &&
                 hearsay_member_status(member) == HEARSAY_STATUS_ALIVE &&
                 strcmp(hearsay_member_addr(member), addrs[j]) == 0 &&
                 hearsay_member_tag(member, "rack") != NULL &&
                 strcmp(hearsay_member_tag(member, "rack"), rack) == 0 &&
                 hearsay_member_tag(member, "role") != NULL &&
                 strcmp(hearsay_member_tag(member, "role"), "test") == 0 &&
                 hearsay_member_tag(member, "absent") == NULL &&
                 hearsay_member_tags_count(member) == 2;
        }
        hearsay_members_free(m);
        if (!ok)
            return 0;
    }
    return 1;
}

static int readable(int fd) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
    int n = poll(&pfd, 1, 0);
    CHECK(n >= 0);
    return n == 1 && (pfd.revents & POLLIN);
}

/* Waits with poll() on the descriptor until it becomes readable. */
static int fd_becomes_readable(int fd, int timeout_ms) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return 0;
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        CHECK(n >= 0);
        if (n == 1)
            return (pfd.revents & POLLIN) != 0;
    }
}

static void drain(hearsay_pool *p) {
    hearsay_event *e = NULL;
    while (hearsay_pool_next_event(p, 0, &e) == HEARSAY_OK)
        hearsay_event_free(e);
}

static int tag_seen_everywhere(const char *name, const char *key,
                               const char *value) {
    for (int i = 0; i < N; i++) {
        hearsay_members *m = NULL;
        CHECK_OK(hearsay_pool_members(pools[i], &m));
        const hearsay_member *member = find_member(m, name);
        const char *v = member ? hearsay_member_tag(member, key) : NULL;
        int ok = v != NULL && strcmp(v, value) == 0;
        hearsay_members_free(m);
        if (!ok)
            return 0;
    }
    return 1;
}

int main(void) {
    CHECK(hearsay_abi_version() == HEARSAY_ABI_VERSION);
    CHECK(strcmp(hearsay_version(), HEARSAY_VERSION) == 0);

    hearsay_runtime *rt[2] = {NULL, NULL};
    CHECK_OK(hearsay_runtime_new(&rt[0]));
    CHECK_OK(hearsay_runtime_new(&rt[1]));

    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "node-%d", i);
        hearsay_config *c = fast_config(HEARSAY_PROFILE_LOCAL, names[i]);
        char rack[32];
        snprintf(rack, sizeof rack, "r%d", i % 2);
        CHECK_OK(hearsay_config_set_tag(c, "rack", rack));
        CHECK_OK(hearsay_config_set_tag(c, "role", "test"));
        pools[i] = start_pool(rt[i % 2], c);
        hearsay_config_free(c);
        addr_of(pools[i], addrs[i], sizeof addrs[i]);
        CHECK(strncmp(addrs[i], "127.0.0.1:", 10) == 0);
        CHECK(strcmp(addrs[i], "127.0.0.1:0") != 0);
        CHECK(strcmp(hearsay_pool_node_name(pools[i]), names[i]) == 0);
    }

    /* Alone at first: no event, descriptor not readable. */
    int fd0 = hearsay_pool_event_fd(pools[0]);
    CHECK(fd0 >= 0);
    CHECK(!readable(fd0));
    hearsay_event *e = (hearsay_event *)0x1;
    CHECK_RESULT(hearsay_pool_next_event(pools[0], 0, &e), HEARSAY_EMPTY);
    CHECK(e == (hearsay_event *)0x1); /* untouched when empty */

    for (int i = 1; i < N; i++)
        join_one(pools[i], addrs[0]);

    /* The seed learns of the others: its descriptor becomes readable. */
    CHECK(fd_becomes_readable(fd0, 5000));
    e = NULL;
    CHECK_OK(hearsay_pool_next_event(pools[0], 0, &e));
    CHECK(e != NULL);
    CHECK(hearsay_event_get_type(e) == HEARSAY_EVENT_MEMBER_JOIN);
    const hearsay_member *joined = hearsay_event_member(e);
    CHECK(joined != NULL);
    CHECK(strncmp(hearsay_member_name(joined), "node-", 5) == 0);
    CHECK(hearsay_member_status(joined) == HEARSAY_STATUS_ALIVE);
    CHECK(hearsay_event_name(e) == NULL);
    size_t len = 99;
    CHECK(hearsay_event_payload(e, &len) == NULL);
    CHECK(len == 0);
    hearsay_event_free(e);

    CHECK(WAIT_UNTIL(all_converged(), 15000));

    /* Every join was reported to the seed; once drained, the descriptor is
     * not readable any more. */
    drain(pools[0]);
    CHECK(!readable(fd0));

    /* A tag changed at run time reaches every pool, with an update event. */
    drain(pools[3]);
    CHECK_OK(hearsay_pool_set_tag(pools[5], "rack", "r9"));
    CHECK(await_event(pools[3], HEARSAY_EVENT_MEMBER_UPDATE, "node-5", 10000));
    CHECK(WAIT_UNTIL(tag_seen_everywhere("node-5", "rack", "r9"), 10000));
    const char *keys[2] = {"zone", "role"};
    const char *values[2] = {"z1", "test"};
    CHECK_OK(hearsay_pool_set_tags(pools[4], keys, values, 2));
    CHECK(WAIT_UNTIL(tag_seen_everywhere("node-4", "zone", "z1"), 10000));
    CHECK_OK(hearsay_pool_remove_tag(pools[4], "zone"));
    CHECK(WAIT_UNTIL(!tag_seen_everywhere("node-4", "zone", "z1"), 10000));

    /* Tags listed by index, in key order. */
    hearsay_members *m = NULL;
    CHECK_OK(hearsay_pool_members(pools[1], &m));
    const hearsay_member *m5 = find_member(m, "node-5");
    CHECK(m5 != NULL);
    CHECK(hearsay_member_tags_count(m5) == 2);
    CHECK(strcmp(hearsay_member_tag_key(m5, 0), "rack") == 0);
    CHECK(strcmp(hearsay_member_tag_value(m5, 0), "r9") == 0);
    CHECK(strcmp(hearsay_member_tag_key(m5, 1), "role") == 0);
    CHECK(hearsay_member_incarnation(m5) >= 1);
    hearsay_members_free(m);

    /* Stats: traffic flowed, six alive, nothing dropped. */
    hearsay_stats st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    CHECK_OK(hearsay_pool_stats(pools[2], &st));
    CHECK(st.size == sizeof st);
    CHECK(st.packets_in > 0 && st.packets_out > 0);
    CHECK(st.bytes_in > 0 && st.bytes_out > 0);
    CHECK(st.members_alive == N);
    CHECK(st.members_failed == 0);
    CHECK(st.dropped_malformed == 0);
    CHECK(hearsay_pool_events_dropped(pools[2]) == st.events_dropped);

    for (int i = 0; i < N; i++)
        hearsay_pool_free(pools[i]);
    hearsay_runtime_free(rt[0]);
    hearsay_runtime_free(rt[1]);
    printf("test_membership: ok\n");
    return 0;
}
