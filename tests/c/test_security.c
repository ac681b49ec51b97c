/*
 * Gossip encryption through the C ABI: keys added raw and in base64, a
 * wrongly keyed pool that cannot join, a key rotated across three pools with
 * the keyring operations and their reports, the keyring file, the
 * encryption policy, the allow-list, the new counters, and every bad
 * argument with its code.
 */
#include "common.h"

#include <sys/stat.h>
#include <unistd.h>

#define N 3

/* 32 bytes 0x01 and 0x02, in base64. */
static const char *OLD_KEY = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
static const char *NEW_KEY = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

static size_t alive_count(const hearsay_pool *p) {
    return count_status(p, HEARSAY_STATUS_ALIVE);
}

static void check_succeeded(hearsay_keyring_report *r, size_t members) {
    CHECK(hearsay_keyring_report_members(r) == members);
    CHECK(hearsay_keyring_report_responses(r) == members);
    CHECK(hearsay_keyring_report_error_count(r) == 0);
}

int main(void) {
    hearsay_runtime *rt = NULL;
    CHECK_OK(hearsay_runtime_new(&rt));

    char dir[] = "/tmp/hearsay-c-security.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char keyring_path[128];
    snprintf(keyring_path, sizeof keyring_path, "%s/keyring.json", dir);

    /* Three pools sharing the old key: the first added raw and with a
     * keyring file, the others in base64. */
    hearsay_pool *pools[N];
    char seed[64];
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "sec-%d", i);
        hearsay_config *c = fast_config(HEARSAY_PROFILE_LOCAL, name);
        if (i == 0) {
            uint8_t raw[32];
            memset(raw, 0x01, sizeof raw);
            CHECK_OK(hearsay_config_add_key(c, raw, sizeof raw));
            CHECK_OK(hearsay_config_set_keyring_file(c, keyring_path));
        } else {
            CHECK_OK(hearsay_config_add_key_base64(c, OLD_KEY));
        }
        pools[i] = start_pool(rt, c);
        hearsay_config_free(c);
        if (i == 0)
            addr_of(pools[0], seed, sizeof seed);
        else
            join_one(pools[i], seed);
    }
    for (int i = 0; i < N; i++)
        CHECK(WAIT_UNTIL(alive_count(pools[i]) == N, 10000));

    /* The keyring file was created from the configured key, mode 0600. */
    struct stat st;
    CHECK(stat(keyring_path, &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    /* A wrongly keyed pool cannot join, and its packets are counted. */
    hearsay_config *wc = fast_config(HEARSAY_PROFILE_LOCAL, "intruder");
    CHECK_OK(hearsay_config_add_key_base64(wc, NEW_KEY));
    hearsay_pool *intruder = start_pool(rt, wc);
    hearsay_config_free(wc);
    const char *seeds[] = {seed};
    size_t joined = 7;
    CHECK_RESULT(hearsay_pool_join(intruder, seeds, 1, &joined), HEARSAY_ERR_IO);
    CHECK(joined == 7);
    hearsay_stats stats;
    stats.size = sizeof stats;
    CHECK(WAIT_UNTIL((hearsay_pool_stats(pools[0], &stats) == HEARSAY_OK && stats.dropped_decrypt > 0), 5000));
    CHECK(stats.size == sizeof stats);
    CHECK(alive_count(pools[0]) == N);
    hearsay_pool_free(intruder);

    /* Rotation: install, use, remove, list. */
    hearsay_keyring_report *r = NULL;
    CHECK_OK(hearsay_pool_keyring_install(pools[1], NEW_KEY, &r));
    check_succeeded(r, N);
    CHECK(hearsay_keyring_report_key_count(r) == 0);
    hearsay_keyring_report_free(r);
    CHECK_OK(hearsay_pool_keyring_use(pools[2], NEW_KEY, &r));
    check_succeeded(r, N);
    hearsay_keyring_report_free(r);
    r = (hearsay_keyring_report *)0x1;
    CHECK_RESULT(hearsay_pool_keyring_remove(pools[0], NEW_KEY, &r), HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(hearsay_last_error(), "primary") != NULL);
    CHECK(r == (hearsay_keyring_report *)0x1);
    CHECK_OK(hearsay_pool_keyring_remove(pools[0], OLD_KEY, &r));
    check_succeeded(r, N);
    hearsay_keyring_report_free(r);
    CHECK_OK(hearsay_pool_keyring_list(pools[0], &r));
    check_succeeded(r, N);
    CHECK(hearsay_keyring_report_key_count(r) == 1);
    const char *key = NULL;
    size_t holders = 0, primary_of = 0;
    CHECK_OK(hearsay_keyring_report_key(r, 0, &key, &holders, &primary_of));
    CHECK(strcmp(key, NEW_KEY) == 0);
    CHECK(holders == N && primary_of == N);
    CHECK_RESULT(hearsay_keyring_report_key(r, 1, &key, &holders, &primary_of), HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK_RESULT(hearsay_keyring_report_key(r, 0, NULL, &holders, &primary_of), HEARSAY_ERR_NULL_PARAMETER);
    hearsay_keyring_report_free(r);

    /* Using a key nobody holds: every member reports it. */
    CHECK_OK(hearsay_pool_keyring_use(pools[1], OLD_KEY, &r));
    CHECK(hearsay_keyring_report_error_count(r) == N);
    const char *node = NULL, *message = NULL;
    CHECK_OK(hearsay_keyring_report_error(r, 0, &node, &message));
    CHECK(strncmp(node, "sec-", 4) == 0);
    CHECK(strstr(message, "not installed") != NULL);
    CHECK_RESULT(hearsay_keyring_report_error(r, N, &node, &message), HEARSAY_ERR_INVALID_ARGUMENT);
    hearsay_keyring_report_free(r);

    /* The keyring file follows the rotation: one key left in it. */
    CHECK(WAIT_UNTIL(({
        char text[512] = {0};
        FILE *f = fopen(keyring_path, "r");
        size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
        if (f)
            fclose(f);
        n > 0 && strstr(text, NEW_KEY) != NULL && strstr(text, OLD_KEY) == NULL;
    }), 5000));
    for (int i = 0; i < N; i++)
        CHECK(alive_count(pools[i]) == N);

    /* The encryption policy can be changed on a running pool. */
    CHECK_OK(hearsay_pool_set_encryption_policy(pools[2], false, true));
    CHECK_OK(hearsay_pool_set_encryption_policy(pools[2], true, true));
    CHECK_RESULT(hearsay_pool_set_encryption_policy(NULL, true, true), HEARSAY_ERR_NULL_PARAMETER);

    /* A plaintext pool is refused by the encrypted ones. */
    hearsay_config *pc = fast_config(HEARSAY_PROFILE_LOCAL, "plain");
    hearsay_pool *plain = start_pool(rt, pc);
    hearsay_config_free(pc);
    CHECK_RESULT(hearsay_pool_join(plain, seeds, 1, &joined), HEARSAY_ERR_IO);
    CHECK(WAIT_UNTIL((hearsay_pool_stats(pools[0], &stats) == HEARSAY_OK && stats.dropped_plaintext > 0), 5000));
    hearsay_pool_free(plain);

    /* Bad arguments. */
    hearsay_config *c = fast_config(HEARSAY_PROFILE_LOCAL, "bad");
    uint8_t short_key[15] = {0};
    CHECK_RESULT(hearsay_config_add_key(c, short_key, sizeof short_key), HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(hearsay_last_error(), "16, 24 or 32") != NULL);
    CHECK_RESULT(hearsay_config_add_key(c, NULL, 32), HEARSAY_ERR_NULL_PARAMETER);
    CHECK_RESULT(hearsay_config_add_key(NULL, short_key, 16), HEARSAY_ERR_NULL_PARAMETER);
    CHECK_RESULT(hearsay_config_add_key_base64(c, "not base64!"), HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(hearsay_last_error(), "base64") != NULL);
    CHECK_RESULT(hearsay_config_add_key_base64(c, "AAAA"), HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK_RESULT(hearsay_config_add_key_base64(c, NULL), HEARSAY_ERR_NULL_PARAMETER);
    CHECK_RESULT(hearsay_config_set_keyring_file(c, NULL), HEARSAY_ERR_NULL_PARAMETER);
    CHECK_RESULT(hearsay_config_set_verify_incoming(NULL, true), HEARSAY_ERR_NULL_PARAMETER);
    CHECK_RESULT(hearsay_config_set_verify_outgoing(NULL, true), HEARSAY_ERR_NULL_PARAMETER);
    CHECK_OK(hearsay_config_set_verify_incoming(c, false));
    CHECK_OK(hearsay_config_set_verify_outgoing(c, false));
    CHECK_RESULT(hearsay_config_add_allowed_cidr(c, "10.0.0.0/33"), HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(hearsay_last_error(), "network") != NULL);
    CHECK_RESULT(hearsay_config_add_allowed_cidr(c, NULL), HEARSAY_ERR_NULL_PARAMETER);
    CHECK_OK(hearsay_config_add_allowed_cidr(c, "127.0.0.0/8"));
    CHECK_OK(hearsay_config_add_allowed_cidr(c, "::1"));
    /* An invalid keyring file is refused at start, naming the entry. */
    char bad_path[128];
    snprintf(bad_path, sizeof bad_path, "%s/bad.json", dir);
    FILE *f = fopen(bad_path, "w");
    CHECK(f != NULL);
    fputs("[\"AAAA\"]", f);
    fclose(f);
    CHECK_OK(hearsay_config_set_keyring_file(c, bad_path));
    hearsay_pool *none = NULL;
    CHECK_RESULT(hearsay_pool_new(rt, c, &none), HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK(strstr(hearsay_last_error(), "key 0") != NULL);
    CHECK(none == NULL);
    hearsay_config_free(c);
    /* A plaintext pool has nothing to rotate: list answers with no key. */
    c = fast_config(HEARSAY_PROFILE_LOCAL, "nokeys");
    hearsay_pool *nokeys = start_pool(rt, c);
    hearsay_config_free(c);
    CHECK_OK(hearsay_pool_keyring_list(nokeys, &r));
    CHECK(hearsay_keyring_report_responses(r) == 1);
    CHECK(hearsay_keyring_report_key_count(r) == 0);
    hearsay_keyring_report_free(r);
    CHECK_RESULT(hearsay_pool_keyring_install(nokeys, "AAAA", &r), HEARSAY_ERR_INVALID_ARGUMENT);
    CHECK_RESULT(hearsay_pool_keyring_install(nokeys, NULL, &r), HEARSAY_ERR_NULL_PARAMETER);
    CHECK_RESULT(hearsay_pool_keyring_list(nokeys, NULL), HEARSAY_ERR_NULL_PARAMETER);
    CHECK_RESULT(hearsay_pool_keyring_list(NULL, &r), HEARSAY_ERR_NULL_PARAMETER);
    CHECK(hearsay_keyring_report_members(NULL) == 0);
    CHECK(hearsay_keyring_report_key_count(NULL) == 0);
    hearsay_keyring_report_free(NULL);
    hearsay_pool_free(nokeys);

    for (int i = 0; i < N; i++)
        hearsay_pool_free(pools[i]);
    hearsay_runtime_free(rt);
    unlink(keyring_path);
    unlink(bad_path);
    rmdir(dir);
    printf("test_security: ok\n");
    return 0;
}
