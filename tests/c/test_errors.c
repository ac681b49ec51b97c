/*
 * The error contract: NULL in every pointer argument, invalid UTF-8,
 * malformed addresses, a port in use, a join nobody answers, a buffer too
 * small, an index past the end, out-of-range settings and a panic each give
 * the documented code with a non-empty last error; out-parameters are left
 * untouched on error; _free(NULL) does nothing. The same for the query
 * calls, the Serf settings and hearsay_pool_join_ignore_old, with a query a
 * pool answers itself, and one that outlives its pool.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

static const char BAD_UTF8[] = {'a', (char)0xff, (char)0xfe, 'b', 0};

/* Replaces the last error with a known message, so that a check after the
 * next call sees whether that call set one. */
static void mark_last_error(void) {
    hearsay_config *c = NULL;
    CHECK(hearsay_config_new((hearsay_profile)99, &c) ==
          HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(hearsay_last_error(), "profile 99") != NULL);
}

static void check_last_error_mentions(const char *what, const char *expr,
                                      int line) {
    if (strstr(hearsay_last_error(), what) == NULL)
        FAIL("line %d: after %s the last error is '%s', expected it to "
             "mention '%s'",
             line, expr, hearsay_last_error(), what);
}

/* `expr` (a call not returning hearsay_result) gives `fallback` and records
 * a last error that mentions `what`. */
