/*
 * A pool in its own process, for test_processes: `helper_node NAME SEED`
 * (SEED "-" for none). Prints "ADDR ip:port" once bound and
 * "EVENT <type> <name>" for each event, one line each, flushed. Exits 0 when
 * its standard input is closed, or with 2 after 60 s as a safety net.
 */
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: helper_node NAME SEED|-\n");
        return 2;
    }
    hearsay_runtime *rt = NULL;
    CHECK_OK(hearsay_runtime_new(&rt));
    hearsay_config *c = fast_config(HEARSAY_PROFILE_LOCAL, argv[1]);
    hearsay_pool *p = start_pool(rt, c);
    hearsay_config_free(c);
    char addr[64];
    addr_of(p, addr, sizeof addr);
    printf("ADDR %s\n", addr);
    fflush(stdout);
    if (strcmp(argv[2], "-") != 0)
        join_one(p, argv[2]);

    long long give_up = now_ms() + 60000;
    struct pollfd fds[2] = {
        {.fd = 0, .events = POLLIN, .revents = 0},
        {.fd = hearsay_pool_event_fd(p), .events = POLLIN, .revents = 0},
    };
    int status = 2;
    while (now_ms() < give_up) {
        int n = poll(fds, 2, 1000);
        if (n < 0 && errno == EINTR)
            continue;
        CHECK(n >= 0);
        if (fds[0].revents) {
            char buf[64];
            if (read(0, buf, sizeof buf) <= 0) {
                status = 0; /* the test closed our input: done */
                break;
            }
        }
        hearsay_event *e = NULL;
        while (hearsay_pool_next_event(p, 0, &e) == HEARSAY_OK) {
            const hearsay_member *m = hearsay_event_member(e);
            printf("EVENT %d %s\n", (int)hearsay_event_get_type(e),
                   m ? hearsay_member_name(m) : "-");
            hearsay_event_free(e);
        }
        fflush(stdout);
    }
    hearsay_pool_free(p);
    hearsay_runtime_free(rt);
    return status;
}
