/*
 * The Serf layer through the C ABI, on four pools on loopback:
 * - a user event sent from each pool is delivered exactly once by every
 *   pool, the sender included; an event sent before the others joined
 *   reaches them with the seed's state, but a pool that joins later with
 *   hearsay_pool_join_ignore_old(..., true, ...) gets none of the earlier
 *   events; coalesced events deliver the latest once; an oversized event is
 *   refused;
 * - a query asking for acks gets one ack and one response (each sent with
 *   hearsay_pool_respond) from every member, and then ends; node-name and
 *   tag-regex filters restrict who receives and responds; a response after
 *   the deadline is refused with HEARSAY_ERR_TIMEOUT; two threads reading
 *   one query share its replies;
 * - a tag changed at run time reaches the others as MEMBER_UPDATE with the
 *   new value;
 * - force-leave of a pool freed without leaving turns it FAILED then LEFT
 *   everywhere; with prune, MEMBER_REAP and gone from the member lists.
 *
 * One thread pulls every pool's events (waiting with poll() on their
 * descriptors) and answers queries; every wait is bounded by a deadline.
 */
#include <pthread.h>

#include "common.h"

#define N 4    /* pools running at once */
#define MAXP 5 /* serf-0 .. serf-4 (serf-4 joins after serf-3 is gone) */
#define MAXQ 16
#define MAXLOG 32

typedef struct {
    hearsay_pool *p; /* NULL once freed */
    int user[MAXP];  /* deliveries of "ev-j" */
    int early;       /* deliveries of "early" */
    int burst[4];    /* deliveries of "burst" with payload "b1" .. "b3" */
    hearsay_event *queries[MAXQ]; /* queries received, not answered yet */
    int n_queries;
    /* Member events about serf-j, in order of arrival. */
    hearsay_event_type log[MAXP][MAXLOG];
    int n_log[MAXP];
    /* The "color" tag of serf-j in the latest MEMBER_UPDATE about it. */
    char color[MAXP][16];
} node_t;

static node_t nodes[MAXP];
static hearsay_runtime *rt[2];

/* How many times each pool received each query name. */
static struct {
    char name[16];
    int count[MAXP];
} seen_queries[MAXQ];

static int member_index(const char *name) {
    CHECK(name != NULL && strncmp(name, "serf-", 5) == 0);
    int j = atoi(name + 5);
    CHECK(j >= 0 && j < MAXP);
    return j;
}

static void count_query(int i, const char *name) {
    for (int k = 0; k < MAXQ; k++) {
        if (seen_queries[k].name[0] == '\0')
            snprintf(seen_queries[k].name, sizeof seen_queries[k].name, "%s", name);
        if (strcmp(seen_queries[k].name, name) == 0) {
            seen_queries[k].count[i]++;
            return;
        }
    }
    FAIL("too many query names");
}

static int queries_received(int i, const char *name) {
    for (int k = 0; k < MAXQ; k++)
        if (strcmp(seen_queries[k].name, name) == 0)
            return seen_queries[k].count[i];
    return 0;
}

static int payload_is(const uint8_t *data, size_t len, const char *text) {
    return len == strlen(text) && (len == 0 || memcmp(data, text, len) == 0);
}

