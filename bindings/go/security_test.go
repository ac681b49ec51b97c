package hearsay

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	oldKeyRaw = bytes.Repeat([]byte{1}, 32)
	oldKey    = base64.StdEncoding.EncodeToString(oldKeyRaw)
	newKey    = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
)

// keyedCluster starts n pools sharing oldKey: node-0 given it raw with a
// keyring file at path, the others in base64.
func keyedCluster(t *testing.T, n int, path string) *cluster {
	t.Helper()
	return newCluster(t, n, func(i int, c *Config) {
		if i == 0 {
			c.Keys = [][]byte{oldKeyRaw}
			c.KeyringFile = path
		} else {
			c.KeysBase64 = []string{oldKey}
		}
	})
}

func readKeyring(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var keys []string
	if err := json.Unmarshal(data, &keys); err != nil {
		t.Fatalf("keyring file %s: %v (%q)", path, err, data)
	}
	return keys
}

// wantRefusedJoin checks that a Join failed because no seed answered.
func wantRefusedJoin(t *testing.T, n int, err error) {
	t.Helper()
	var e *Error
	if !errors.Is(err, ErrIO) || !errors.As(err, &e) || e.Code != CodeIO ||
		!strings.Contains(e.Message, "seed addresses answered") {
		t.Fatalf("Join = %d, %v; want ErrIO, no seed answered", n, err)
	}
}

// wantInvalid checks for ErrInvalidArgument with text in the message.
func wantInvalid(t *testing.T, what string, err error, text string) {
	t.Helper()
	var e *Error
	if !errors.Is(err, ErrInvalidArgument) || !errors.As(err, &e) || !strings.Contains(e.Message, text) {
		t.Fatalf("%s: %v; want ErrInvalidArgument mentioning %q", what, err, text)
	}
}

// counterAboveZero is a waitFor condition: field of p's stats is above 0.
func counterAboveZero(t *testing.T, p *Pool, field func(Stats) uint64) func() (bool, string) {
	return func() (bool, string) {
		st, err := p.Stats()
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		return field(st) > 0, fmt.Sprintf("%+v", st)
	}
}

func TestEncryptedPoolsJoin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	c := keyedCluster(t, 3, path)
	// The keyring file was created from the configured key, for its owner only.
	if got := readKeyring(t, path); !reflect.DeepEqual(got, []string{oldKey}) {
		t.Fatalf("keyring file = %v", got)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file mode: %v, %v", fi.Mode(), err)
	}
	for _, p := range c.pools {
		st, err := p.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.MembersAlive != 3 || st.DroppedDecrypt != 0 || st.DroppedPlaintext != 0 || st.DroppedSource != 0 ||
			st.KeyringFileErrors != 0 {
			t.Fatalf("%s stats: %+v", p.NodeName(), st)
		}
	}
}

func TestOtherKeyCannotJoin(t *testing.T) {
	c := keyedCluster(t, 2, filepath.Join(t.TempDir(), "keyring.json"))
	intruder := newPool(t, c.rts[0], Config{
		Profile: ProfileLocal, NodeName: "intruder", TCPTimeout: 500 * time.Millisecond,
		KeysBase64: []string{newKey},
	})
	n, err := intruder.Join(context.Background(), c.seed)
	wantRefusedJoin(t, n, err)
	waitFor(t, 5*time.Second, "dropped_decrypt > 0 at the seed", counterAboveZero(t, c.pools[0], func(s Stats) uint64 { return s.DroppedDecrypt }))
	if ms, _ := intruder.Members(); len(ms) != 1 {
		t.Fatalf("intruder sees %v", ms)
	}

	plain := newPool(t, c.rts[0], Config{Profile: ProfileLocal, NodeName: "plain", TCPTimeout: 500 * time.Millisecond})
	n, err = plain.Join(context.Background(), c.seed)
	wantRefusedJoin(t, n, err)
	waitFor(t, 5*time.Second, "dropped_plaintext > 0 at the seed", counterAboveZero(t, c.pools[0], func(s Stats) uint64 { return s.DroppedPlaintext }))
	c.awaitAlive(t, c.pools, 2)
}

