/*
 * The smallest program against an installed hearsay: built by run.sh with
 * `pkg-config --cflags --libs hearsay` (shared) and `--static
 * hearsay-static` (static). Two pools on one runtime join and see each
 * other.
 */
#include <hearsay.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what, hearsay_result r) {
    fprintf(stderr, "%s: %s: %s\n", what, hearsay_result_name(r),
            hearsay_last_error());
    return 1;
}

int main(void) {
    if (hearsay_abi_version() >> 16 != HEARSAY_ABI_VERSION_MAJOR) {
        fprintf(stderr, "ABI major mismatch\n");
        return 1;
    }
    hearsay_runtime *rt = NULL;
    hearsay_config *c = NULL;
    hearsay_pool *a = NULL, *b = NULL;
    hearsay_result r;
    if ((r = hearsay_runtime_new(&rt)) != HEARSAY_OK)
        return fail("runtime", r);
    if ((r = hearsay_config_new(HEARSAY_PROFILE_LOCAL, &c)) != HEARSAY_OK)
        return fail("config", r);
    hearsay_config_set_node_name(c, "example-a");
    if ((r = hearsay_pool_new(rt, c, &a)) != HEARSAY_OK)
        return fail("pool a", r);
    hearsay_config_set_node_name(c, "example-b");
    if ((r = hearsay_pool_new(rt, c, &b)) != HEARSAY_OK)
        return fail("pool b", r);
    hearsay_config_free(c);

    char addr[64];
    if ((r = hearsay_pool_local_addr(a, addr, sizeof addr)) != HEARSAY_OK)
        return fail("local_addr", r);
    const char *seeds[] = {addr};
    size_t joined = 0;
    if ((r = hearsay_pool_join(b, seeds, 1, &joined)) != HEARSAY_OK)
        return fail("join", r);

    hearsay_members *m = NULL;
    if ((r = hearsay_pool_members(b, &m)) != HEARSAY_OK)
        return fail("members", r);
    size_t n = hearsay_members_count(m);
    for (size_t i = 0; i < n; i++) {
        const hearsay_member *member = hearsay_members_get(m, i);
        printf("%s %s %d\n", hearsay_member_name(member),
               hearsay_member_addr(member), (int)hearsay_member_status(member));
    }
    hearsay_members_free(m);
    hearsay_pool_free(b);
    hearsay_pool_free(a);
    hearsay_runtime_free(rt);
    printf("hearsay %s: %zu members\n", hearsay_version(), n);
    return n == 2 ? 0 : 1;
}