/* Takes one event of pool i into its record. */
static void dispatch(int i, hearsay_event *e) {
    node_t *n = &nodes[i];
    hearsay_event_type t = hearsay_event_get_type(e);
    size_t len = 0;
    const uint8_t *data = hearsay_event_payload(e, &len);
    switch (t) {
    case HEARSAY_EVENT_USER: {
        const char *name = hearsay_event_name(e);
        CHECK(name != NULL);
        CHECK(hearsay_event_member(e) == NULL);
        if (strncmp(name, "ev-", 3) == 0) {
            int j = atoi(name + 3);
            CHECK(j >= 0 && j < MAXP);
            char want[32];
            snprintf(want, sizeof want, "payload-%d", j);
            CHECK(payload_is(data, len, want));
            n->user[j]++;
        } else if (strcmp(name, "early") == 0) {
            CHECK(payload_is(data, len, "before the joins"));
            n->early++;
        } else if (strcmp(name, "burst") == 0) {
            CHECK(len == 2 && data[0] == 'b' && data[1] >= '1' && data[1] <= '3');
            n->burst[data[1] - '0']++;
        } else {
            FAIL("serf-%d: unexpected user event '%s'", i, name);
        }
        hearsay_event_free(e);
        return;
    }
    case HEARSAY_EVENT_QUERY:
        CHECK(hearsay_event_name(e) != NULL);
        CHECK(hearsay_event_member(e) == NULL);
        count_query(i, hearsay_event_name(e));
        CHECK(n->n_queries < MAXQ);
        n->queries[n->n_queries++] = e; /* answered (and freed) later */
        return;
    case HEARSAY_EVENT_MEMBER_JOIN:
    case HEARSAY_EVENT_MEMBER_LEAVE:
    case HEARSAY_EVENT_MEMBER_FAILED:
    case HEARSAY_EVENT_MEMBER_UPDATE:
    case HEARSAY_EVENT_MEMBER_REAP: {
        const hearsay_member *m = hearsay_event_member(e);
        CHECK(m != NULL);
        CHECK(data == NULL && len == 0);
        int j = member_index(hearsay_member_name(m));
        if (n->n_log[j] < MAXLOG)
            n->log[j][n->n_log[j]++] = t;
        if (t == HEARSAY_EVENT_MEMBER_UPDATE) {
            const char *color = hearsay_member_tag(m, "color");
            snprintf(n->color[j], sizeof n->color[j], "%s", color ? color : "");
        }
        hearsay_event_free(e);
        return;
    }
    default:
        FAIL("serf-%d: unexpected event type %d", i, (int)t);
    }
}

/* Takes every event waiting in every running pool. */
static void pump_all(void) {
    for (int i = 0; i < MAXP; i++) {
        if (!nodes[i].p)
            continue;
        hearsay_event *e = NULL;
        hearsay_result r;
        while ((r = hearsay_pool_next_event(nodes[i].p, 0, &e)) == HEARSAY_OK)
            dispatch(i, e);
        CHECK_RESULT(r, HEARSAY_EMPTY);
    }
}

/* Waits up to `ms` until some running pool has an event waiting. */
static void wait_for_events(int ms) {
    struct pollfd fds[MAXP];
    int n = 0;
    for (int i = 0; i < MAXP; i++) {
        if (!nodes[i].p)
            continue;
        fds[n].fd = hearsay_pool_event_fd(nodes[i].p);
        CHECK(fds[n].fd >= 0);
        fds[n].events = POLLIN;
        fds[n].revents = 0;
        n++;
    }
    int r = poll(fds, (nfds_t)n, ms);
    CHECK(r >= 0 || errno == EINTR);
}

/* Pumps every pool's events until `cond` holds or `timeout_ms` passes;
 * evaluates to whether it held. */
#define PUMP_UNTIL(cond, timeout_ms)                                           \
    ({                                                                         \
        long long deadline_ = now_ms() + (timeout_ms);                         \
        int held_ = 0;                                                         \
        for (;;) {                                                             \
            pump_all();                                                        \
            if (cond) {                                                        \
                held_ = 1;                                                     \
                break;                                                         \
            }                                                                  \
            long long left_ = deadline_ - now_ms();                            \
            if (left_ <= 0)                                                    \
                break;                                                         \
            wait_for_events(left_ < 50 ? (int)left_ : 50);                     \
        }                                                                      \
        held_;                                                                 \
    })

/* Answers every query pool i holds with "<query payload>@serf-i". */
static void answer_queries(int i) {
    node_t *n = &nodes[i];
    for (int k = 0; k < n->n_queries; k++) {
        hearsay_event *e = n->queries[k];
        size_t len = 0;
        const uint8_t *data = hearsay_event_payload(e, &len);
        char answer[64];
        int w = snprintf(answer, sizeof answer, "%.*s@serf-%d", (int)len,
                         (const char *)data, i);
        CHECK(w > 0 && (size_t)w < sizeof answer);
        CHECK_OK(hearsay_pool_respond(n->p, e, (const uint8_t *)answer,
                                      (size_t)w));
        hearsay_event_free(e);
    }
    n->n_queries = 0;
}