func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyring.json")
	c := keyedCluster(t, 3, path)
	names := map[string]bool{}
	for _, p := range c.pools {
		names[p.NodeName()] = true
	}
	succeeded := func(what string, r KeyringReport, err error) {
		t.Helper()
		if err != nil || !r.Succeeded() || r.Members != 3 || r.Responses != 3 || r.Missing() != 0 || len(r.Errors) != 0 {
			t.Fatalf("%s: %+v, %v", what, r, err)
		}
	}

	r, err := c.pools[1].KeyringInstall(ctx, newKey)
	succeeded("install", r, err)
	if len(r.Keys) != 0 {
		t.Fatalf("install lists keys: %v", r.Keys)
	}
	r, err = c.pools[2].KeyringUse(ctx, newKey)
	succeeded("use", r, err)

	// The local primary cannot be removed: refused before asking anyone.
	_, err = c.pools[0].KeyringRemove(ctx, newKey)
	wantInvalid(t, "removing the primary", err, "primary")
	r, err = c.pools[0].KeyringRemove(ctx, oldKey)
	succeeded("remove", r, err)

	r, err = c.pools[0].KeyringList(ctx)
	succeeded("list", r, err)
	if want := map[string]KeyHolders{newKey: {Holders: 3, PrimaryOf: 3}}; !reflect.DeepEqual(r.Keys, want) {
		t.Fatalf("list keys = %v, want %v", r.Keys, want)
	}

	// A key nobody holds any more: every member says so.
	r, err = c.pools[1].KeyringUse(ctx, oldKey)
	if err != nil || r.Succeeded() || len(r.Errors) != 3 {
		t.Fatalf("use of a removed key: %+v, %v", r, err)
	}
	for node, msg := range r.Errors {
		if !names[node] || !strings.Contains(msg, "not installed") {
			t.Fatalf("error of %q: %q", node, msg)
		}
	}

	// The keyring file follows, so a restart comes back with the new key.
	waitFor(t, 5*time.Second, "the keyring file to hold the new key alone", func() (bool, string) {
		got := readKeyring(t, path)
		return reflect.DeepEqual(got, []string{newKey}), fmt.Sprint(got)
	})
	c.awaitAlive(t, c.pools, 3)

	// Only the new key gets in now.
	stale := newPool(t, c.rts[0], Config{Profile: ProfileLocal, NodeName: "stale", TCPTimeout: 500 * time.Millisecond,
		KeysBase64: []string{oldKey}})
	n, err := stale.Join(ctx, c.seed)
	wantRefusedJoin(t, n, err)
	fresh := newPool(t, c.rts[1], Config{Profile: ProfileLocal, NodeName: "fresh", TCPTimeout: 500 * time.Millisecond,
		KeysBase64: []string{newKey}})
	if n, err := fresh.Join(ctx, c.seed); err != nil || n != 1 {
		t.Fatalf("fresh Join = %d, %v", n, err)
	}
	awaitStatus(t, c.pools, "fresh", StatusAlive, 10*time.Second)
}

