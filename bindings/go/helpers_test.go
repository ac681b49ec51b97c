package hearsay

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fastConfig is the LOCAL profile with short timings, for loopback tests.
func fastConfig(name string) Config {
	return Config{
		Profile:                 ProfileLocal,
		NodeName:                name,
		Bind:                    "127.0.0.1:0",
		ProbeInterval:           200 * time.Millisecond,
		ProbeTimeout:            100 * time.Millisecond,
		GossipInterval:          50 * time.Millisecond,
		SuspicionMult:           2,
		SuspicionMaxTimeoutMult: 2,
		PushPullInterval:        time.Second,
		TCPTimeout:              500 * time.Millisecond,
		GossipToTheDead:         30 * time.Second,
	}
}

func newRuntime(t testing.TB) *Runtime {
	t.Helper()
	rt, err := NewRuntime()
	if err != nil {
		t.Fatalf("NewRuntime: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func newPool(t testing.TB, rt *Runtime, cfg Config) *Pool {
	t.Helper()
	p, err := rt.NewPool(cfg)
	if err != nil {
		t.Fatalf("NewPool(%s): %v", cfg.NodeName, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func localAddr(t testing.TB, p *Pool) string {
	t.Helper()
	a, err := p.LocalAddr()
	if err != nil {
		t.Fatalf("LocalAddr: %v", err)
	}
	return a
}

// waitFor polls cond until it holds or timeout passes; cond's text says
// what it last saw.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, seen := cond()
		if ok {
			return
		}
		last = seen
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last seen: %s", timeout, what, last)
		}
		time.Sleep(20 * time.Millisecond) // polling period, not a wait for an outcome
	}
}

type cluster struct {
	rts   []*Runtime
	pools []*Pool
	seed  string
}

// newCluster starts n pools named node-0..node-(n-1) on two runtimes (tags
// "index" = i), joins each to node-0 and waits until all see n alive.
func newCluster(t testing.TB, n int, mod func(i int, c *Config)) *cluster {
	t.Helper()
	c := &cluster{rts: []*Runtime{newRuntime(t), newRuntime(t)}}
	for i := 0; i < n; i++ {
		cfg := fastConfig("node-" + strconv.Itoa(i))
		cfg.Tags = map[string]string{"index": strconv.Itoa(i)}
		if mod != nil {
			mod(i, &cfg)
		}
		p := newPool(t, c.rts[i%2], cfg)
		c.pools = append(c.pools, p)
		if i == 0 {
			c.seed = localAddr(t, p)
			continue
		}
		joined, err := p.Join(context.Background(), c.seed)
		if err != nil || joined != 1 {
			t.Fatalf("node-%d Join = %d, %v", i, joined, err)
		}
	}
	c.awaitAlive(t, c.pools, n)
	return c
}

func countStatus(p *Pool, s Status) (int, error) {
	ms, err := p.Members()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range ms {
		if m.Status == s {
			n++
		}
	}
	return n, nil
}

func (c *cluster) awaitAlive(t testing.TB, pools []*Pool, n int) {
	t.Helper()
	waitFor(t, 15*time.Second, fmt.Sprintf("%d alive members everywhere", n), func() (bool, string) {
		for _, p := range pools {
			k, err := countStatus(p, StatusAlive)
			if err != nil || k != n {
				return false, fmt.Sprintf("%s sees %d alive (%v)", p.NodeName(), k, err)
			}
		}
		return true, ""
	})
}

func memberOf(p *Pool, name string) (Member, bool) {
	ms, err := p.Members()
	if err != nil {
		return Member{}, false
	}
	for _, m := range ms {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

func awaitStatus(t testing.TB, pools []*Pool, name string, s Status, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%s %s everywhere", name, s), func() (bool, string) {
		for _, p := range pools {
			m, ok := memberOf(p, name)
			if !ok || m.Status != s {
				return false, fmt.Sprintf("%s sees %s as %v (known %v)", p.NodeName(), name, m.Status, ok)
			}
		}
		return true, ""
	})
}

// recorder keeps every event of a pool, read through Events; handle, if
// set, runs on each event first (e.g. to answer queries).
type recorder struct {
	pool   *Pool
	mu     sync.Mutex
	events []Event
}

func record(t testing.TB, p *Pool, handle func(Event)) *recorder {
	r := &recorder{pool: p}
	ctx, cancel := context.WithCancel(context.Background())
	ch := p.Events(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			if handle != nil {
				handle(ev)
			}
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return r
}

func (r *recorder) count(pred func(Event) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if pred(e) {
			n++
		}
	}
	return n
}

func (r *recorder) await(t testing.TB, timeout time.Duration, what string, pred func(Event) bool) {
	t.Helper()
	waitFor(t, timeout, r.pool.NodeName()+": "+what, func() (bool, string) {
		n := r.count(pred)
		return n > 0, fmt.Sprintf("%d matching events", n)
	})
}

func memberEvent(typ EventType, name string) func(Event) bool {
	return func(e Event) bool { return e.Type == typ && e.Member != nil && e.Member.Name == name }
}