static void answer_all(void) {
    for (int i = 0; i < MAXP; i++)
        if (nodes[i].p)
            answer_queries(i);
}

static hearsay_status status_in(int i, int j) {
    char name[16];
    snprintf(name, sizeof name, "serf-%d", j);
    return status_of(nodes[i].p, name);
}

/* Every running pool other than serf-j reports serf-j with `status`. */
static int everyone_reports(int j, hearsay_status status) {
    for (int i = 0; i < MAXP; i++)
        if (nodes[i].p && i != j && status_in(i, j) != status)
            return 0;
    return 1;
}

static int all_alive(void) {
    size_t running = 0;
    for (int i = 0; i < MAXP; i++)
        running += nodes[i].p != NULL;
    for (int i = 0; i < MAXP; i++)
        if (nodes[i].p && count_status(nodes[i].p, HEARSAY_STATUS_ALIVE) != running)
            return 0;
    return 1;
}

/* The position of the first event `t` about serf-j in pool i's log, or -1. */
static int logged_at(int i, int j, hearsay_event_type t) {
    for (int k = 0; k < nodes[i].n_log[j]; k++)
        if (nodes[i].log[j][k] == t)
            return k;
    return -1;
}

static hearsay_config *serf_config(const char *name, const char *role) {
    hearsay_config *c = fast_config(HEARSAY_PROFILE_LOCAL, name);
    /* fast_config sends each broadcast four times: queries spread by
     * gossip only (no state exchange repairs a miss), and with LOCAL's two
     * a member of four would miss one now and then. */
    CHECK_OK(hearsay_config_set_tag(c, "role", role));
    CHECK_OK(hearsay_config_set_tag(c, "color", "red"));
    CHECK_OK(hearsay_config_set_reap_interval_ms(c, 500));
    CHECK_OK(hearsay_config_set_reconnect_interval_ms(c, 60000));
    CHECK_OK(hearsay_config_set_reconnect_timeout_ms(c, 60000));
    CHECK_OK(hearsay_config_set_tombstone_timeout_ms(c, 60000));
    CHECK_OK(hearsay_config_set_max_user_event_size(c, 256));
    CHECK_OK(hearsay_config_set_max_query_response_size(c, 128));
    /* Default query timeout: 50 ms gossip x 30 x ceil(log10(n + 1)). */
    CHECK_OK(hearsay_config_set_query_timeout_mult(c, 30));
    CHECK_OK(hearsay_config_set_resolve_name_conflicts(c, true));
    /* Coalescing needs a quiescent period: validate names it. */
    CHECK_OK(hearsay_config_set_coalesce_period_ms(c, 400));
    CHECK_OK(hearsay_config_set_quiescent_period_ms(c, 0));
    CHECK_RESULT(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(hearsay_last_error(), "quiescent_period") != NULL);
    CHECK_OK(hearsay_config_set_quiescent_period_ms(c, 150));
    CHECK_OK(hearsay_config_validate(c));
    return c;
}

static void start(int i, const char *role) {
    char name[16];
    snprintf(name, sizeof name, "serf-%d", i);
    hearsay_config *c = serf_config(name, role);
    nodes[i].p = start_pool(rt[i % 2], c);
    hearsay_config_free(c);
}

/* ---- user events ---------------------------------------------------- */

static int every_event_delivered(void) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (nodes[i].user[j] < 1)
                return 0;
    return 1;
}

static int burst_delivered(void) {
    for (int i = 0; i < N; i++)
        if (nodes[i].burst[3] < 1)
            return 0;
    return 1;
}

