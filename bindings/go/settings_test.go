package hearsay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Each setting out of its range is refused by NewPool and Validate with
// ErrInvalidArgument naming it: the field reaches its C setter. (Settings
// whose only bad value is 0 cannot be set out of range: 0 keeps the
// default.)
func TestSettingsOutOfRange(t *testing.T) {
	rt := newRuntime(t)
	cases := []struct {
		setting string
		mod     func(*Config)
	}{
		{"max_query_size", func(c *Config) { c.MaxQuerySize = 15 }},
		{"max_query_size", func(c *Config) { c.MaxQuerySize = 1400 }},
		{"event_buffer", func(c *Config) { c.EventBuffer = 15 }},
		{"event_buffer", func(c *Config) { c.EventBuffer = 65537 }},
		{"query_buffer", func(c *Config) { c.QueryBuffer = 15 }},
		{"max_broadcast_queue", func(c *Config) { c.MaxBroadcastQueue = 15 }},
		{"max_concurrent_streams", func(c *Config) { c.MaxConcurrentStreams = 65537 }},
		{"inbound_packet_queue", func(c *Config) { c.InboundPacketQueue = 1<<20 + 1 }},
		{"max_per_ltime", func(c *Config) { c.MaxPerLTime = 65537 }},
	}
	for _, tc := range cases {
		cfg := fastConfig("bad")
		tc.mod(&cfg)
		_, newErr := rt.NewPool(cfg)
		for what, err := range map[string]error{"Validate": cfg.Validate(), "NewPool": newErr} {
			expectCode(t, tc.setting+" "+what, err, ErrInvalidArgument, CodeInvalidArgument)
			if !strings.Contains(err.Error(), tc.setting) {
				t.Errorf("%s: %q does not name %s", what, err, tc.setting)
			}
		}
	}
	// In range, every new setting is accepted.
	cfg := fastConfig("every")
	cfg.MaxQuerySize = 1200
	cfg.EventBuffer = 16
	cfg.QueryBuffer = 65536
	cfg.MaxIntents = 1
	cfg.RecentIntentTimeout = -1
	cfg.MaxPendingQueries = 1
	cfg.SnapshotPath = filepath.Join(t.TempDir(), "snap")
	cfg.DisableCoordinates = true
	cfg.MaxBroadcastQueue = 16
	cfg.MaxConcurrentStreams = 1
	cfg.InboundPacketQueue = 1 << 20
	cfg.MaxPerLTime = 1
	cfg.MaxQueryResponses = 1
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	newPool(t, rt, cfg)
}

// nextUser takes events of p until the user event name, and returns it.
func nextUser(t *testing.T, p *Pool, name string) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := p.NextEvent(ctx)
		if err != nil {
			t.Fatalf("%s: no user event %q: %v", p.NodeName(), name, err)
		}
		if ev.Type == EventUser && ev.Name == name {
			return ev
		}
	}
}

// drainUsers takes every event waiting in p and returns the user events'
// names.
func drainUsers(t *testing.T, p *Pool) []string {
	t.Helper()
	var out []string
	for {
		ev, ok, err := p.next("drain", 0)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		if ev.Type == EventUser {
			out = append(out, ev.Name)
		}
		ev.release()
	}
}

func TestSnapshotPath(t *testing.T) {
	rt := newRuntime(t)
	cfg := fastConfig("snap")
	cfg.SnapshotPath = filepath.Join(t.TempDir(), "node.snap")
	p := newPool(t, rt, cfg)
	if _, err := os.Stat(cfg.SnapshotPath); err != nil {
		t.Fatalf("the pool did not create its snapshot: %v", err)
	}
	var last uint64
	for i := 0; i < 3; i++ {
		if err := p.SendEvent("e", nil, false); err != nil {
			t.Fatal(err)
		}
		last = nextUser(t, p, "e").LTime
	}
	p.Close()
	if st, err := os.Stat(cfg.SnapshotPath); err != nil || st.Size() == 0 {
		t.Fatalf("snapshot after three events: %v, %v", st, err)
	}
	// A pool started from it resumes the clock; a fresh one starts over.
	restored := newPool(t, rt, cfg)
	fresh := newPool(t, rt, fastConfig("fresh"))
	for _, q := range []*Pool{restored, fresh} {
		if err := q.SendEvent("after", nil, false); err != nil {
			t.Fatal(err)
		}
	}
	if lt := nextUser(t, restored, "after").LTime; lt <= last {
		t.Errorf("restored pool's event at ltime %d, not after %d", lt, last)
	}
	if lt := nextUser(t, fresh, "after").LTime; lt > last {
		t.Errorf("fresh pool's event at ltime %d", lt)
	}
	// A file that cannot be opened fails NewPool.
	bad := fastConfig("nowhere")
	bad.SnapshotPath = filepath.Join(t.TempDir(), "missing", "dir", "snap")
	_, err := rt.NewPool(bad)
	expectCode(t, "unopenable snapshot", err, ErrIO, CodeIO)
}

