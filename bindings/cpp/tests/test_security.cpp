// Gossip encryption through the C++ binding: pools sharing a key join, other
// keys and plaintext are refused and counted, a key is rotated across the
// pool with the reports checked, the keyring file, the encryption policy, the
// source allow-list and bad keys.
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.hpp"

using harness::alive_count;
using harness::status_of;
using harness::test_config;
using std::chrono::milliseconds;

namespace {

// 32 bytes 0x01 and 0x02, in base64.
const std::string kOldKey = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const std::string kNewKey = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
const std::vector<std::uint8_t> kOldRaw(32, 0x01);

/// A fresh directory under /tmp, removed with everything in it at the end.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = "/tmp/hearsay-cpp-security.XXXXXX";
        if (!::mkdtemp(tmpl.data())) throw harness::Failure("mkdtemp failed");
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const char* name) const { return (path / name).string(); }
};

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// `n` pools sharing the old key, converged: the first given it raw with a
/// keyring file, the others in base64.
std::vector<hearsay::Pool> keyed_cluster(hearsay::Runtime& rt, std::size_t n, const std::string& keyring) {
    std::vector<hearsay::Pool> pools;
    pools.push_back(rt.pool(test_config("k0").add_key(kOldRaw).keyring_file(keyring)));
    const std::string seed = pools[0].local_addr();
    for (std::size_t i = 1; i < n; ++i) {
        pools.push_back(rt.pool(test_config("k" + std::to_string(i)).add_key_base64(kOldKey)));
        CHECK_EQ(pools.back().join({seed}), 1u);
    }
    for (const hearsay::Pool& p : pools) {
        CHECK_MSG(harness::wait_until([&] { return alive_count(p) == n; }, milliseconds(10000)), harness::describe(p));
    }
    return pools;
}

/// The refusal a join gets when no seed can read it.
void check_join_refused(hearsay::Pool& joiner, const std::string& seed) {
    CHECK_THROWS_WITH(joiner.join({seed}), hearsay::IoError, hearsay::Result::Io, "seed addresses answered");
}

}  // namespace

TEST(shared_key_pools_join) {
    TempDir dir;
    const std::string keyring = dir.file("keyring.json");
    hearsay::Runtime rt;
    std::vector<hearsay::Pool> pools = keyed_cluster(rt, 3, keyring);
    // The keyring file was created from the configured key, for its owner only.
    struct stat st {};
    CHECK_EQ(::stat(keyring.c_str(), &st), 0);
    CHECK_EQ(st.st_mode & 0777u, 0600u);
    CHECK(contains(read_file(keyring), kOldKey));
    for (const hearsay::Pool& p : pools) {
        const hearsay::Stats s = p.stats();
        CHECK_EQ(s.members_alive, 3u);
        CHECK_EQ(s.dropped_decrypt, 0u);
        CHECK_EQ(s.dropped_plaintext, 0u);
        CHECK_EQ(s.dropped_source, 0u);
        CHECK_EQ(s.keyring_file_errors, 0u);
    }
}

TEST(other_key_cannot_join) {
    TempDir dir;
    hearsay::Runtime rt;
    std::vector<hearsay::Pool> pools = keyed_cluster(rt, 2, dir.file("keyring.json"));
    const std::string seed = pools[0].local_addr();

    hearsay::Pool intruder = rt.pool(test_config("intruder").add_key_base64(kNewKey));
    check_join_refused(intruder, seed);
    WAIT_UNTIL(pools[0].stats().dropped_decrypt > 0, 5000);
    CHECK_EQ(intruder.members().size(), 1u);

    hearsay::Pool plain = rt.pool(test_config("plain"));
    check_join_refused(plain, seed);
    WAIT_UNTIL(pools[0].stats().dropped_plaintext > 0, 5000);
    for (const hearsay::Pool& p : pools) CHECK_EQ(alive_count(p), 2u);
}

TEST(key_rotation) {
    TempDir dir;
    const std::string keyring = dir.file("keyring.json");
    hearsay::Runtime rt;
    std::vector<hearsay::Pool> pools = keyed_cluster(rt, 3, keyring);

    hearsay::KeyringReport r = pools[1].keyring_install(kNewKey);
    CHECK(r.succeeded());
    CHECK_EQ(r.members, 3u);
    CHECK_EQ(r.responses, 3u);
    CHECK_EQ(r.missing(), 0u);
    CHECK(r.errors.empty());
    CHECK(r.keys.empty());
    r = pools[2].keyring_use(kNewKey);
    CHECK(r.succeeded());
    CHECK_EQ(r.responses, 3u);

    // The local primary cannot be removed: refused before asking anyone.
    CHECK_THROWS_WITH(pools[0].keyring_remove(kNewKey), hearsay::InvalidArgumentError,
                      hearsay::Result::InvalidArgument, "primary");
    r = pools[0].keyring_remove(kOldKey);
    CHECK(r.succeeded());

    r = pools[0].keyring_list();
    CHECK(r.succeeded());
    CHECK_EQ(r.keys.size(), 1u);
    CHECK(r.keys.count(kNewKey) == 1);
    CHECK(r.keys.at(kNewKey) == (hearsay::KeyHolders{3, 3}));

    // A key nobody holds any more: every member says so.
    r = pools[1].keyring_use(kOldKey);
    CHECK(!r.succeeded());
    CHECK_EQ(r.errors.size(), 3u);
    for (const auto& kv : r.errors) {
        CHECK_MSG(status_of(pools[0], kv.first) == hearsay::Status::Alive, kv.first);
        CHECK_MSG(contains(kv.second, "not installed"), kv.second);
    }

    // The keyring file follows, so a restart comes back with the new key.
    WAIT_UNTIL(contains(read_file(keyring), kNewKey) && !contains(read_file(keyring), kOldKey), 5000);
    for (const hearsay::Pool& p : pools) CHECK_EQ(alive_count(p), 3u);

    // Only the new key gets in now.
    const std::string seed = pools[0].local_addr();
    hearsay::Pool stale = rt.pool(test_config("stale").add_key_base64(kOldKey));
    check_join_refused(stale, seed);
    hearsay::Pool fresh = rt.pool(test_config("fresh").add_key_base64(kNewKey));
    CHECK_EQ(fresh.join({seed}), 1u);
    WAIT_UNTIL(status_of(pools[2], "fresh") == hearsay::Status::Alive, 10000);
}