static void user_events(void) {
    long long t0 = now_ms();
    for (int i = 0; i < N; i++) {
        char name[16], payload[32];
        snprintf(name, sizeof name, "ev-%d", i);
        int len = snprintf(payload, sizeof payload, "payload-%d", i);
        CHECK_OK(hearsay_pool_send_event(nodes[i].p, name,
                                         (const uint8_t *)payload,
                                         (size_t)len, false));
    }
    CHECK(PUMP_UNTIL(every_event_delivered(), 10000));
    printf("user events delivered everywhere after %lld ms\n", now_ms() - t0);

    /* Three coalesced events of one name: each pool delivers the latest,
     * once; the sender only that one. The others coalesce what gossip
     * brings within the period, but events that reach them by state
     * exchange instead are delivered one by one (as in Serf): b1 and b2
     * may come too, each at most once. */
    for (int k = 1; k <= 3; k++) {
        char payload[8];
        int len = snprintf(payload, sizeof payload, "b%d", k);
        CHECK_OK(hearsay_pool_send_event(nodes[0].p, "burst",
                                         (const uint8_t *)payload,
                                         (size_t)len, true));
    }
    CHECK(PUMP_UNTIL(burst_delivered(), 10000));

    /* Over max_user_event_size (256 here): refused, nothing sent. */
    static uint8_t big[300];
    memset(big, 'x', sizeof big);
    CHECK_RESULT(hearsay_pool_send_event(nodes[1].p, "big", big, sizeof big,
                                         false),
                 HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(hearsay_last_error(), "max_user_event_size") != NULL);
    CHECK_RESULT(hearsay_pool_send_event(nodes[1].p, "", big, 1, false),
                 HEARSAY_ERR_INVALID_ARGUMENT);
}

/* ---- queries -------------------------------------------------------- */

typedef struct {
    int acks[MAXP];
    int responses[MAXP];
    int closed;
} replies_t;

/* Records one reply of a query whose payload was `asked`. */
static void record_reply(replies_t *got, hearsay_query_reply *r,
                         const char *asked) {
    const char *from = hearsay_query_reply_from(r);
    int j = member_index(from);
    size_t len = 42;
    const uint8_t *data = hearsay_query_reply_payload(r, &len);
    switch (hearsay_query_reply_type(r)) {
    case HEARSAY_REPLY_ACK:
        CHECK(data == NULL && len == 0);
        got->acks[j]++;
        break;
    case HEARSAY_REPLY_RESPONSE: {
        char want[64];
        snprintf(want, sizeof want, "%s@%s", asked, from);
        CHECK(payload_is(data, len, want));
        got->responses[j]++;
        break;
    }
    default:
        FAIL("unexpected reply type %d", (int)hearsay_query_reply_type(r));
    }
    hearsay_query_reply_free(r);
}

/* Runs a query to its end: pumps the pools, answers every query they
 * receive (if `answer`), and reads replies until HEARSAY_ERR_CLOSED. */
static void run_query(hearsay_query *q, const char *asked, int answer,
                      replies_t *got) {
    memset(got, 0, sizeof *got);
    long long deadline = now_ms() + (long long)hearsay_query_deadline_ms(q) + 5000;
    while (!got->closed) {
        if (now_ms() > deadline)
            FAIL("query '%s' did not end by its deadline", asked);
        pump_all();
        if (answer)
            answer_all();
        hearsay_query_reply *r = (hearsay_query_reply *)0x1;
        hearsay_result res = hearsay_query_next(q, 20, &r);
        if (res == HEARSAY_OK)
            record_reply(got, r, asked);
        else if (res == HEARSAY_ERR_CLOSED)
            got->closed = 1;
        else
            CHECK_RESULT(res, HEARSAY_EMPTY);
        if (res != HEARSAY_OK)
            CHECK(r == (hearsay_query_reply *)0x1);
    }
    /* Over: it stays over, and the deadline is behind. */
    hearsay_query_reply *r = (hearsay_query_reply *)0x1;
    CHECK_RESULT(hearsay_query_next(q, 0, &r), HEARSAY_ERR_CLOSED);
    CHECK_RESULT(hearsay_query_next(q, -1, &r), HEARSAY_ERR_CLOSED);
    CHECK(r == (hearsay_query_reply *)0x1);
    CHECK(hearsay_query_deadline_ms(q) == 0);
}

/* Exactly the pools in `who` (a bit per pool) acked (if `acks`) and
 * responded to query `name`, once each. */
