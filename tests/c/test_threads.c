/*
 * Four threads call hearsay_pool_members, hearsay_pool_next_event and
 * hearsay_pool_stats on the same pools at the same time for a few seconds
 * while the membership changes underneath (a pool joins, sets tags and
 * leaves). Under ASan this checks memory safety across threads, and that
 * every call keeps answering correctly.
 */
#include <pthread.h>

#include "common.h"

#define POOLS 3
#define THREADS 4
#define RUN_MS 3000

static hearsay_pool *pools[POOLS];
static long long stop_at;

struct counts {
    long members, events, stats;
};

static void *worker(void *arg) {
    struct counts *n = arg;
    int round = 0;
    while (now_ms() < stop_at) {
        hearsay_pool *p = pools[round++ % POOLS];
        hearsay_members *m = NULL;
        CHECK_OK(hearsay_pool_members(p, &m));
        size_t count = hearsay_members_count(m);
        CHECK(count >= 1);
        for (size_t i = 0; i < count; i++) {
            const hearsay_member *member = hearsay_members_get(m, i);
            CHECK(member != NULL);
            CHECK(strncmp(hearsay_member_name(member), "t-", 2) == 0);
            CHECK(strncmp(hearsay_member_addr(member), "127.0.0.1:", 10) == 0);
            hearsay_status s = hearsay_member_status(member);
            CHECK(s >= HEARSAY_STATUS_ALIVE && s <= HEARSAY_STATUS_FAILED);
        }
        CHECK(hearsay_members_get(m, count) == NULL);
        hearsay_members_free(m);
        n->members++;

        hearsay_event *e = NULL;
        hearsay_result r = hearsay_pool_next_event(p, 5, &e);
        CHECK(r == HEARSAY_OK || r == HEARSAY_EMPTY);
        if (r == HEARSAY_OK) {
            hearsay_event_type t = hearsay_event_get_type(e);
            CHECK(t >= HEARSAY_EVENT_MEMBER_JOIN &&
                  t <= HEARSAY_EVENT_MEMBER_UPDATE);
            CHECK(hearsay_event_member(e) != NULL);
            hearsay_event_free(e);
            n->events++;
        }

        hearsay_stats st;
        memset(&st, 0, sizeof st);
        st.size = sizeof st;
        CHECK_OK(hearsay_pool_stats(p, &st));
        CHECK(st.members_alive >= 1);
        n->stats++;

        /* Errors on this thread do not disturb the others' last error. */
        CHECK(hearsay_pool_next_event(p, -5, &e) ==
              HEARSAY_ERR_INVALID_ARGUMENT);
        CHECK(strstr(hearsay_last_error(), "-5") != NULL);
    }
    return NULL;
}

int main(void) {
    hearsay_runtime *rt = NULL;
    CHECK_OK(hearsay_runtime_new(&rt));
    char seed[64];
    for (int i = 0; i < POOLS; i++) {
        char name[32];
        snprintf(name, sizeof name, "t-%d", i);
        hearsay_config *c = fast_config(HEARSAY_PROFILE_LOCAL, name);
        pools[i] = start_pool(rt, c);
        hearsay_config_free(c);
        if (i == 0)
            addr_of(pools[0], seed, sizeof seed);
        else
            join_one(pools[i], seed);
    }

    stop_at = now_ms() + RUN_MS;
    pthread_t threads[THREADS];
    struct counts counts[THREADS];
    memset(counts, 0, sizeof counts);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&threads[i], NULL, worker, &counts[i]) == 0);

    /* Meanwhile: a fourth pool comes, changes its tags, and leaves. */
    hearsay_runtime *rt2 = NULL;
    CHECK_OK(hearsay_runtime_new(&rt2));
    hearsay_config *c = fast_config(HEARSAY_PROFILE_LOCAL, "t-extra");
    hearsay_pool *extra = start_pool(rt2, c);
    hearsay_config_free(c);
    join_one(extra, seed);
    for (int i = 0; i < 20 && now_ms() < stop_at - 1000; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        CHECK_OK(hearsay_pool_set_tag(extra, "round", v));
        CHECK_OK(hearsay_pool_set_tag(pools[i % POOLS], "round", v));
    }
    hearsay_result r = hearsay_pool_leave(extra, 2000);
    CHECK(r == HEARSAY_OK || r == HEARSAY_ERR_TIMEOUT);
    hearsay_pool_free(extra);
    hearsay_runtime_free(rt2);

    long total_members = 0, total_events = 0, total_stats = 0;
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        total_members += counts[i].members;
        total_events += counts[i].events;
        total_stats += counts[i].stats;
    }
    printf("%ld snapshots, %ld events, %ld stats from %d threads\n",
           total_members, total_events, total_stats, THREADS);
    CHECK(total_members > THREADS && total_stats > THREADS);
    CHECK(total_events > 0);

    for (int i = 0; i < POOLS; i++)
        hearsay_pool_free(pools[i]);
    hearsay_runtime_free(rt);
    printf("test_threads: ok\n");
    return 0;
}
