/*
 * Creating and freeing 200 runtimes, each with a pool (every 20th with a
 * second pool that joins the first), leaves the process's thread count and
 * open descriptor count where they were after one warm-up runtime.
 */
#include <dirent.h>

#include "common.h"

#define ROUNDS 200

static int thread_count(void) {
    FILE *f = fopen("/proc/self/status", "r");
    CHECK(f != NULL);
    char line[256];
    int threads = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &threads) == 1)
            break;
    fclose(f);
    CHECK(threads > 0);
    return threads;
}

static int fd_count(void) {
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL)
        if (entry->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void one_round(int i) {
    hearsay_runtime *rt = NULL;
    CHECK_OK(hearsay_runtime_new(&rt));
    char name[32];
    snprintf(name, sizeof name, "life-%d", i);
    hearsay_config *c = fast_config(HEARSAY_PROFILE_LOCAL, name);
    hearsay_pool *p = start_pool(rt, c);
    hearsay_members *m = NULL;
    CHECK_OK(hearsay_pool_members(p, &m));
    CHECK(hearsay_members_count(m) == 1);
    hearsay_members_free(m);
    if (i % 20 == 0) {
        char seed[64];
        addr_of(p, seed, sizeof seed);
        CHECK_OK(hearsay_config_set_node_name(c, "life-second"));
        hearsay_pool *q = start_pool(rt, c);
        join_one(q, seed);
        CHECK(await_event(p, HEARSAY_EVENT_MEMBER_JOIN, "life-second", 5000));
        hearsay_pool_free(q);
    }
    hearsay_config_free(c);
    /* Half the time the runtime goes first, stopping the pool under it. */
    if (i % 2) {
        hearsay_runtime_free(rt);
        hearsay_pool_free(p);
    } else {
        hearsay_pool_free(p);
        hearsay_runtime_free(rt);
    }
}

int main(void) {
    one_round(-1); /* warm-up: process-wide threads and state start here */
    int threads0 = thread_count();
    int fds0 = fd_count();
    long long t0 = now_ms();
    for (int i = 0; i < ROUNDS; i++)
        one_round(i);
    long long took = now_ms() - t0;
    /* Helper threads of the I/O library may take a moment to retire. */
    int settled = WAIT_UNTIL(thread_count() <= threads0 && fd_count() <= fds0,
                             10000);
    printf("%d rounds in %lld ms; threads %d -> %d, descriptors %d -> %d\n",
           ROUNDS, took, threads0, thread_count(), fds0, fd_count());
    CHECK(settled);
    CHECK(thread_count() == threads0);
    CHECK(fd_count() == fds0);
    printf("test_lifecycle: ok\n");
    return 0;
}