static void check_replies(const char *name, const replies_t *got,
                          unsigned who, int acks) {
    for (int j = 0; j < MAXP; j++) {
        int want = (who >> j) & 1;
        if (got->responses[j] != want)
            FAIL("query '%s': serf-%d responded %d times, expected %d", name,
                 j, got->responses[j], want);
        if (got->acks[j] != (acks ? want : 0))
            FAIL("query '%s': serf-%d acked %d times, expected %d", name, j,
                 got->acks[j], acks ? want : 0);
    }
}

static void check_received(const char *name, unsigned who) {
    for (int i = 0; i < N; i++)
        if (queries_received(i, name) != (int)((who >> i) & 1))
            FAIL("serf-%d received query '%s' %d times, expected %u", i,
                 name, queries_received(i, name), (who >> i) & 1);
}

static void query_everyone(void) {
    hearsay_query_params *params = NULL;
    CHECK_OK(hearsay_query_params_new(&params));
    CHECK_OK(hearsay_query_params_set_request_ack(params, true));
    CHECK_OK(hearsay_query_params_set_relay_factor(params, 1));
    CHECK_OK(hearsay_query_params_set_timeout_ms(params, 2000));
    hearsay_query *q = NULL;
    long long t0 = now_ms();
    CHECK_OK(hearsay_pool_query(nodes[0].p, "all", (const uint8_t *)"q-all",
                                5, params, &q));
    hearsay_query_params_free(params); /* the query holds a copy */
    uint64_t left = hearsay_query_deadline_ms(q);
    CHECK(left > 1000 && left <= 2000);

    /* A response too large for max_query_response_size (128) is refused;
     * the proper one follows in run_query. */
    CHECK(PUMP_UNTIL(nodes[2].n_queries == 1, 5000));
    static uint8_t big[200];
    CHECK_RESULT(hearsay_pool_respond(nodes[2].p, nodes[2].queries[0], big,
                                      sizeof big),
                 HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(hearsay_last_error(), "max_query_response_size") != NULL);

    replies_t got;
    run_query(q, "q-all", 1, &got);
    hearsay_query_free(q);
    check_replies("all", &got, 0xf, 1);
    check_received("all", 0xf);
    printf("query 'all': %d acks and %d responses, over after %lld ms\n", N,
           N, now_ms() - t0);
}

static void query_by_node(void) {
    hearsay_query_params *params = NULL;
    CHECK_OK(hearsay_query_params_new(&params));
    CHECK_OK(hearsay_query_params_set_request_ack(params, true));
    CHECK_OK(hearsay_query_params_add_node(params, "serf-1"));
    CHECK_OK(hearsay_query_params_add_node(params, "serf-3"));
    CHECK_OK(hearsay_query_params_add_node(params, "serf-3"));
    CHECK_OK(hearsay_query_params_set_timeout_ms(params, 1000));
    hearsay_query *q = NULL;
    CHECK_OK(hearsay_pool_query(nodes[0].p, "by-node",
                                (const uint8_t *)"q-node", 6, params, &q));
    hearsay_query_params_free(params);
    replies_t got;
    run_query(q, "q-node", 1, &got);
    hearsay_query_free(q);
    check_replies("by-node", &got, (1u << 1) | (1u << 3), 1);
    check_received("by-node", (1u << 1) | (1u << 3));
}

static void query_by_tag(const char *name, const char *tag,
                         const char *regex, unsigned who) {
    hearsay_query_params *params = NULL;
    CHECK_OK(hearsay_query_params_new(&params));
    CHECK_OK(hearsay_query_params_add_tag_filter(params, tag, regex));
    CHECK_OK(hearsay_query_params_set_timeout_ms(params, 1000));
    hearsay_query *q = NULL;
    CHECK_OK(hearsay_pool_query(nodes[1].p, name, (const uint8_t *)name,
                                strlen(name), params, &q));
    hearsay_query_params_free(params);
    replies_t got;
    run_query(q, name, 1, &got);
    hearsay_query_free(q);
    check_replies(name, &got, who, 0);
    check_received(name, who);
}