func TestDisableCoordinates(t *testing.T) {
	rt := newRuntime(t)
	on := newPool(t, rt, fastConfig("on"))
	cfg := fastConfig("off")
	cfg.DisableCoordinates = true
	off := newPool(t, rt, cfg)
	if _, ok, err := on.Coordinate(""); !ok || err != nil {
		t.Errorf("local coordinate with coordinates on: %v, %v", ok, err)
	}
	if _, ok, err := off.Coordinate(""); ok || err != nil {
		t.Errorf("local coordinate with coordinates off: %v, %v", ok, err)
	}
}

func TestMaxQuerySize(t *testing.T) {
	rt := newRuntime(t)
	ctx := context.Background()
	small := fastConfig("small")
	small.MaxQuerySize = 100
	large := fastConfig("large")
	large.MaxQuerySize = 1300
	pools := map[string]*Pool{"default": newPool(t, rt, fastConfig("default")),
		"small": newPool(t, rt, small), "large": newPool(t, rt, large)}
	for _, tc := range []struct {
		pool    string
		payload int
		ok      bool
	}{
		{"default", 200, true}, {"small", 200, false},
		{"default", 1100, false}, {"large", 1100, true},
	} {
		_, err := pools[tc.pool].Query(ctx, "q", make([]byte, tc.payload), QueryOptions{Timeout: 100 * time.Millisecond})
		if tc.ok && err != nil {
			t.Errorf("%s, %d bytes: %v", tc.pool, tc.payload, err)
		}
		if !tc.ok {
			expectCode(t, fmt.Sprintf("%s, %d bytes", tc.pool, tc.payload), err, ErrInvalidArgument, CodeInvalidArgument)
		}
	}
}

func TestMaxPendingQueries(t *testing.T) {
	rt := newRuntime(t)
	cfg := fastConfig("asker")
	cfg.MaxPendingQueries = 1
	p := newPool(t, rt, cfg)
	ctx := context.Background()
	if _, err := p.Query(ctx, "first", nil, QueryOptions{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	_, err := p.Query(ctx, "second", nil, QueryOptions{Timeout: time.Minute})
	expectCode(t, "a second pending query", err, ErrInvalidArgument, CodeInvalidArgument)
	if st, _ := p.Stats(); st.QueriesRefused != 1 {
		t.Errorf("QueriesRefused = %d", st.QueriesRefused)
	}
}

func TestMaxBroadcastQueue(t *testing.T) {
	rt := newRuntime(t)
	cfg := fastConfig("short")
	cfg.MaxBroadcastQueue = 16
	short := newPool(t, rt, cfg)
	long := newPool(t, rt, fastConfig("long"))
	// Alone, a pool keeps its broadcasts queued: nobody to gossip them to.
	for i := 0; i < 100; i++ {
		for _, p := range []*Pool{short, long} {
			if err := p.SendEvent(fmt.Sprint("e", i), nil, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, 10*time.Second, "broadcasts dropped beyond 16", func() (bool, string) {
		st, err := short.Stats()
		return err == nil && st.BroadcastsDropped > 0, fmt.Sprint(st.BroadcastsDropped, err)
	})
	if st, err := long.Stats(); err != nil || st.BroadcastsDropped != 0 {
		t.Errorf("default queue dropped %d (%v)", st.BroadcastsDropped, err)
	}
}

// closedByPeer reports whether the other end closed (or reset) c, without
// waiting.
func closedByPeer(c *net.TCPConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_DONTWAIT|syscall.MSG_PEEK)
		closed = (n == 0 && err == nil) || (err != nil && !errors.Is(err, syscall.EAGAIN))
		return true
	})
	return closed
}

func TestMaxConcurrentStreams(t *testing.T) {
	rt := newRuntime(t)
	cfg := fastConfig("streams")
	cfg.MaxConcurrentStreams = 2
	cfg.TCPTimeout = time.Minute // idle connections keep their slots
	p := newPool(t, rt, cfg)
	var conns []*net.TCPConn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", localAddr(t, p))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c.(*net.TCPConn))
	}
	closed := func() int {
		n := 0
		for _, c := range conns {
			if closedByPeer(c) {
				n++
			}
		}
		return n
	}
	waitFor(t, 10*time.Second, "a connection refused", func() (bool, string) {
		st, err := p.Stats()
		return err == nil && st.StreamsRefused >= 1 && closed() >= 1, fmt.Sprint(st.StreamsRefused, err)
	})
	// Exactly the one beyond the limit: two still hold their slots.
	if n := closed(); n != 1 {
		t.Errorf("%d connections closed", n)
	}
	if st, _ := p.Stats(); st.StreamsRefused != 1 {
		t.Errorf("StreamsRefused = %d", st.StreamsRefused)
	}
}

