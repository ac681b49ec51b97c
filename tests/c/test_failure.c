/*
 * Failure and leave: a pool freed without leaving is reported
 * HEARSAY_EVENT_MEMBER_FAILED by every other pool and its status becomes
 * HEARSAY_STATUS_FAILED; a pool that leaves is reported
 * HEARSAY_EVENT_MEMBER_LEAVE and its status becomes HEARSAY_STATUS_LEFT.
 */
#include "common.h"

#define N 5

static hearsay_pool *pools[N];

static int everyone_sees(int upto, size_t alive) {
    for (int i = 0; i < upto; i++)
        if (count_status(pools[i], HEARSAY_STATUS_ALIVE) != alive)
            return 0;
    return 1;
}

int main(void) {
    hearsay_runtime *rt[2] = {NULL, NULL};
    CHECK_OK(hearsay_runtime_new(&rt[0]));
    CHECK_OK(hearsay_runtime_new(&rt[1]));
    char seed[64];
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "node-%d", i);
        hearsay_config *c = fast_config(HEARSAY_PROFILE_LOCAL, name);
        pools[i] = start_pool(rt[i % 2], c);
        hearsay_config_free(c);
        if (i == 0)
            addr_of(pools[0], seed, sizeof seed);
        else
            join_one(pools[i], seed);
    }
    CHECK(WAIT_UNTIL(everyone_sees(N, N), 15000));

    /* node-4 stops without leaving. */
    hearsay_pool_free(pools[4]);
    pools[4] = NULL;
    long long t0 = now_ms();
    for (int i = 0; i < 4; i++)
        CHECK(await_event(pools[i], HEARSAY_EVENT_MEMBER_FAILED, "node-4", 20000));
    for (int i = 0; i < 4; i++)
        CHECK(WAIT_UNTIL(status_of(pools[i], "node-4") == HEARSAY_STATUS_FAILED, 5000));
    printf("failure reported everywhere after %lld ms\n", now_ms() - t0);

    /* node-3 leaves gracefully. */
    CHECK_OK(hearsay_pool_leave(pools[3], 5000));
    for (int i = 0; i < 3; i++)
        CHECK(await_event(pools[i], HEARSAY_EVENT_MEMBER_LEAVE, "node-3", 10000));
    for (int i = 0; i < 3; i++)
        CHECK(WAIT_UNTIL(status_of(pools[i], "node-3") == HEARSAY_STATUS_LEFT, 5000));
    /* Leaving is not failing. */
    for (int i = 0; i < 3; i++)
        CHECK(status_of(pools[i], "node-3") == HEARSAY_STATUS_LEFT);
    hearsay_pool_free(pools[3]);

    for (int i = 0; i < 3; i++) {
        hearsay_stats st;
        memset(&st, 0, sizeof st);
        st.size = sizeof st;
        CHECK_OK(hearsay_pool_stats(pools[i], &st));
        CHECK(st.members_alive == 3);
        CHECK(st.members_failed == 1);
        CHECK(st.members_left == 1);
    }

    /* Freeing a runtime stops its pools: their handles answer CLOSED. */
    hearsay_runtime_free(rt[1]);
    hearsay_members *m = (hearsay_members *)0x1;
    CHECK_RESULT(hearsay_pool_members(pools[1], &m), HEARSAY_ERR_CLOSED);
    CHECK(m == (hearsay_members *)0x1);
    hearsay_event *e = NULL;
    hearsay_result r;
    while ((r = hearsay_pool_next_event(pools[1], 0, &e)) == HEARSAY_OK)
        hearsay_event_free(e);
    CHECK_RESULT(r, HEARSAY_ERR_CLOSED);
    CHECK_RESULT(hearsay_pool_leave(pools[1], 100), HEARSAY_ERR_CLOSED);

    for (int i = 0; i < 3; i++)
        hearsay_pool_free(pools[i]);
    hearsay_runtime_free(rt[0]);
    printf("test_failure: ok\n");
    return 0;
}