static void late_response(void) {
    hearsay_query_params *params = NULL;
    CHECK_OK(hearsay_query_params_new(&params));
    CHECK_OK(hearsay_query_params_add_node(params, "serf-2"));
    CHECK_OK(hearsay_query_params_set_timeout_ms(params, 400));
    hearsay_query *q = NULL;
    CHECK_OK(hearsay_pool_query(nodes[0].p, "late", (const uint8_t *)"q-late",
                                6, params, &q));
    hearsay_query_params_free(params);
    CHECK(PUMP_UNTIL(nodes[2].n_queries == 1, 5000));
    /* serf-2's deadline is 400 ms after it received the query, which was
     * before now. */
    long long received_by = now_ms();
    hearsay_query_reply *r = (hearsay_query_reply *)0x1;
    CHECK_RESULT(hearsay_query_next(q, 0, &r), HEARSAY_EMPTY);
    CHECK(r == (hearsay_query_reply *)0x1);
    replies_t got;
    run_query(q, "q-late", 0, &got); /* nobody answers in time */
    hearsay_query_free(q);
    check_replies("late", &got, 0, 0);
    /* Past serf-2's own deadline too (a condition on the clock). */
    CHECK(PUMP_UNTIL(now_ms() > received_by + 400 + 50, 2000));
    CHECK_RESULT(hearsay_pool_respond(nodes[2].p, nodes[2].queries[0],
                                      (const uint8_t *)"late", 4),
                 HEARSAY_ERR_TIMEOUT);
    CHECK(strstr(hearsay_last_error(), "deadline") != NULL);
    hearsay_event_free(nodes[2].queries[0]);
    nodes[2].n_queries = 0;
}

/* Two threads read one query at once; together they get every reply. */
struct reader {
    hearsay_query *q;
    replies_t got;
    int taken;
};

static void *read_query(void *arg) {
    struct reader *rd = arg;
    for (int round = 0; round < 1000; round++) {
        hearsay_query_reply *r = NULL;
        hearsay_result res = hearsay_query_next(rd->q, -1, &r);
        if (res == HEARSAY_ERR_CLOSED)
            return NULL;
        if (res == HEARSAY_EMPTY)
            continue;
        CHECK_OK(res);
        rd->taken++;
        record_reply(&rd->got, r, "q-threads");
    }
    FAIL("reader did not see the query end");
}

static int answered_everywhere(const char *name) {
    for (int i = 0; i < N; i++)
        if (queries_received(i, name) != 1 || nodes[i].n_queries != 0)
            return 0;
    return 1;
}

static void two_readers(void) {
    hearsay_query_params *params = NULL;
    CHECK_OK(hearsay_query_params_new(&params));
    CHECK_OK(hearsay_query_params_set_request_ack(params, true));
    CHECK_OK(hearsay_query_params_set_timeout_ms(params, 0)); /* default */
    hearsay_query *q = NULL;
    CHECK_OK(hearsay_pool_query(nodes[3].p, "threads",
                                (const uint8_t *)"q-threads", 9, params, &q));
    hearsay_query_params_free(params);
    /* The default for four members: 50 ms x 30 x ceil(log10(5)). */
    uint64_t left = hearsay_query_deadline_ms(q);
    CHECK(left > 1000 && left <= 1500);
    struct reader rd[2];
    pthread_t th[2];
    for (int k = 0; k < 2; k++) {
        memset(&rd[k], 0, sizeof rd[k]);
        rd[k].q = q;
        CHECK(pthread_create(&th[k], NULL, read_query, &rd[k]) == 0);
    }
    for (long long deadline = now_ms() + 5000; !answered_everywhere("threads");) {
        CHECK(now_ms() < deadline);
        pump_all();
        answer_all();
        wait_for_events(20);
    }
    for (int k = 0; k < 2; k++)
        CHECK(pthread_join(th[k], NULL) == 0);
    hearsay_query_free(q);
    replies_t sum;
    memset(&sum, 0, sizeof sum);
    for (int j = 0; j < MAXP; j++) {
        sum.acks[j] = rd[0].got.acks[j] + rd[1].got.acks[j];
        sum.responses[j] = rd[0].got.responses[j] + rd[1].got.responses[j];
    }
    check_replies("threads", &sum, 0xf, 1);
    printf("two readers took %d and %d replies\n", rd[0].taken, rd[1].taken);
}

