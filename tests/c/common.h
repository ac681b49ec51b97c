/*
 * Helpers shared by the C tests of the hearsay ABI: checks that stop the
 * test with the last error, a monotonic clock for deadlines, and pools with
 * the LOCAL profile and short timings so that each scenario takes seconds.
 *
 * Waiting is always "poll until a deadline", never a fixed sleep.
 */
#ifndef HEARSAY_TEST_COMMON_H
#define HEARSAY_TEST_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearsay.h"

#define FAIL(...)                                                              \
    do {                                                                       \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                        \
        fprintf(stderr, __VA_ARGS__);                                          \
        fprintf(stderr, "\n");                                                 \
        exit(1);                                                               \
    } while (0)

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            FAIL("CHECK failed: %s (last error: '%s')", #cond,                 \
                 hearsay_last_error());                                        \
    } while (0)

#define CHECK_OK(call)                                                         \
    do {                                                                       \
        hearsay_result r_ = (call);                                            \
        if (r_ != HEARSAY_OK)                                                  \
            FAIL("%s returned %s: %s", #call, hearsay_result_name(r_),         \
                 hearsay_last_error());                                        \
    } while (0)

/* The call returns `expected`; for an error, with a non-empty last error. */
#define CHECK_RESULT(call, expected)                                           \
    do {                                                                       \
        hearsay_result r_ = (call);                                            \
        if (r_ != (expected))                                                  \
            FAIL("%s returned %s, expected %s (last error: '%s')", #call,      \
                 hearsay_result_name(r_), hearsay_result_name(expected),       \
                 hearsay_last_error());                                        \
        if ((expected) < 0 && hearsay_last_error()[0] == '\0')                 \
            FAIL("%s returned %s with an empty last error", #call,             \
                 hearsay_result_name(r_));                                     \
    } while (0)

static inline long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A short pause between two polls of a condition (never used to wait for
 * the condition itself: every wait is a loop with a deadline). */
static inline void poll_pause(void) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Polls `cond` until it holds or `timeout_ms` passes; evaluates to whether
 * it held. */
#define WAIT_UNTIL(cond, timeout_ms)                                           \
    ({                                                                         \
        long long deadline_ = now_ms() + (timeout_ms);                         \
        int held_ = 0;                                                         \
        for (;;) {                                                             \
            if (cond) {                                                        \
                held_ = 1;                                                     \
                break;                                                         \
            }                                                                  \
            if (now_ms() >= deadline_)                                         \
                break;                                                         \
            poll_pause();                                                      \
        }                                                                      \
        held_;                                                                 \
    })

/* LOCAL profile with timings short enough that failure detection and
 * convergence take about a second on loopback. */
static inline hearsay_config *fast_config(hearsay_profile profile,
                                          const char *name) {
    hearsay_config *c = NULL;
    CHECK_OK(hearsay_config_new(profile, &c));
    CHECK_OK(hearsay_config_set_node_name(c, name));
    CHECK_OK(hearsay_config_set_bind_addr(c, "127.0.0.1:0"));
    CHECK_OK(hearsay_config_set_probe_interval_ms(c, 200));
    CHECK_OK(hearsay_config_set_probe_timeout_ms(c, 100));
    CHECK_OK(hearsay_config_set_gossip_interval_ms(c, 50));
    CHECK_OK(hearsay_config_set_suspicion_mult(c, 2));
    CHECK_OK(hearsay_config_set_suspicion_max_timeout_mult(c, 2));
    CHECK_OK(hearsay_config_set_push_pull_interval_ms(c, 1000));
    CHECK_OK(hearsay_config_set_tcp_timeout_ms(c, 500));
    CHECK_OK(hearsay_config_set_gossip_to_the_dead_ms(c, 30000));
    /* The local profile sends each broadcast twice in small pools, which
     * can miss a member until the next push-pull. */
    CHECK_OK(hearsay_config_set_retransmit_mult(c, 4));
    CHECK_OK(hearsay_config_validate(c));
    return c;
}

static inline hearsay_pool *start_pool(hearsay_runtime *rt,
                                       const hearsay_config *c) {
    hearsay_pool *p = NULL;
    CHECK_OK(hearsay_pool_new(rt, c, &p));
    CHECK(p != NULL);
    return p;
}

static inline void addr_of(const hearsay_pool *p, char *buf, size_t cap) {
    CHECK_OK(hearsay_pool_local_addr(p, buf, cap));
}

/* Joins `p` through `seed`; at least one seed must answer. */
static inline void join_one(hearsay_pool *p, const char *seed) {
    size_t joined = 0;
    const char *seeds[1] = {seed};
    CHECK_OK(hearsay_pool_join(p, seeds, 1, &joined));
    CHECK(joined == 1);
}

static inline const hearsay_member *find_member(const hearsay_members *m,
                                                const char *name) {
    size_t n = hearsay_members_count(m);
    for (size_t i = 0; i < n; i++) {
        const hearsay_member *member = hearsay_members_get(m, i);
        CHECK(member != NULL);
        if (strcmp(hearsay_member_name(member), name) == 0)
            return member;
    }
    return NULL;
}

/* The status `p` reports for `name`, or HEARSAY_STATUS_NONE if absent. */
static inline hearsay_status status_of(const hearsay_pool *p,
                                       const char *name) {
    hearsay_members *m = NULL;
    CHECK_OK(hearsay_pool_members(p, &m));
    const hearsay_member *member = find_member(m, name);
    hearsay_status s = member ? hearsay_member_status(member)
                              : HEARSAY_STATUS_NONE;
    hearsay_members_free(m);
    return s;
}

/* How many members `p` reports with status `status`. */
static inline size_t count_status(const hearsay_pool *p,
                                  hearsay_status status) {
    hearsay_members *m = NULL;
    CHECK_OK(hearsay_pool_members(p, &m));
    size_t count = 0;
    for (size_t i = 0; i < hearsay_members_count(m); i++)
        if (hearsay_member_status(hearsay_members_get(m, i)) == status)
            count++;
    hearsay_members_free(m);
    return count;
}

/* Takes events from `p` until one of `type` about `name` arrives (1) or
 * `timeout_ms` passes (0). Other events are freed. */
static inline int await_event(hearsay_pool *p, hearsay_event_type type,
                              const char *name, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return 0;
        hearsay_event *e = NULL;
        hearsay_result r = hearsay_pool_next_event(p, (int32_t)left, &e);
        if (r == HEARSAY_EMPTY)
            return 0;
        CHECK_OK(r);
        const hearsay_member *m = hearsay_event_member(e);
        int match = hearsay_event_get_type(e) == type && m != NULL &&
                    strcmp(hearsay_member_name(m), name) == 0;
        hearsay_event_free(e);
        if (match)
            return 1;
    }
}

#endif /* HEARSAY_TEST_COMMON_H */