func TestKeyringFileSuppliesTheKeys(t *testing.T) {
	rt := newRuntime(t)
	path := filepath.Join(t.TempDir(), "keyring.json")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("[%q, %q]", newKey, oldKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file wins over the configured key: newKey is the primary.
	p := newPool(t, rt, Config{Profile: ProfileLocal, NodeName: "file", KeysBase64: []string{oldKey}, KeyringFile: path})
	r, err := p.KeyringList(context.Background())
	want := map[string]KeyHolders{newKey: {1, 1}, oldKey: {1, 0}}
	if err != nil || !reflect.DeepEqual(r.Keys, want) {
		t.Fatalf("list = %+v, %v; want keys %v", r, err, want)
	}

	if err := os.WriteFile(path, []byte(`["AAAA"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = rt.NewPool(Config{Profile: ProfileLocal, NodeName: "bad-file", KeyringFile: path})
	wantInvalid(t, "invalid keyring file", err, "key 0")
}

func TestEncryptionPolicyMigration(t *testing.T) {
	rt := newRuntime(t)
	// Step one of a migration: keyed, yet accepting and sending plaintext,
	// so a pool without keys can join.
	cfg := fastConfig("keyed")
	cfg.KeysBase64 = []string{oldKey}
	cfg.DisableVerifyIncoming = true
	cfg.DisableVerifyOutgoing = true
	keyed := newPool(t, rt, cfg)
	plain := newPool(t, rt, fastConfig("plain"))
	if n, err := plain.Join(context.Background(), localAddr(t, keyed)); err != nil || n != 1 {
		t.Fatalf("plain Join = %d, %v", n, err)
	}
	(&cluster{}).awaitAlive(t, []*Pool{keyed, plain}, 2)
	if st, _ := keyed.Stats(); st.DroppedPlaintext != 0 {
		t.Fatalf("plaintext dropped during the migration: %+v", st)
	}
	// Requiring encryption again on the running pool refuses the plaintext
	// pool's packets from then on.
	if err := keyed.SetEncryptionPolicy(true, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "dropped_plaintext > 0", counterAboveZero(t, keyed, func(s Stats) uint64 { return s.DroppedPlaintext }))

	keyed.Close()
	if err := keyed.SetEncryptionPolicy(true, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetEncryptionPolicy after Close: %v", err)
	}
	if _, err := keyed.KeyringList(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("KeyringList after Close: %v", err)
	}
}

func TestAllowedCIDRs(t *testing.T) {
	rt := newRuntime(t)
	fencedCfg := fastConfig("fenced")
	fencedCfg.AllowedCIDRs = []string{"10.0.0.0/8"}
	fenced := newPool(t, rt, fencedCfg)
	openCfg := fastConfig("open")
	openCfg.AllowedCIDRs = []string{"127.0.0.0/8", "::1"}
	open := newPool(t, rt, openCfg)
	joiner := newPool(t, rt, fastConfig("joiner"))

	n, err := joiner.Join(context.Background(), localAddr(t, fenced))
	wantRefusedJoin(t, n, err)
	waitFor(t, 5*time.Second, "dropped_source > 0", counterAboveZero(t, fenced, func(s Stats) uint64 { return s.DroppedSource }))
	if n, err := joiner.Join(context.Background(), localAddr(t, open)); err != nil || n != 1 {
		t.Fatalf("Join of the open pool = %d, %v", n, err)
	}
	if st, _ := open.Stats(); st.DroppedSource != 0 {
		t.Fatalf("open pool dropped by source: %+v", st)
	}
}

func TestBadKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		text string
	}{
		{"short raw key", Config{Keys: [][]byte{make([]byte, 15)}}, "16, 24 or 32"},
		{"empty raw key", Config{Keys: [][]byte{{}}}, "16, 24 or 32"},
		{"not base64", Config{KeysBase64: []string{"not base64!"}}, "base64"},
		{"short base64 key", Config{KeysBase64: []string{"AAAA"}}, "16, 24 or 32"},
		{"NUL in a key", Config{KeysBase64: []string{"AA\x00A"}}, "NUL"},
		{"not a network", Config{AllowedCIDRs: []string{"10.0.0.0/33"}}, "network"},
	} {
		tc.cfg.Profile = ProfileLocal
		wantInvalid(t, tc.name, tc.cfg.Validate(), tc.text)
	}
	ok := Config{Profile: ProfileLocal, Keys: [][]byte{make([]byte, 16), make([]byte, 24)},
		KeysBase64: []string{oldKey}, AllowedCIDRs: []string{"fd00::/8"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("keys of 16, 24 and 32 bytes: %v", err)
	}

	rt := newRuntime(t)
	_, err := rt.NewPool(Config{Profile: ProfileLocal, Keys: [][]byte{make([]byte, 20)}})
	wantInvalid(t, "NewPool with a short key", err, "16, 24 or 32")

	cfg := fastConfig("k")
	cfg.KeysBase64 = []string{oldKey}
	p := newPool(t, rt, cfg)
	ctx := context.Background()
	_, err = p.KeyringInstall(ctx, "AAAA")
	wantInvalid(t, "install of a short key", err, "16, 24 or 32")
	_, err = p.KeyringUse(ctx, "not base64!")
	wantInvalid(t, "use of text that is not base64", err, "base64")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.KeyringList(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("KeyringList with a cancelled context: %v", err)
	}
}