/* ---- tags, force-leave ---------------------------------------------- */

static int blue_seen(void) {
    for (int i = 0; i < N; i++)
        if (i != 1 && strcmp(nodes[i].color[1], "blue") != 0)
            return 0;
    return 1;
}

static void tag_update(void) {
    long long t0 = now_ms();
    CHECK_OK(hearsay_pool_set_tag(nodes[1].p, "color", "blue"));
    CHECK(PUMP_UNTIL(blue_seen(), 10000));
    for (int i = 0; i < N; i++) {
        if (i == 1)
            continue;
        CHECK(logged_at(i, 1, HEARSAY_EVENT_MEMBER_UPDATE) >= 0);
        hearsay_members *m = NULL;
        CHECK_OK(hearsay_pool_members(nodes[i].p, &m));
        const hearsay_member *member = find_member(m, "serf-1");
        CHECK(member != NULL);
        CHECK(strcmp(hearsay_member_tag(member, "color"), "blue") == 0);
        CHECK(strcmp(hearsay_member_tag(member, "role"), "web") == 0);
        hearsay_members_free(m);
    }
    printf("tag update seen everywhere after %lld ms\n", now_ms() - t0);
    /* Queries filter on the tags as they are now. */
    query_by_tag("blue", "color", "^blu", 1u << 1);
}

static int reaped_everywhere(int j) {
    for (int i = 0; i < MAXP; i++)
        if (nodes[i].p && i != j &&
            (logged_at(i, j, HEARSAY_EVENT_MEMBER_REAP) < 0 ||
             status_in(i, j) != HEARSAY_STATUS_NONE))
            return 0;
    return 1;
}

