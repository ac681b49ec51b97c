/*
 * Network coordinates through the C ABI, on three pools on loopback:
 * coordinates ride on probe acks, so after a few probes every pool knows a
 * coordinate for every other; estimated round trips on loopback are small;
 * members_near puts the local node first; bad arguments get their codes.
 */
#include "common.h"

#define N 3

int main(void) {
    hearsay_runtime *rt = NULL;
    CHECK_OK(hearsay_runtime_new(&rt));
    hearsay_pool *pools[N];
    char names[N][16];
    char seed[64];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "coord-%d", i);
        hearsay_config *c = fast_config(HEARSAY_PROFILE_LOCAL, names[i]);
        pools[i] = start_pool(rt, c);
        hearsay_config_free(c);
        if (i == 0)
            addr_of(pools[0], seed, sizeof seed);
        else
            join_one(pools[i], seed);
    }

    /* The local coordinate exists from the start. */
    hearsay_coordinate local;
    CHECK_OK(hearsay_pool_coordinate(pools[0], NULL, &local));
    CHECK(local.dimensions == 8);
    CHECK(local.error > 0.0);

    /* Every pool learns every other's coordinate from probe acks. */
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            hearsay_coordinate c;
            CHECK(WAIT_UNTIL(hearsay_pool_coordinate(pools[i], names[j], &c) == HEARSAY_OK, 10000));
            uint64_t rtt_us = 0;
            CHECK(WAIT_UNTIL(hearsay_pool_estimated_rtt(pools[i], names[j], NULL, &rtt_us) == HEARSAY_OK, 10000));
            /* Loopback: well under 50 ms, whatever the machine's load. */
            CHECK(rtt_us < 50000);
        }
    }

    /* Nearest first: the local node itself (distance 0). */
    hearsay_members *near = NULL;
    CHECK_OK(hearsay_pool_members_near(pools[1], NULL, &near));
    CHECK(hearsay_members_count(near) == N);
    CHECK(strcmp(hearsay_member_name(hearsay_members_get(near, 0)), names[1]) == 0);
    hearsay_members_free(near);
    CHECK_OK(hearsay_pool_members_near(pools[1], names[2], &near));
    CHECK(strcmp(hearsay_member_name(hearsay_members_get(near, 0)), names[2]) == 0);
    hearsay_members_free(near);

    /* Bad arguments. */
    hearsay_coordinate untouched;
    memset(&untouched, 0x5a, sizeof untouched);
    CHECK_RESULT(hearsay_pool_coordinate(NULL, NULL, &untouched), HEARSAY_ERR_NULL_PARAMETER);
    CHECK_RESULT(hearsay_pool_coordinate(pools[0], NULL, NULL), HEARSAY_ERR_NULL_PARAMETER);
    CHECK_RESULT(hearsay_pool_coordinate(pools[0], "\xff\xfe", &untouched), HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK_RESULT(hearsay_pool_coordinate(pools[0], "nobody", &untouched), HEARSAY_EMPTY);
    CHECK(untouched.dimensions == 0x5a5a5a5a);
    uint64_t rtt = 7;
    CHECK_RESULT(hearsay_pool_estimated_rtt(pools[0], NULL, NULL, &rtt), HEARSAY_ERR_NULL_PARAMETER);
    CHECK_RESULT(hearsay_pool_estimated_rtt(pools[0], "nobody", NULL, &rtt), HEARSAY_EMPTY);
    CHECK(rtt == 7);
    hearsay_members *none = (hearsay_members *)0x1;
    CHECK_RESULT(hearsay_pool_members_near(pools[0], "nobody", &none), HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK(none == (hearsay_members *)0x1);
    CHECK_RESULT(hearsay_pool_members_near(pools[0], NULL, NULL), HEARSAY_ERR_NULL_PARAMETER);

    /* The settings added with coordinates and snapshots. */
    CHECK_RESULT(hearsay_config_set_coordinates(NULL, false), HEARSAY_ERR_NULL_PARAMETER);
    CHECK_RESULT(hearsay_config_set_snapshot_path(NULL, ""), HEARSAY_ERR_NULL_PARAMETER);
    hearsay_config *c = fast_config(HEARSAY_PROFILE_LOCAL, "settings");
    CHECK_RESULT(hearsay_config_set_snapshot_path(c, NULL), HEARSAY_ERR_NULL_PARAMETER);
    CHECK_OK(hearsay_config_set_max_broadcast_queue(c, 1));
    CHECK_RESULT(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(hearsay_last_error(), "max_broadcast_queue") != NULL);
    CHECK_OK(hearsay_config_set_max_broadcast_queue(c, 64));
    CHECK_OK(hearsay_config_set_snapshot_path(c, "/nonexistent-dir/hearsay.snapshot"));
    hearsay_pool *bad = NULL;
    CHECK_RESULT(hearsay_pool_new(rt, c, &bad), HEARSAY_ERR_IO);
    CHECK(bad == NULL);
    CHECK_OK(hearsay_config_set_snapshot_path(c, ""));
    CHECK_OK(hearsay_config_set_coordinates(c, false));
    hearsay_pool *plain = start_pool(rt, c);
    CHECK_RESULT(hearsay_pool_coordinate(plain, NULL, &untouched), HEARSAY_EMPTY);
    hearsay_pool_free(plain);
    hearsay_config_free(c);

    for (int i = 0; i < N; i++)
        hearsay_pool_free(pools[i]);
    hearsay_runtime_free(rt);
    printf("test_coordinates: ok\n");
    return 0;
}