#define CHECK_FALLBACK(expr, fallback, what)                                   \
    do {                                                                       \
        mark_last_error();                                                     \
        CHECK((expr) == (fallback));                                           \
        check_last_error_mentions(what, #expr, __LINE__);                      \
    } while (0)

/* `call` returns `code` and records a last error that mentions `what`. */
#define CHECK_ERROR(call, code, what)                                          \
    do {                                                                       \
        mark_last_error();                                                     \
        CHECK_RESULT(call, code);                                              \
        check_last_error_mentions(what, #call, __LINE__);                      \
    } while (0)

static int bound_socket(int type, int *port) {
    int fd = socket(AF_INET, type, 0);
    CHECK(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    socklen_t len = sizeof sa;
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void version_and_names(void) {
    CHECK(strcmp(hearsay_last_error(), "") == 0); /* nothing failed yet */
    CHECK(hearsay_abi_version() >> 16 == HEARSAY_ABI_VERSION_MAJOR);
    CHECK(strcmp(hearsay_version(), HEARSAY_VERSION) == 0);
    CHECK(strcmp(hearsay_result_name(HEARSAY_OK), "HEARSAY_OK") == 0);
    CHECK(strcmp(hearsay_result_name(HEARSAY_EMPTY), "HEARSAY_EMPTY") == 0);
    CHECK(strcmp(hearsay_result_name(-4), "HEARSAY_ERR_IO") == 0);
    CHECK(strcmp(hearsay_result_name(HEARSAY_ERR_PANIC), "HEARSAY_ERR_PANIC") ==
          0);
    CHECK(strcmp(hearsay_result_name(12345), "HEARSAY_UNKNOWN") == 0);
}

static void free_null_is_a_no_op(void) {
    hearsay_runtime_free(NULL);
    hearsay_config_free(NULL);
    hearsay_pool_free(NULL);
    hearsay_members_free(NULL);
    hearsay_event_free(NULL);
    hearsay_query_params_free(NULL);
    hearsay_query_free(NULL);
    hearsay_query_reply_free(NULL);
}

static void panics_are_caught(void) {
    CHECK_RESULT(hearsay_test_panic(), HEARSAY_ERR_PANIC);
    CHECK(strncmp(hearsay_last_error(), "panic: ", 7) == 0);
    CHECK(strstr(hearsay_last_error(), "hearsay_test_panic") != NULL);
    mark_last_error();
    CHECK(hearsay_test_panic_ptr() == NULL);
    CHECK(strncmp(hearsay_last_error(), "panic: ", 7) == 0);
    /* The library still works after a panic. */
    hearsay_config *c = NULL;
    CHECK_OK(hearsay_config_new(HEARSAY_PROFILE_LAN, &c));
    hearsay_config_free(c);
}

static void config_errors(void) {
    hearsay_config *sentinel = (hearsay_config *)0x1;
    hearsay_config *c = sentinel;
    CHECK_ERROR(hearsay_config_new(HEARSAY_PROFILE_LAN, NULL),
                HEARSAY_ERR_NULL_PARAMETER, "out");
    CHECK_ERROR(hearsay_config_new(3, &c), HEARSAY_ERR_INVALID_ARGUMENT,
                "profile 3");
    CHECK_ERROR(hearsay_config_new(-1, &c), HEARSAY_ERR_INVALID_ARGUMENT,
                "profile");
    CHECK(c == sentinel);
    CHECK_OK(hearsay_config_new(HEARSAY_PROFILE_WAN, &c));
    CHECK(c != sentinel && c != NULL);

    /* NULL receivers and arguments. */
    CHECK_ERROR(hearsay_config_set_node_name(NULL, "x"),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_node_name(c, NULL),
                HEARSAY_ERR_NULL_PARAMETER, "name");
    CHECK_ERROR(hearsay_config_set_bind_addr(NULL, "127.0.0.1:0"),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_bind_addr(c, NULL),
                HEARSAY_ERR_NULL_PARAMETER, "ip_port");
    CHECK_ERROR(hearsay_config_set_advertise_addr(NULL, ""),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_advertise_addr(c, NULL),
                HEARSAY_ERR_NULL_PARAMETER, "ip_port");
    CHECK_ERROR(hearsay_config_set_tag(NULL, "k", "v"),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_tag(c, NULL, "v"),
                HEARSAY_ERR_NULL_PARAMETER, "key");
    CHECK_ERROR(hearsay_config_set_tag(c, "k", NULL),
                HEARSAY_ERR_NULL_PARAMETER, "value");
    CHECK_ERROR(hearsay_config_remove_tag(NULL, "k"),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_remove_tag(c, NULL), HEARSAY_ERR_NULL_PARAMETER,
                "key");
    CHECK_ERROR(hearsay_config_set_label(NULL, "x"),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_label(c, NULL), HEARSAY_ERR_NULL_PARAMETER,
                "label");
    CHECK_ERROR(hearsay_config_validate(NULL), HEARSAY_ERR_NULL_PARAMETER,
                "NULL");
    CHECK_ERROR(hearsay_config_set_event_queue_depth(NULL, 10),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_probe_interval_ms(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_probe_timeout_ms(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_gossip_interval_ms(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_gossip_nodes(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_suspicion_mult(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_suspicion_max_timeout_mult(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_retransmit_mult(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_indirect_checks(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_push_pull_interval_ms(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_tcp_timeout_ms(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_gossip_to_the_dead_ms(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_dead_node_reclaim_ms(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_awareness_max_multiplier(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_max_packet_size(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_max_meta_size(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_max_stream_size(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_max_push_pull_members(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_local_health(NULL, true),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_suspicion_confirmations(NULL, true),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_nacks(NULL, true),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_tcp_fallback_probe(NULL, true),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_reap_interval_ms(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_reconnect_interval_ms(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_reconnect_timeout_ms(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_tombstone_timeout_ms(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_max_user_event_size(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_max_query_response_size(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_query_timeout_mult(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_coalesce_period_ms(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_quiescent_period_ms(NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_config_set_resolve_name_conflicts(NULL, true),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");

    /* Invalid UTF-8 and malformed addresses. */
    CHECK_ERROR(hearsay_config_set_node_name(c, BAD_UTF8),
                HEARSAY_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK_ERROR(hearsay_config_set_bind_addr(c, BAD_UTF8),
                HEARSAY_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK_ERROR(hearsay_config_set_tag(c, BAD_UTF8, "v"),
                HEARSAY_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK_ERROR(hearsay_config_set_tag(c, "k", BAD_UTF8),
                HEARSAY_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK_ERROR(hearsay_config_set_label(c, BAD_UTF8),
                HEARSAY_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK_ERROR(hearsay_config_set_bind_addr(c, "not-an-addr"),
                HEARSAY_ERR_INVALID_ARGUMENT, "not-an-addr");
    CHECK_ERROR(hearsay_config_set_bind_addr(c, "127.0.0.1"),
                HEARSAY_ERR_INVALID_ARGUMENT, "not an address");
    CHECK_ERROR(hearsay_config_set_bind_addr(c, "127.0.0.1:99999"),
                HEARSAY_ERR_INVALID_ARGUMENT, "not an address");
    CHECK_ERROR(hearsay_config_set_advertise_addr(c, "not-an-addr"),
                HEARSAY_ERR_INVALID_ARGUMENT, "not-an-addr");
    CHECK_ERROR(hearsay_config_set_tag(c, "", "v"),
                HEARSAY_ERR_INVALID_ARGUMENT, "empty");
    char long_label[300];
    memset(long_label, 'l', sizeof long_label - 1);
    long_label[sizeof long_label - 1] = 0;
    CHECK_ERROR(hearsay_config_set_label(c, long_label),
                HEARSAY_ERR_INVALID_ARGUMENT, "label");
    CHECK_OK(hearsay_config_set_bind_addr(c, "[::1]:0"));
    CHECK_OK(hearsay_config_set_advertise_addr(c, ""));
    CHECK_OK(hearsay_config_set_label(c, ""));
    CHECK_OK(hearsay_config_validate(c));

    /* Out-of-range settings are caught by validate, naming the field. */
    CHECK_OK(hearsay_config_set_probe_timeout_ms(c, 9000));
    CHECK_ERROR(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT,
                "probe_timeout");
    CHECK_OK(hearsay_config_set_probe_timeout_ms(c, 100));
    CHECK_OK(hearsay_config_set_gossip_nodes(c, 0));
    CHECK_ERROR(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT,
                "gossip_nodes");
    CHECK_OK(hearsay_config_set_gossip_nodes(c, 3));
    CHECK_OK(hearsay_config_set_max_packet_size(c, 100));
    CHECK_ERROR(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT,
                "max_packet_size");
    CHECK_OK(hearsay_config_set_max_packet_size(c, 1400));
    CHECK_OK(hearsay_config_set_event_queue_depth(c, 0));
    CHECK_ERROR(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT,
                "event queue depth");
    CHECK_OK(hearsay_config_set_event_queue_depth(c, 16));
    CHECK_OK(hearsay_config_set_node_name(c, ""));
    CHECK_ERROR(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT,
                "node name");
    CHECK_OK(hearsay_config_set_node_name(c, "n"));
    CHECK_OK(hearsay_config_set_bind_addr(c, "0.0.0.0:0"));
    CHECK_ERROR(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT,
                "advertise");
    CHECK_OK(hearsay_config_set_advertise_addr(c, "127.0.0.1:7946"));
    CHECK_OK(hearsay_config_validate(c));

    /* The Serf settings: out of range, named by validate. */
    CHECK_OK(hearsay_config_set_reap_interval_ms(c, 0));
    CHECK_ERROR(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT,
                "reap_interval");
    CHECK_OK(hearsay_config_set_reap_interval_ms(c, 1000));
    CHECK_OK(hearsay_config_set_reconnect_interval_ms(c, 0));
    CHECK_ERROR(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT,
                "reconnect_interval");
    CHECK_OK(hearsay_config_set_reconnect_interval_ms(c, 1000));
    CHECK_OK(hearsay_config_set_reconnect_timeout_ms(c, 0));
    CHECK_ERROR(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT,
                "reconnect_timeout");
    CHECK_OK(hearsay_config_set_reconnect_timeout_ms(c, 60000));
    CHECK_OK(hearsay_config_set_tombstone_timeout_ms(c, 0));
    CHECK_ERROR(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT,
                "tombstone_timeout");
    CHECK_OK(hearsay_config_set_tombstone_timeout_ms(c, 60000));
    CHECK_OK(hearsay_config_set_max_user_event_size(c, 8));
    CHECK_ERROR(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT,
                "max_user_event_size");
    CHECK_OK(hearsay_config_set_max_user_event_size(c, 512));
    CHECK_OK(hearsay_config_set_max_query_response_size(c, 70000));
    CHECK_ERROR(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT,
                "max_query_response_size");
    CHECK_OK(hearsay_config_set_max_query_response_size(c, 1024));
    CHECK_OK(hearsay_config_set_query_timeout_mult(c, 0));
    CHECK_ERROR(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT,
                "query_timeout_mult");
    CHECK_OK(hearsay_config_set_query_timeout_mult(c, 16));
    CHECK_OK(hearsay_config_set_coalesce_period_ms(c, 100));
    CHECK_ERROR(hearsay_config_validate(c), HEARSAY_ERR_INVALID_ARGUMENT,
                "quiescent_period");
    CHECK_OK(hearsay_config_set_quiescent_period_ms(c, 50));
    CHECK_OK(hearsay_config_set_resolve_name_conflicts(c, false));
    CHECK_OK(hearsay_config_validate(c));
    hearsay_config_free(c);
}

static void query_params_errors(void) {
    hearsay_query_params *sentinel = (hearsay_query_params *)0x1;
    hearsay_query_params *q = sentinel;
    CHECK_ERROR(hearsay_query_params_new(NULL), HEARSAY_ERR_NULL_PARAMETER,
                "out");
    CHECK_OK(hearsay_query_params_new(&q));
    CHECK(q != sentinel && q != NULL);

    CHECK_ERROR(hearsay_query_params_add_node(NULL, "n"),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_query_params_add_node(q, NULL),
                HEARSAY_ERR_NULL_PARAMETER, "node");
    CHECK_ERROR(hearsay_query_params_add_node(q, BAD_UTF8),
                HEARSAY_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK_ERROR(hearsay_query_params_add_node(q, ""),
                HEARSAY_ERR_INVALID_ARGUMENT, "node name");
    char long_name[200];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    CHECK_ERROR(hearsay_query_params_add_node(q, long_name),
                HEARSAY_ERR_INVALID_ARGUMENT, "128");

    CHECK_ERROR(hearsay_query_params_add_tag_filter(NULL, "t", "x"),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_query_params_add_tag_filter(q, NULL, "x"),
                HEARSAY_ERR_NULL_PARAMETER, "tag");
    CHECK_ERROR(hearsay_query_params_add_tag_filter(q, "t", NULL),
                HEARSAY_ERR_NULL_PARAMETER, "regex");
    CHECK_ERROR(hearsay_query_params_add_tag_filter(q, BAD_UTF8, "x"),
                HEARSAY_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK_ERROR(hearsay_query_params_add_tag_filter(q, "t", BAD_UTF8),
                HEARSAY_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK_ERROR(hearsay_query_params_add_tag_filter(q, "", "x"),
                HEARSAY_ERR_INVALID_ARGUMENT, "empty");
    /* The regular expression's own error is in the message. */
    CHECK_ERROR(hearsay_query_params_add_tag_filter(q, "role", "(web"),
                HEARSAY_ERR_INVALID_ARGUMENT, "unclosed group");
    CHECK_ERROR(hearsay_query_params_add_tag_filter(q, "role", "[z-a]"),
                HEARSAY_ERR_INVALID_ARGUMENT, "not a regular expression");

    CHECK_ERROR(hearsay_query_params_set_request_ack(NULL, true),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_query_params_set_relay_factor(NULL, 2),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_query_params_set_timeout_ms(NULL, 100),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");

    CHECK_OK(hearsay_query_params_add_node(q, "n"));
    CHECK_OK(hearsay_query_params_add_tag_filter(q, "role", "^(web|db)$"));
    CHECK_OK(hearsay_query_params_set_request_ack(q, true));
    CHECK_OK(hearsay_query_params_set_relay_factor(q, 255));
    CHECK_OK(hearsay_query_params_set_timeout_ms(q, 0));
    hearsay_query_params_free(q);
}

/* A query `p` sends and answers itself: every query call's NULL and
 * invalid arguments, the reply accessors, the end of a query. */
static void query_errors(hearsay_pool *p) {
    const uint8_t payload[3] = {1, 2, 3};
    hearsay_query *qsentinel = (hearsay_query *)0x1;
    hearsay_query *q = qsentinel;
    CHECK_ERROR(hearsay_pool_query(NULL, "q", payload, 3, NULL, &q),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_pool_query(p, NULL, payload, 3, NULL, &q),
                HEARSAY_ERR_NULL_PARAMETER, "name");
    CHECK_ERROR(hearsay_pool_query(p, "q", NULL, 3, NULL, &q),
                HEARSAY_ERR_NULL_PARAMETER, "payload");
    CHECK_ERROR(hearsay_pool_query(p, "q", payload, 3, NULL, NULL),
                HEARSAY_ERR_NULL_PARAMETER, "out");
    CHECK_ERROR(hearsay_pool_query(p, BAD_UTF8, payload, 3, NULL, &q),
                HEARSAY_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK_ERROR(hearsay_pool_query(p, "", payload, 3, NULL, &q),
                HEARSAY_ERR_INVALID_ARGUMENT, "query name");
    static uint8_t oversized[1100];
    CHECK_ERROR(hearsay_pool_query(p, "q", oversized, sizeof oversized, NULL,
                                   &q),
                HEARSAY_ERR_INVALID_ARGUMENT, "max_query_size");
    CHECK(q == qsentinel);

    hearsay_query_params *params = NULL;
    CHECK_OK(hearsay_query_params_new(&params));
    CHECK_OK(hearsay_query_params_set_request_ack(params, true));
    CHECK_OK(hearsay_query_params_set_timeout_ms(params, 1500));
    CHECK_OK(hearsay_pool_query(p, "ping", payload, 3, params, &q));
    CHECK(q != qsentinel && q != NULL);
    hearsay_query_params_free(params);
    uint64_t left = hearsay_query_deadline_ms(q);
    CHECK(left > 0 && left <= 1500);
    CHECK_FALLBACK(hearsay_query_deadline_ms(NULL), 0, "NULL");

    /* The pool receives its own query. */
    hearsay_event *e = NULL;
    CHECK_OK(hearsay_pool_next_event(p, 5000, &e));
    CHECK(hearsay_event_get_type(e) == HEARSAY_EVENT_QUERY);
    CHECK(strcmp(hearsay_event_name(e), "ping") == 0);
    size_t len = 0;
    const uint8_t *data = hearsay_event_payload(e, &len);
    CHECK(len == 3 && memcmp(data, payload, 3) == 0);

    /* respond: NULLs, a non-query event, too large, then the answer. */
    CHECK_ERROR(hearsay_pool_respond(NULL, e, payload, 3),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_pool_respond(p, e, NULL, 3),
                HEARSAY_ERR_NULL_PARAMETER, "payload");
    static uint8_t big_answer[2000];
    CHECK_ERROR(hearsay_pool_respond(p, e, big_answer, sizeof big_answer),
                HEARSAY_ERR_INVALID_ARGUMENT, "max_query_response_size");
    CHECK_OK(hearsay_pool_send_event(p, "not-a-query", NULL, 0, false));
    hearsay_event *user = NULL;
    CHECK_OK(hearsay_pool_next_event(p, 5000, &user));
    CHECK(hearsay_event_get_type(user) == HEARSAY_EVENT_USER);
    CHECK_ERROR(hearsay_pool_respond(p, user, payload, 3),
                HEARSAY_ERR_INVALID_ARGUMENT, "not a query");
    hearsay_event_free(user);
    CHECK_OK(hearsay_pool_respond(p, e, (const uint8_t *)"pong", 4));
    hearsay_event_free(e);

    /* next: NULLs, a timeout below -1, then the ack and the response. */
    hearsay_query_reply *rsentinel = (hearsay_query_reply *)0x1;
    hearsay_query_reply *r = rsentinel;
    CHECK_ERROR(hearsay_query_next(NULL, 0, &r), HEARSAY_ERR_NULL_PARAMETER,
                "NULL");
    CHECK_ERROR(hearsay_query_next(q, 0, NULL), HEARSAY_ERR_NULL_PARAMETER,
                "out");
    CHECK_ERROR(hearsay_query_next(q, -2, &r), HEARSAY_ERR_INVALID_ARGUMENT,
                "timeout_ms");
    CHECK(r == rsentinel);
    int acks = 0, responses = 0;
    hearsay_result res;
    for (int round = 0; round < 100; round++) {
        res = hearsay_query_next(q, -1, &r);
        if (res != HEARSAY_OK)
            break;
        CHECK(strcmp(hearsay_query_reply_from(r), "errors-a") == 0);
        data = hearsay_query_reply_payload(r, &len);
        if (hearsay_query_reply_type(r) == HEARSAY_REPLY_ACK) {
            CHECK(data == NULL && len == 0);
            acks++;
        } else {
            CHECK(hearsay_query_reply_type(r) == HEARSAY_REPLY_RESPONSE);
            CHECK(len == 4 && memcmp(data, "pong", 4) == 0);
            responses++;
        }
        /* The accessors' NULL arguments, on a live reply. */
        len = 42;
        CHECK_FALLBACK(hearsay_query_reply_payload(r, NULL), NULL, "len");
        CHECK_FALLBACK(hearsay_query_reply_payload(NULL, &len), NULL, "NULL");
        CHECK(len == 42);
        hearsay_query_reply_free(r);
        r = rsentinel;
    }
    CHECK_RESULT(res, HEARSAY_ERR_CLOSED);
    CHECK(r == rsentinel);
    CHECK(acks == 1 && responses == 1);
    CHECK_RESULT(hearsay_query_next(q, 0, &r), HEARSAY_ERR_CLOSED);
    CHECK(hearsay_query_deadline_ms(q) == 0);
    CHECK_FALLBACK(hearsay_query_reply_type(NULL), HEARSAY_REPLY_NONE, "NULL");
    CHECK_FALLBACK(hearsay_query_reply_from(NULL), NULL, "NULL");
    hearsay_query_free(q);
}


static void pool_errors(void) {
    hearsay_runtime *rt = NULL;
    CHECK_ERROR(hearsay_runtime_new(NULL), HEARSAY_ERR_NULL_PARAMETER, "out");
    CHECK_OK(hearsay_runtime_new(&rt));

    hearsay_config *c = fast_config(HEARSAY_PROFILE_LOCAL, "errors-a");
    hearsay_pool *sentinel = (hearsay_pool *)0x1;
    hearsay_pool *p = sentinel;
    CHECK_ERROR(hearsay_pool_new(NULL, c, &p), HEARSAY_ERR_NULL_PARAMETER,
                "rt");
    CHECK_ERROR(hearsay_pool_new(rt, NULL, &p), HEARSAY_ERR_NULL_PARAMETER,
                "`c`");
    CHECK_ERROR(hearsay_pool_new(rt, c, NULL), HEARSAY_ERR_NULL_PARAMETER,
                "out");
    CHECK(p == sentinel);

    /* A setting out of range: the pool is not created, the field named. */
    CHECK_OK(hearsay_config_set_probe_timeout_ms(c, 5000));
    CHECK_ERROR(hearsay_pool_new(rt, c, &p), HEARSAY_ERR_INVALID_ARGUMENT,
                "probe_timeout");
    CHECK(p == sentinel);
    CHECK_OK(hearsay_config_set_probe_timeout_ms(c, 100));

    p = start_pool(rt, c);
    char addr[64];
    addr_of(p, addr, sizeof addr);
    size_t addr_len = strlen(addr);

    /* Port in use: by this runtime (same label), by another runtime, and by
     * another socket of this process. */
    hearsay_pool *q = sentinel;
    CHECK_OK(hearsay_config_set_bind_addr(c, addr));
    CHECK_OK(hearsay_config_set_node_name(c, "errors-b"));
    CHECK_ERROR(hearsay_pool_new(rt, c, &q), HEARSAY_ERR_ADDR_IN_USE, addr);
    hearsay_runtime *rt2 = NULL;
    CHECK_OK(hearsay_runtime_new(&rt2));
    CHECK_ERROR(hearsay_pool_new(rt2, c, &q), HEARSAY_ERR_ADDR_IN_USE,
                "in use");
    int port = 0;
    int udp = bound_socket(SOCK_DGRAM, &port);
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", port);
    CHECK_OK(hearsay_config_set_bind_addr(c, taken));
    CHECK_ERROR(hearsay_pool_new(rt2, c, &q), HEARSAY_ERR_ADDR_IN_USE,
                "in use");
    CHECK(q == sentinel);
    close(udp);
    hearsay_runtime_free(rt2);

    /* local_addr: NULLs, a buffer too small (untouched), the exact fit. */
    char buf[64];
    memset(buf, 'x', sizeof buf);
    CHECK_ERROR(hearsay_pool_local_addr(NULL, buf, sizeof buf),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_pool_local_addr(p, NULL, sizeof buf),
                HEARSAY_ERR_NULL_PARAMETER, "buf");
    CHECK_ERROR(hearsay_pool_local_addr(p, buf, 5),
                HEARSAY_ERR_BUFFER_TOO_SMALL, "bytes");
    CHECK_ERROR(hearsay_pool_local_addr(p, buf, addr_len),
                HEARSAY_ERR_BUFFER_TOO_SMALL, "bytes");
    CHECK_ERROR(hearsay_pool_local_addr(p, buf, 0),
                HEARSAY_ERR_BUFFER_TOO_SMALL, "bytes");
    for (size_t i = 0; i < sizeof buf; i++)
        CHECK(buf[i] == 'x');
    CHECK_OK(hearsay_pool_local_addr(p, buf, addr_len + 1));
    CHECK(strcmp(buf, addr) == 0);

    /* join: NULLs, bad addresses, nobody answering. */
    size_t joined = 777;
    const char *seeds[2] = {addr, NULL};
    CHECK_ERROR(hearsay_pool_join(NULL, seeds, 1, &joined),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_pool_join(p, NULL, 1, &joined),
                HEARSAY_ERR_NULL_PARAMETER, "addrs");
    CHECK_ERROR(hearsay_pool_join(p, seeds, 1, NULL),
                HEARSAY_ERR_NULL_PARAMETER, "n_joined");
    CHECK_ERROR(hearsay_pool_join(p, seeds, 2, &joined),
                HEARSAY_ERR_NULL_PARAMETER, "addrs[1]");
    seeds[1] = BAD_UTF8;
    CHECK_ERROR(hearsay_pool_join(p, seeds, 2, &joined),
                HEARSAY_ERR_INVALID_ARGUMENT, "UTF-8");
    seeds[0] = "not-an-addr";
    CHECK_ERROR(hearsay_pool_join(p, seeds, 1, &joined),
                HEARSAY_ERR_INVALID_ARGUMENT, "not-an-addr");
    CHECK(joined == 777);
    CHECK_OK(hearsay_pool_join(p, NULL, 0, &joined));
    CHECK(joined == 0);

    /* join_ignore_old: the same checks. */
    seeds[0] = addr;
    seeds[1] = NULL;
    joined = 777;
    CHECK_ERROR(hearsay_pool_join_ignore_old(NULL, seeds, 1, true, &joined),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_pool_join_ignore_old(p, NULL, 1, true, &joined),
                HEARSAY_ERR_NULL_PARAMETER, "addrs");
    CHECK_ERROR(hearsay_pool_join_ignore_old(p, seeds, 1, true, NULL),
                HEARSAY_ERR_NULL_PARAMETER, "n_joined");
    CHECK_ERROR(hearsay_pool_join_ignore_old(p, seeds, 2, false, &joined),
                HEARSAY_ERR_NULL_PARAMETER, "addrs[1]");
    seeds[1] = BAD_UTF8;
    CHECK_ERROR(hearsay_pool_join_ignore_old(p, seeds, 2, true, &joined),
                HEARSAY_ERR_INVALID_ARGUMENT, "UTF-8");
    seeds[0] = "not-an-addr";
    CHECK_ERROR(hearsay_pool_join_ignore_old(p, seeds, 1, true, &joined),
                HEARSAY_ERR_INVALID_ARGUMENT, "not-an-addr");
    CHECK(joined == 777);
    CHECK_OK(hearsay_pool_join_ignore_old(p, NULL, 0, true, &joined));
    CHECK(joined == 0);

    int tcp = bound_socket(SOCK_STREAM, &port); /* bound, not listening */
    char silent[64];
    snprintf(silent, sizeof silent, "127.0.0.1:%d", port);
    seeds[0] = silent;
    joined = 777;
    long long t0 = now_ms();
    hearsay_result r = hearsay_pool_join(p, seeds, 1, &joined);
    long long took = now_ms() - t0;
    CHECK(r == HEARSAY_ERR_IO || (r == HEARSAY_OK && joined == 0));
    if (r != HEARSAY_OK) {
        CHECK(joined == 777);
        CHECK(hearsay_last_error()[0] != '\0');
    }
    CHECK(took < 500 + 2000); /* within the TCP timeout, with slack */
    close(tcp);

    /* send_event: argument checks, the size limit, then sent. */
    const uint8_t payload[3] = {1, 2, 3};
    CHECK_ERROR(hearsay_pool_send_event(NULL, "e", payload, 3, false),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_pool_send_event(p, NULL, payload, 3, false),
                HEARSAY_ERR_NULL_PARAMETER, "name");
    CHECK_ERROR(hearsay_pool_send_event(p, "e", NULL, 3, false),
                HEARSAY_ERR_NULL_PARAMETER, "payload");
    CHECK_ERROR(hearsay_pool_send_event(p, BAD_UTF8, payload, 3, false),
                HEARSAY_ERR_INVALID_ARGUMENT, "UTF-8");
    static uint8_t oversized[600];
    CHECK_ERROR(hearsay_pool_send_event(p, "deploy", oversized, sizeof oversized, false),
                HEARSAY_ERR_INVALID_ARGUMENT, "max_user_event_size");
    CHECK(hearsay_pool_send_event(p, "deploy", payload, 3, true) == HEARSAY_OK);
    CHECK(hearsay_pool_send_event(p, "deploy", NULL, 0, false) == HEARSAY_OK);
    /* A pool delivers its own user events too, each once. */
    int own_events = 0;
    hearsay_event *own = NULL;
    while (own_events < 2 && hearsay_pool_next_event(p, 2000, &own) == HEARSAY_OK) {
        if (hearsay_event_get_type(own) == HEARSAY_EVENT_USER) {
            CHECK(strcmp(hearsay_event_name(own), "deploy") == 0);
            own_events++;
        }
        hearsay_event_free(own);
    }
    CHECK(own_events == 2);

    /* respond and force_leave: argument checks. */
    CHECK_ERROR(hearsay_pool_respond(p, NULL, payload, 3), HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_pool_force_leave(p, "nobody", false), HEARSAY_ERR_INVALID_ARGUMENT,
                "nobody");
    CHECK_ERROR(hearsay_pool_force_leave(NULL, "x", true), HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_pool_force_leave(p, NULL, true), HEARSAY_ERR_NULL_PARAMETER, "name");
    CHECK_ERROR(hearsay_pool_force_leave(p, BAD_UTF8, true), HEARSAY_ERR_INVALID_ARGUMENT,
                "UTF-8");
    CHECK_ERROR(hearsay_pool_force_leave(p, "errors-a", false), HEARSAY_ERR_INVALID_ARGUMENT,
                "local node");

    query_errors(p);

    /* members and the snapshot accessors. */
    hearsay_members *msentinel = (hearsay_members *)0x1;
    hearsay_members *m = msentinel;
    CHECK_ERROR(hearsay_pool_members(NULL, &m), HEARSAY_ERR_NULL_PARAMETER,
                "NULL");
    CHECK_ERROR(hearsay_pool_members(p, NULL), HEARSAY_ERR_NULL_PARAMETER,
                "out");
    CHECK(m == msentinel);
    CHECK_OK(hearsay_pool_members(p, &m));
    CHECK(hearsay_members_count(m) == 1);
    const hearsay_member *self = hearsay_members_get(m, 0);
    CHECK(self != NULL);
    CHECK(strcmp(hearsay_member_name(self), "errors-a") == 0);
    CHECK(strcmp(hearsay_member_addr(self), addr) == 0);
    CHECK_FALLBACK(hearsay_members_get(m, 1), NULL, "past the end");
    CHECK_FALLBACK(hearsay_members_get(m, (size_t)-1), NULL, "past the end");
    CHECK_FALLBACK(hearsay_members_get(NULL, 0), NULL, "NULL");
    CHECK_FALLBACK(hearsay_members_count(NULL), 0, "NULL");
    CHECK_FALLBACK(hearsay_member_name(NULL), NULL, "NULL");
    CHECK_FALLBACK(hearsay_member_addr(NULL), NULL, "NULL");
    CHECK_FALLBACK(hearsay_member_status(NULL), HEARSAY_STATUS_NONE, "NULL");
    CHECK_FALLBACK(hearsay_member_incarnation(NULL), 0, "NULL");
    CHECK_FALLBACK(hearsay_member_tag(NULL, "k"), NULL, "NULL");
    CHECK_FALLBACK(hearsay_member_tag(self, NULL), NULL, "key");
    CHECK_FALLBACK(hearsay_member_tag(self, BAD_UTF8), NULL, "UTF-8");
    CHECK_FALLBACK(hearsay_member_tags_count(NULL), 0, "NULL");
    CHECK_FALLBACK(hearsay_member_tag_key(NULL, 0), NULL, "NULL");
    CHECK_FALLBACK(hearsay_member_tag_value(NULL, 0), NULL, "NULL");
    CHECK_FALLBACK(hearsay_member_tag_key(self, 0), NULL, "past the end");
    CHECK_FALLBACK(hearsay_member_tag_value(self, 5), NULL, "past the end");
    CHECK(hearsay_member_tag(self, "nope") == NULL);
    hearsay_members_free(m);

    /* events. */
    hearsay_event *esentinel = (hearsay_event *)0x1;
    hearsay_event *e = esentinel;
    CHECK_ERROR(hearsay_pool_next_event(NULL, 0, &e),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_pool_next_event(p, 0, NULL),
                HEARSAY_ERR_NULL_PARAMETER, "out");
    CHECK_ERROR(hearsay_pool_next_event(p, -2, &e),
                HEARSAY_ERR_INVALID_ARGUMENT, "timeout_ms");
    CHECK_RESULT(hearsay_pool_next_event(p, 0, &e), HEARSAY_EMPTY);
    CHECK_RESULT(hearsay_pool_next_event(p, 30, &e), HEARSAY_EMPTY);
    CHECK(e == esentinel);
    CHECK_FALLBACK(hearsay_event_get_type(NULL), HEARSAY_EVENT_NONE, "NULL");
    CHECK_FALLBACK(hearsay_event_member(NULL), NULL, "NULL");
    CHECK_FALLBACK(hearsay_event_name(NULL), NULL, "NULL");
    size_t len = 42;
    CHECK_FALLBACK(hearsay_event_payload(NULL, &len), NULL, "NULL");
    CHECK(len == 42);
    CHECK_FALLBACK(hearsay_pool_event_fd(NULL), -1, "NULL");
    CHECK(hearsay_pool_event_fd(p) >= 0);
    CHECK_FALLBACK(hearsay_pool_events_dropped(NULL), 0, "NULL");
    CHECK_FALLBACK(hearsay_pool_node_name(NULL), NULL, "NULL");

    /* stats: NULLs and a size the library does not know. */
    hearsay_stats st;
    memset(&st, 0xab, sizeof st);
    st.size = 0;
    CHECK_ERROR(hearsay_pool_stats(NULL, &st), HEARSAY_ERR_NULL_PARAMETER,
                "NULL");
    CHECK_ERROR(hearsay_pool_stats(p, NULL), HEARSAY_ERR_NULL_PARAMETER, "out");
    CHECK_ERROR(hearsay_pool_stats(p, &st), HEARSAY_ERR_INVALID_ARGUMENT,
                "size");
    CHECK(st.size == 0 && st.packets_in == 0xabababababababab);
    st.size = sizeof st;
    CHECK_OK(hearsay_pool_stats(p, &st));
    CHECK(st.size == sizeof st && st.members_alive == 1);

    /* tags at run time. */
    const char *keys[2] = {"a", NULL};
    const char *values[2] = {"1", "2"};
    CHECK_ERROR(hearsay_pool_set_tag(NULL, "k", "v"),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_pool_set_tag(p, NULL, "v"), HEARSAY_ERR_NULL_PARAMETER,
                "key");
    CHECK_ERROR(hearsay_pool_set_tag(p, "k", NULL), HEARSAY_ERR_NULL_PARAMETER,
                "value");
    CHECK_ERROR(hearsay_pool_set_tag(p, BAD_UTF8, "v"),
                HEARSAY_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK_ERROR(hearsay_pool_set_tag(p, "", "v"),
                HEARSAY_ERR_INVALID_ARGUMENT, "empty");
    char big[2000];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_ERROR(hearsay_pool_set_tag(p, "big", big),
                HEARSAY_ERR_INVALID_ARGUMENT, "max_meta_size");
    CHECK_ERROR(hearsay_pool_remove_tag(NULL, "k"),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_pool_remove_tag(p, NULL), HEARSAY_ERR_NULL_PARAMETER,
                "key");
    CHECK_ERROR(hearsay_pool_set_tags(NULL, keys, values, 1),
                HEARSAY_ERR_NULL_PARAMETER, "NULL");
    CHECK_ERROR(hearsay_pool_set_tags(p, NULL, values, 1),
                HEARSAY_ERR_NULL_PARAMETER, "keys");
    CHECK_ERROR(hearsay_pool_set_tags(p, keys, NULL, 1),
                HEARSAY_ERR_NULL_PARAMETER, "values");
    CHECK_ERROR(hearsay_pool_set_tags(p, keys, values, 2),
                HEARSAY_ERR_NULL_PARAMETER, "keys[1]");
    CHECK_OK(hearsay_pool_set_tags(p, keys, values, 1));
    CHECK_OK(hearsay_pool_set_tags(p, NULL, NULL, 0));

    /* leave. */
    CHECK_ERROR(hearsay_pool_leave(NULL, 100), HEARSAY_ERR_NULL_PARAMETER,
                "NULL");

    /* A query outlives its pool: once the pool is freed it is over. */
    hearsay_query *orphan = NULL;
    CHECK_OK(hearsay_pool_query(p, "orphan", NULL, 0, NULL, &orphan));
    hearsay_pool_free(p);
    hearsay_query_reply *reply = (hearsay_query_reply *)0x1;
    CHECK_RESULT(hearsay_query_next(orphan, -1, &reply), HEARSAY_ERR_CLOSED);
    CHECK(reply == (hearsay_query_reply *)0x1);
    hearsay_query_free(orphan);

    hearsay_config_free(c);
    hearsay_runtime_free(rt);
}

int main(void) {
    version_and_names();
    free_null_is_a_no_op();
    panics_are_caught();
    config_errors();
    query_params_errors();
    pool_errors();
    printf("test_errors: ok\n");
    return 0;
}