static void force_leave(void) {
    /* serf-3 stops without leaving: FAILED, then forced out: LEFT. */
    hearsay_pool_free(nodes[3].p);
    nodes[3].p = NULL;
    long long t0 = now_ms();
    CHECK(PUMP_UNTIL(everyone_reports(3, HEARSAY_STATUS_FAILED), 20000));
    printf("serf-3 failed everywhere after %lld ms\n", now_ms() - t0);
    CHECK_OK(hearsay_pool_force_leave(nodes[0].p, "serf-3", false));
    CHECK(PUMP_UNTIL(everyone_reports(3, HEARSAY_STATUS_LEFT), 10000));
    for (int i = 0; i < 3; i++) {
        CHECK(PUMP_UNTIL(logged_at(i, 3, HEARSAY_EVENT_MEMBER_LEAVE) >= 0, 5000));
        int failed = logged_at(i, 3, HEARSAY_EVENT_MEMBER_FAILED);
        CHECK(failed >= 0 && failed < logged_at(i, 3, HEARSAY_EVENT_MEMBER_LEAVE));
        CHECK(logged_at(i, 3, HEARSAY_EVENT_MEMBER_REAP) < 0);
    }
    /* The local node cannot be forced out; an unknown one is refused. */
    CHECK_RESULT(hearsay_pool_force_leave(nodes[0].p, "serf-0", false),
                 HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK_RESULT(hearsay_pool_force_leave(nodes[0].p, "serf-9", true),
                 HEARSAY_ERR_INVALID_ARGUMENT);

    /* serf-4 joins, stops without leaving, and is forced out with prune:
     * reaped and gone from every member list. */
    start(4, "db");
    char seed[64];
    addr_of(nodes[1].p, seed, sizeof seed);
    const char *seeds[1] = {seed};
    size_t joined = 0;
    CHECK_OK(hearsay_pool_join_ignore_old(nodes[4].p, seeds, 1, true, &joined));
    CHECK(joined == 1);
    CHECK(PUMP_UNTIL(all_alive(), 15000));
    /* It joined ignoring old events: none of the earlier user events
     * (which the state exchange carries) was delivered to it. */
    for (int j = 0; j < MAXP; j++)
        CHECK(nodes[4].user[j] == 0);
    CHECK(nodes[4].early == 0);
    for (int k = 0; k < 4; k++)
        CHECK(nodes[4].burst[k] == 0);
    hearsay_pool_free(nodes[4].p);
    nodes[4].p = NULL;
    CHECK(PUMP_UNTIL(everyone_reports(4, HEARSAY_STATUS_FAILED), 20000));
    t0 = now_ms();
    CHECK_OK(hearsay_pool_force_leave(nodes[1].p, "serf-4", true));
    if (!PUMP_UNTIL(reaped_everywhere(4), 10000)) {
        for (int i = 0; i < 3; i++) {
            fprintf(stderr, "serf-%d: status of serf-4 %d, events:", i,
                    (int)status_in(i, 4));
            for (int k = 0; k < nodes[i].n_log[4]; k++)
                fprintf(stderr, " %d", (int)nodes[i].log[4][k]);
            fprintf(stderr, "\n");
        }
        FAIL("serf-4 was not reaped everywhere");
    }
    printf("serf-4 reaped everywhere after %lld ms\n", now_ms() - t0);
    for (int i = 0; i < 3; i++) {
        int failed = logged_at(i, 4, HEARSAY_EVENT_MEMBER_FAILED);
        int left = logged_at(i, 4, HEARSAY_EVENT_MEMBER_LEAVE);
        int reaped = logged_at(i, 4, HEARSAY_EVENT_MEMBER_REAP);
        CHECK(failed >= 0 && failed < left && left < reaped);
    }
    /* serf-3 stays as it was: left, not reaped (tombstone 60 s). */
    CHECK(everyone_reports(3, HEARSAY_STATUS_LEFT));
}

int main(void) {
    CHECK_OK(hearsay_runtime_new(&rt[0]));
    CHECK_OK(hearsay_runtime_new(&rt[1]));
    start(0, "web");
    start(1, "web");
    start(2, "db");
    start(3, "db");

    /* An event before anyone joined: the others get it with the state of
     * serf-0 when they join. */
    CHECK_OK(hearsay_pool_send_event(nodes[0].p, "early",
                                     (const uint8_t *)"before the joins", 16,
                                     false));
    char seed[64];
    addr_of(nodes[0].p, seed, sizeof seed);
    join_one(nodes[1].p, seed);
    join_one(nodes[3].p, seed);
    const char *seeds[1] = {seed};
    size_t joined = 0;
    CHECK_OK(hearsay_pool_join_ignore_old(nodes[2].p, seeds, 1, false, &joined));
    CHECK(joined == 1);
    long long t0 = now_ms();
    CHECK(PUMP_UNTIL(all_alive(), 15000));
    printf("four pools converged after %lld ms\n", now_ms() - t0);

    user_events();
    query_everyone();
    query_by_node();
    query_by_tag("by-tag", "role", "^db$", (1u << 2) | (1u << 3));
    late_response();
    two_readers();
    tag_update();
    force_leave();

    /* Seconds later: every event was delivered exactly once, and the burst
     * as described in user_events(). */
    pump_all();
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++)
            if (nodes[i].user[j] != 1)
                FAIL("serf-%d delivered ev-%d %d times", i, j, nodes[i].user[j]);
        CHECK(nodes[i].early == 1);
        if (nodes[i].burst[3] != 1 || nodes[i].burst[1] > 1 ||
            nodes[i].burst[2] > 1 ||
            (i == 0 && (nodes[i].burst[1] || nodes[i].burst[2])))
            FAIL("serf-%d delivered the burst b1 %d, b2 %d, b3 %d times", i,
                 nodes[i].burst[1], nodes[i].burst[2], nodes[i].burst[3]);
    }

    for (int i = 0; i < MAXP; i++) {
        for (int k = 0; k < nodes[i].n_queries; k++)
            hearsay_event_free(nodes[i].queries[k]);
        hearsay_pool_free(nodes[i].p);
    }
    hearsay_runtime_free(rt[0]);
    hearsay_runtime_free(rt[1]);
    printf("test_serf: ok\n");
    return 0;
}
