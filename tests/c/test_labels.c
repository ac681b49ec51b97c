/*
 * A LAN pool and a WAN pool with distinct labels share one port on one
 * runtime. Each converges to its own membership (three members apiece), and
 * neither ever lists, or reports an event about, a member of the other. A
 * pool with a third label cannot join through that port.
 */
#include "common.h"

#define PER 3

static hearsay_pool *lan[PER], *wan[PER];

/* Checks every snapshot and every event of `p`: only names starting with
 * `prefix`. Returns how many alive members it lists. */
static size_t check_pure(hearsay_pool *p, const char *prefix) {
    hearsay_members *m = NULL;
    CHECK_OK(hearsay_pool_members(p, &m));
    size_t alive = 0;
    for (size_t i = 0; i < hearsay_members_count(m); i++) {
        const hearsay_member *member = hearsay_members_get(m, i);
        const char *name = hearsay_member_name(member);
        if (strncmp(name, prefix, strlen(prefix)) != 0)
            FAIL("a %s pool lists %s", prefix, name);
        if (hearsay_member_status(member) == HEARSAY_STATUS_ALIVE)
            alive++;
    }
    hearsay_members_free(m);
    hearsay_event *e = NULL;
    while (hearsay_pool_next_event(p, 0, &e) == HEARSAY_OK) {
        const char *name = hearsay_member_name(hearsay_event_member(e));
        if (strncmp(name, prefix, strlen(prefix)) != 0)
            FAIL("a %s pool reports an event about %s", prefix, name);
        hearsay_event_free(e);
    }
    return alive;
}

static int converged(void) {
    int ok = 1;
    for (int i = 0; i < PER; i++) {
        ok &= check_pure(lan[i], "lan-") == PER;
        ok &= check_pure(wan[i], "wan-") == PER;
    }
    return ok;
}

static hearsay_pool *labelled(hearsay_runtime *rt, hearsay_profile profile,
                              const char *name, const char *label,
                              const char *bind) {
    hearsay_config *c = fast_config(profile, name);
    CHECK_OK(hearsay_config_set_label(c, label));
    CHECK_OK(hearsay_config_set_bind_addr(c, bind));
    hearsay_pool *p = start_pool(rt, c);
    hearsay_config_free(c);
    return p;
}

int main(void) {
    hearsay_runtime *rt[2] = {NULL, NULL};
    CHECK_OK(hearsay_runtime_new(&rt[0]));
    CHECK_OK(hearsay_runtime_new(&rt[1]));

    lan[0] = labelled(rt[0], HEARSAY_PROFILE_LAN, "lan-0", "dc1", "127.0.0.1:0");
    char shared[64];
    addr_of(lan[0], shared, sizeof shared);
    wan[0] = labelled(rt[0], HEARSAY_PROFILE_WAN, "wan-0", "wan", shared);
    char wan_addr[64];
    addr_of(wan[0], wan_addr, sizeof wan_addr);
    CHECK(strcmp(shared, wan_addr) == 0);

    for (int i = 1; i < PER; i++) {
        char name[32];
        snprintf(name, sizeof name, "lan-%d", i);
        lan[i] = labelled(rt[i % 2], HEARSAY_PROFILE_LAN, name, "dc1",
                          "127.0.0.1:0");
        snprintf(name, sizeof name, "wan-%d", i);
        wan[i] = labelled(rt[i % 2], HEARSAY_PROFILE_WAN, name, "wan",
                          "127.0.0.1:0");
        join_one(lan[i], shared);
        join_one(wan[i], shared);
    }

    CHECK(WAIT_UNTIL(converged(), 15000));

    /* A third label finds nobody at the shared port. */
    hearsay_pool *stranger =
        labelled(rt[1], HEARSAY_PROFILE_LAN, "lan-stranger", "other",
                 "127.0.0.1:0");
    size_t joined = 0;
    const char *seeds[1] = {shared};
    hearsay_result r = hearsay_pool_join(stranger, seeds, 1, &joined);
    CHECK(r == HEARSAY_ERR_IO || (r == HEARSAY_OK && joined == 0));
    CHECK(count_status(stranger, HEARSAY_STATUS_ALIVE) == 1);
    hearsay_pool_free(stranger);

    /* Stay pure across a few more gossip and push-pull rounds. */
    long long until = now_ms() + 2500;
    while (now_ms() < until) {
        CHECK(converged());
        poll_pause();
    }

    for (int i = 0; i < PER; i++) {
        hearsay_pool_free(lan[i]);
        hearsay_pool_free(wan[i]);
    }
    hearsay_runtime_free(rt[0]);
    hearsay_runtime_free(rt[1]);
    printf("test_labels: ok\n");
    return 0;
}
