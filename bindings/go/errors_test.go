package hearsay

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

func isClosed(err error) bool { return errors.Is(err, ErrClosed) }

func expectCode(t *testing.T, what string, err error, sentinel error, code Code) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s: got %v, want %v", what, err, sentinel)
	}
	var he *Error
	if !errors.As(err, &he) {
		t.Fatalf("%s: %T is not an *Error", what, err)
	}
	if he.Code != code || he.Message == "" || he.Op == "" {
		t.Fatalf("%s: %+v", what, he)
	}
	if !strings.Contains(err.Error(), code.String()) {
		t.Fatalf("%s: %q does not name %s", what, err.Error(), code)
	}
	for _, other := range []error{ErrNullParameter, ErrInvalidArgument, ErrAddrInUse, ErrIO, ErrTimeout,
		ErrClosed, ErrUnsupported, ErrBufferTooSmall, ErrPanic} {
		if other != sentinel && errors.Is(err, other) {
			t.Fatalf("%s: %v also matches %v", what, err, other)
		}
	}
}

func TestBadConfig(t *testing.T) {
	rt := newRuntime(t)
	cases := []struct {
		name string
		mod  func(*Config)
	}{
		{"bad bind address", func(c *Config) { c.Bind = "not-an-addr" }},
		{"bad advertise address", func(c *Config) { c.Advertise = "nowhere" }},
		{"probe timeout not below interval", func(c *Config) { c.ProbeTimeout = c.ProbeInterval }},
		{"too many gossip nodes", func(c *Config) { c.GossipNodes = 65 }},
		{"suspicion mult out of range", func(c *Config) { c.SuspicionMult = 101 }},
		{"unknown profile", func(c *Config) { c.Profile = 7 }},
		{"negative duration", func(c *Config) { c.ProbeInterval = -time.Second }},
		{"duration beyond uint32 ms", func(c *Config) { c.TombstoneTimeout = 50 * 24 * time.Hour }},
		{"NUL in the name", func(c *Config) { c.NodeName = "a\x00b" }},
		{"name too long", func(c *Config) { c.NodeName = strings.Repeat("n", 129) }},
		{"label too long", func(c *Config) { c.Label = strings.Repeat("l", 256) }},
		{"empty tag key", func(c *Config) { c.Tags = map[string]string{"": "v"} }},
		{"tags too large", func(c *Config) { c.Tags = map[string]string{"k": strings.Repeat("v", 4000)} }},
		{"event queue too deep", func(c *Config) { c.EventQueueDepth = 2 << 20 }},
		{"packet too small", func(c *Config) { c.MaxPacketSize = 100 }},
		{"coalescing without quiescence", func(c *Config) { c.CoalescePeriod = time.Second }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fastConfig("bad")
			tc.mod(&cfg)
			_, err := rt.NewPool(cfg)
			expectCode(t, "NewPool", err, ErrInvalidArgument, CodeInvalidArgument)
			expectCode(t, "Validate", cfg.Validate(), ErrInvalidArgument, CodeInvalidArgument)
		})
	}
	if err := fastConfig("good").Validate(); err != nil {
		t.Fatalf("Validate of a good config: %v", err)
	}
	every := fastConfig("every")
	every.Advertise = "127.0.0.1:7946"
	every.Label = "lan"
	every.EventQueueDepth = 100
	every.GossipNodes = 4
	every.IndirectChecks = -1
	every.PushPullInterval = -1
	every.AwarenessMaxMultiplier = 4
	every.DeadNodeReclaim = time.Minute
	every.MaxPacketSize = 1400
	every.MaxMetaSize = 400
	every.MaxStreamSize = 1 << 20
	every.MaxPushPullMembers = 100
	every.DisableLocalHealth = true
	every.DisableSuspicionConfirmations = true
	every.DisableNacks = true
	every.DisableTCPFallbackProbe = true
	every.MaxUserEventSize = 1000
	every.MaxQueryResponseSize = 1000
	every.QueryTimeoutMult = 4
	every.CoalescePeriod = time.Second
	every.QuiescentPeriod = 100 * time.Millisecond
	every.ReapInterval = time.Second
	every.ReconnectInterval = time.Second
	every.ReconnectTimeout = time.Hour
	every.TombstoneTimeout = time.Hour
	every.DisableNameConflictResolution = true
	if err := every.Validate(); err != nil {
		t.Fatalf("Validate with every setting: %v", err)
	}
	p := newPool(t, rt, every)
	p.Close()
}