TEST(keyring_file_supplies_the_keys) {
    TempDir dir;
    const std::string keyring = dir.file("keyring.json");
    std::ofstream(keyring) << "[\"" << kNewKey << "\", \"" << kOldKey << "\"]";
    hearsay::Runtime rt;
    // The file wins over the configured key: the new key is the primary.
    hearsay::Pool p = rt.pool(test_config("file").add_key_base64(kOldKey).keyring_file(keyring));
    const hearsay::KeyringReport r = p.keyring_list();
    CHECK_EQ(r.keys.size(), 2u);
    CHECK(r.keys.at(kNewKey) == (hearsay::KeyHolders{1, 1}));
    CHECK(r.keys.at(kOldKey) == (hearsay::KeyHolders{1, 0}));

    std::ofstream(keyring) << "[\"AAAA\"]";
    CHECK_THROWS_WITH(rt.pool(test_config("bad-file").keyring_file(keyring)), hearsay::InvalidArgumentError,
                      hearsay::Result::InvalidArgument, "key 0");
}

TEST(encryption_policy_migration) {
    hearsay::Runtime rt;
    // Step one of a migration: keyed, yet accepting and sending plaintext, so
    // a pool without keys can join.
    hearsay::Pool keyed =
        rt.pool(test_config("keyed").add_key_base64(kOldKey).verify_incoming(false).verify_outgoing(false));
    hearsay::Pool plain = rt.pool(test_config("plain"));
    CHECK_EQ(plain.join({keyed.local_addr()}), 1u);
    WAIT_UNTIL(alive_count(keyed) == 2 && alive_count(plain) == 2, 10000);
    CHECK_EQ(keyed.stats().dropped_plaintext, 0u);
    // Requiring encryption again on the running pool refuses the plaintext
    // pool's packets from then on.
    keyed.set_encryption_policy(true, true);
    WAIT_UNTIL(keyed.stats().dropped_plaintext > 0, 10000);

    keyed.close();
    CHECK_THROWS(keyed.set_encryption_policy(true, true), hearsay::ClosedError, hearsay::Result::Closed);
    CHECK_THROWS(keyed.keyring_list(), hearsay::ClosedError, hearsay::Result::Closed);
}

TEST(allowed_cidrs) {
    hearsay::Runtime rt;
    hearsay::Pool fenced = rt.pool(test_config("fenced").add_allowed_cidr("10.0.0.0/8"));
    hearsay::Pool open = rt.pool(test_config("open").add_allowed_cidr("127.0.0.0/8").add_allowed_cidr("::1"));
    hearsay::Pool joiner = rt.pool(test_config("joiner"));
    check_join_refused(joiner, fenced.local_addr());
    WAIT_UNTIL(fenced.stats().dropped_source > 0, 5000);
    CHECK_EQ(joiner.join({open.local_addr()}), 1u);
    CHECK_EQ(open.stats().dropped_source, 0u);
}

TEST(bad_keys) {
    using hearsay::InvalidArgumentError;
    const auto invalid = hearsay::Result::InvalidArgument;
    hearsay::Config c(hearsay::Profile::Local);
    CHECK_THROWS_WITH(c.add_key(std::vector<std::uint8_t>(15)), InvalidArgumentError, invalid, "16, 24 or 32");
    CHECK_THROWS_WITH(c.add_key(std::vector<std::uint8_t>()), InvalidArgumentError, invalid, "16, 24 or 32");
    CHECK_THROWS_WITH(c.add_key_base64("not base64!"), InvalidArgumentError, invalid, "base64");
    CHECK_THROWS_WITH(c.add_key_base64("AAAA"), InvalidArgumentError, invalid, "16, 24 or 32");
    CHECK_THROWS_WITH(c.add_allowed_cidr("10.0.0.0/33"), InvalidArgumentError, invalid, "network");
    // Every accepted length; the rvalue setters chain too.
    c.add_key(std::vector<std::uint8_t>(16, 7)).add_key(std::vector<std::uint8_t>(24, 7)).add_key(kOldRaw);
    c.validate();
    hearsay::Config::local().add_key_base64(kNewKey).keyring_file("").verify_incoming(true).validate();

    hearsay::Runtime rt;
    hearsay::Pool p = rt.pool(test_config("k").add_key_base64(kOldKey));
    CHECK_THROWS_WITH(p.keyring_install("AAAA"), InvalidArgumentError, invalid, "16, 24 or 32");
    CHECK_THROWS_WITH(p.keyring_use("not base64!"), InvalidArgumentError, invalid, "base64");
    CHECK_THROWS_WITH(p.keyring_remove(""), InvalidArgumentError, invalid, "16, 24 or 32");
}

TEST_MAIN()