func TestInboundPacketQueue(t *testing.T) {
	rt := newRuntime(t)
	cfg := fastConfig("shallow")
	cfg.InboundPacketQueue = 1
	shallow := newPool(t, rt, cfg)
	deep := newPool(t, rt, fastConfig("deep"))
	junk := make([]byte, 8) // not a packet: counted as malformed once read
	burst := func(p *Pool, n int) {
		c, err := net.Dial("udp", localAddr(t, p))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := 0; i < n; i++ {
			c.Write(junk)
		}
	}
	// The default queue (1,024) takes a burst of 100 whole.
	burst(deep, 100)
	waitFor(t, 10*time.Second, "100 malformed datagrams counted", func() (bool, string) {
		st, err := deep.Stats()
		return err == nil && st.DroppedMalformed == 100, fmt.Sprint(st.DroppedMalformed, err)
	})
	if st, _ := deep.Stats(); st.DroppedOverload != 0 {
		t.Errorf("default queue shed %d", st.DroppedOverload)
	}
	// A queue of one sheds as soon as two datagrams wait together.
	waitFor(t, 10*time.Second, "datagrams shed", func() (bool, string) {
		burst(shallow, 100)
		st, err := shallow.Stats()
		return err == nil && st.DroppedOverload > 0, fmt.Sprint(st.DroppedOverload, err)
	})
}

func TestMaxPerLTime(t *testing.T) {
	rt := newRuntime(t)
	// Two pools that never met send one event each: the same Lamport time.
	a := newPool(t, rt, fastConfig("a"))
	c := newPool(t, rt, fastConfig("c"))
	if err := a.SendEvent("from-a", nil, false); err != nil {
		t.Fatal(err)
	}
	if err := c.SendEvent("from-c", nil, false); err != nil {
		t.Fatal(err)
	}
	if la, lc := nextUser(t, a, "from-a").LTime, nextUser(t, c, "from-c").LTime; la != lc {
		t.Fatalf("ltimes %d and %d differ", la, lc)
	}
	cfg := fastConfig("b")
	cfg.MaxPerLTime = 1
	b := newPool(t, rt, cfg)
	ctx := context.Background()
	if _, err := b.Join(ctx, localAddr(t, a)); err != nil {
		t.Fatal(err)
	}
	nextUser(t, b, "from-a")
	if _, err := b.Join(ctx, localAddr(t, c)); err != nil {
		t.Fatal(err)
	}
	// b remembers one event for that time: c's is dropped and counted...
	waitFor(t, 15*time.Second, "DedupFull", func() (bool, string) {
		st, err := b.Stats()
		return err == nil && st.DedupFull >= 1, fmt.Sprint(st.DedupFull, err)
	})
	if got := drainUsers(t, b); len(got) != 0 {
		t.Errorf("b delivered %v", got)
	}
	// ...while c, with the default of 64, delivers a's beside its own.
	nextUser(t, c, "from-a")
}

func TestMaxQueryResponses(t *testing.T) {
	c := newCluster(t, 3, func(i int, c *Config) {
		if i == 0 {
			c.MaxQueryResponses = 1
		}
	})
	for _, p := range c.pools {
		record(t, p, func(e Event) {
			if e.Type == EventQuery {
				e.Respond([]byte(p.NodeName()))
			}
		})
	}
	ch, err := c.pools[0].Query(context.Background(), "who", nil, QueryOptions{Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Three answer; the asker takes one and counts the other two.
	waitFor(t, 10*time.Second, "two replies dropped", func() (bool, string) {
		st, err := c.pools[0].Stats()
		return err == nil && st.QueryRepliesDropped == 2, fmt.Sprint(st.QueryRepliesDropped, err)
	})
	if got := names(collect(t, ch, 10*time.Second), ReplyResponse); len(got) != 1 {
		t.Errorf("responses from %v", got)
	}
	if st, _ := c.pools[0].Stats(); st.QueryRepliesDropped != 2 {
		t.Errorf("QueryRepliesDropped = %d", st.QueryRepliesDropped)
	}
}