func TestAddrInUse(t *testing.T) {
	rt := newRuntime(t)
	p := newPool(t, rt, fastConfig("first"))
	cfg := fastConfig("second")
	cfg.Bind = localAddr(t, p)
	_, err := rt.NewPool(cfg)
	expectCode(t, "same address", err, ErrAddrInUse, CodeAddrInUse)
	// A distinct label shares the port.
	cfg.Label = "other"
	q := newPool(t, rt, cfg)
	if a := localAddr(t, q); a != cfg.Bind {
		t.Fatalf("labelled pool bound %s, want %s", a, cfg.Bind)
	}
}

func TestBadCalls(t *testing.T) {
	rt := newRuntime(t)
	p := newPool(t, rt, fastConfig("solo"))
	ctx := context.Background()

	_, err := p.Join(ctx, "not-an-addr")
	expectCode(t, "Join bad address", err, ErrInvalidArgument, CodeInvalidArgument)
	_, err = p.Join(ctx, "127.0.0.1:1\x00")
	expectCode(t, "Join NUL", err, ErrInvalidArgument, CodeInvalidArgument)
	if n, err := p.Join(ctx); n != 0 || err != nil {
		t.Fatalf("Join nothing = %d, %v", n, err)
	}
	// A port nobody listens on: no seed answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silent := l.Addr().String()
	l.Close()
	_, err = p.Join(ctx, silent)
	expectCode(t, "Join silent seed", err, ErrIO, CodeIO)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Join(cctx, silent); !errors.Is(err, context.Canceled) {
		t.Fatalf("Join with a cancelled ctx: %v", err)
	}

	expectCode(t, "oversized event", p.SendEvent("big", make([]byte, 4096), false), ErrInvalidArgument, CodeInvalidArgument)
	expectCode(t, "empty event name", p.SendEvent("", nil, false), ErrInvalidArgument, CodeInvalidArgument)
	expectCode(t, "tags too large", p.SetTag("k", strings.Repeat("v", 4000)), ErrInvalidArgument, CodeInvalidArgument)
	expectCode(t, "empty tag key", p.SetTags(map[string]string{"": "x"}), ErrInvalidArgument, CodeInvalidArgument)
	expectCode(t, "force-leave unknown", p.ForceLeave("nobody", false), ErrInvalidArgument, CodeInvalidArgument)
	expectCode(t, "force-leave self", p.ForceLeave("solo", false), ErrInvalidArgument, CodeInvalidArgument)
	expectCode(t, "negative leave timeout", p.Leave(-time.Second), ErrInvalidArgument, CodeInvalidArgument)
	if err := p.SendEvent("fits", make([]byte, 100), true); err != nil {
		t.Fatalf("SendEvent: %v", err)
	}
}

func TestUseAfterClose(t *testing.T) {
	rt := newRuntime(t)
	p := newPool(t, rt, fastConfig("closed"))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err := p.Join(ctx, "127.0.0.1:1")
	expectCode(t, "Join", err, ErrClosed, CodeClosed)
	_, err = p.Members()
	expectCode(t, "Members", err, ErrClosed, CodeClosed)
	_, err = p.Stats()
	expectCode(t, "Stats", err, ErrClosed, CodeClosed)
	_, err = p.LocalAddr()
	expectCode(t, "LocalAddr", err, ErrClosed, CodeClosed)
	_, err = p.NextEvent(ctx)
	expectCode(t, "NextEvent", err, ErrClosed, CodeClosed)
	_, err = p.Query(ctx, "q", nil, QueryOptions{})
	expectCode(t, "Query", err, ErrClosed, CodeClosed)
	expectCode(t, "SendEvent", p.SendEvent("e", nil, false), ErrClosed, CodeClosed)
	expectCode(t, "SetTag", p.SetTag("k", "v"), ErrClosed, CodeClosed)
	expectCode(t, "SetTags", p.SetTags(nil), ErrClosed, CodeClosed)
	expectCode(t, "RemoveTag", p.RemoveTag("k"), ErrClosed, CodeClosed)
	expectCode(t, "ForceLeave", p.ForceLeave("x", true), ErrClosed, CodeClosed)
	expectCode(t, "Leave", p.Leave(time.Second), ErrClosed, CodeClosed)
	if p.EventsDropped() != 0 || p.NodeName() != "closed" {
		t.Fatal("EventsDropped or NodeName after Close")
	}

	// A pool that left refuses new events.
	q := newPool(t, rt, fastConfig("left"))
	if err := q.Leave(time.Second); err != nil && !errors.Is(err, ErrTimeout) {
		t.Fatal(err)
	}
	expectCode(t, "SendEvent after Leave", q.SendEvent("e", nil, false), ErrClosed, CodeClosed)

	rt.Close()
	_, err = rt.NewPool(fastConfig("late"))
	expectCode(t, "NewPool", err, ErrClosed, CodeClosed)
	_, err = q.Members()
	expectCode(t, "Members after the runtime's Close", err, ErrClosed, CodeClosed)
}

func TestPanicBecomesErrPanic(t *testing.T) {
	t.Setenv("RUST_BACKTRACE", "0") // the panic hook still prints its message
	err := testPanic()
	expectCode(t, "hearsay_test_panic", err, ErrPanic, CodePanic)
	var he *Error
	errors.As(err, &he)
	if !strings.HasPrefix(he.Message, "panic: ") {
		t.Fatalf("message %q", he.Message)
	}
}

func TestPanicInPointerCallGivesNil(t *testing.T) {
	t.Setenv("RUST_BACKTRACE", "0")
	isNil, msg := testPanicPtr()
	if !isNil || !strings.HasPrefix(msg, "panic: ") {
		t.Fatalf("hearsay_test_panic_ptr: nil %v, last error %q", isNil, msg)
	}
}

func TestCodes(t *testing.T) {
	// The names are the library's (hearsay_result_name).
	for _, code := range []Code{CodeOK, CodeEmpty, CodeNullParameter, CodeInvalidArgument, CodeAddrInUse, CodeIO,
		CodeTimeout, CodeClosed, CodeUnsupported, CodeBufferTooSmall, CodePanic} {
		if code.String() != resultName(code) {
			t.Errorf("%d: %s here, %s in the library", code, code, resultName(code))
		}
	}
	for code, name := range map[Code]string{CodeOK: "HEARSAY_OK", CodeIO: "HEARSAY_ERR_IO", CodePanic: "HEARSAY_ERR_PANIC", -55: "HEARSAY_UNKNOWN(-55)"} {
		if code.String() != name {
			t.Errorf("%d: %s", code, code)
		}
	}
	if errors.Unwrap(&Error{Code: -55}) != nil {
		t.Error("unknown code unwraps to a sentinel")
	}
	if StatusFailed.String() != "failed" || EventQuery.String() != "query" || ReplyAck.String() != "ack" || ProfileLocal.String() != "LOCAL" {
		t.Error("String methods")
	}
}

// A pool and runtime nobody closes are freed by their finalizers: the
// pool's port becomes free again.
func TestFinalizers(t *testing.T) {
	rt := newRuntime(t)
	cfg := fastConfig("rebound")
	cfg.Bind = func() string {
		dropped, err := NewRuntime()
		if err != nil {
			t.Fatal(err)
		}
		p, err := dropped.NewPool(fastConfig("dropped"))
		if err != nil {
			t.Fatal(err)
		}
		a := localAddr(t, p)
		other := fastConfig("rebound")
		other.Bind = a
		_, err = rt.NewPool(other)
		expectCode(t, "the dropped pool's address while it lives", err, ErrAddrInUse, CodeAddrInUse)
		return a
	}()
	waitFor(t, 10*time.Second, "the dropped pool's port to be freed", func() (bool, string) {
		runtime.GC()
		p, err := rt.NewPool(cfg)
		if err != nil {
			return false, err.Error()
		}
		p.Close()
		return true, ""
	})
}
