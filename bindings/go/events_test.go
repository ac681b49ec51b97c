package hearsay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestUserEventsExactlyOnce(t *testing.T) {
	const n, perPool = 4, 5
	c := newCluster(t, n, nil)
	recs := make([]*recorder, n)
	for i, p := range c.pools {
		recs[i] = record(t, p, nil)
	}
	want := map[string]bool{}
	for i, p := range c.pools {
		for k := 0; k < perPool; k++ {
			payload := fmt.Sprintf("from-%d-%d", i, k)
			want[payload] = true
			if err := p.SendEvent("deploy", []byte(payload), false); err != nil {
				t.Fatalf("SendEvent: %v", err)
			}
		}
	}
	isUser := func(payload string) func(Event) bool {
		return func(e Event) bool {
			return e.Type == EventUser && e.Name == "deploy" && string(e.Payload) == payload
		}
	}
	for _, r := range recs {
		waitFor(t, 15*time.Second, r.pool.NodeName()+" to get every event", func() (bool, string) {
			for payload := range want {
				if r.count(isUser(payload)) == 0 {
					return false, "missing " + payload
				}
			}
			return true, ""
		})
	}
	// Markers sent after every event arrived: once each pool has all of
	// them, gossip of the earlier events had every chance to repeat.
	for _, p := range c.pools {
		if err := p.SendEvent("marker", []byte(p.NodeName()), false); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range recs {
		for _, p := range c.pools {
			from := p.NodeName()
			r.await(t, 15*time.Second, "marker of "+from, func(e Event) bool {
				return e.Type == EventUser && e.Name == "marker" && string(e.Payload) == from
			})
		}
	}
	for _, r := range recs {
		for payload := range want {
			if k := r.count(isUser(payload)); k != 1 {
				t.Errorf("%s delivered %s %d times", r.pool.NodeName(), payload, k)
			}
		}
		if k := r.count(func(e Event) bool { return e.Type == EventUser }); k != len(want)+n {
			t.Errorf("%s: %d user events, want %d", r.pool.NodeName(), k, len(want)+n)
		}
	}
}

func TestJoinIgnoreOld(t *testing.T) {
	rt := newRuntime(t)
	a := newPool(t, rt, fastConfig("a"))
	if err := a.SendEvent("old", []byte("before"), false); err != nil {
		t.Fatal(err)
	}
	seed := localAddr(t, a)
	ignoring := newPool(t, rt, fastConfig("ignoring"))
	plain := newPool(t, rt, fastConfig("plain"))
	rp := record(t, plain, nil)
	if _, err := ignoring.JoinIgnoreOld(context.Background(), seed); err != nil {
		t.Fatal(err)
	}
	named := func(name string) func(Event) bool {
		return func(e Event) bool { return e.Type == EventUser && e.Name == name }
	}
	// What the pool queued before the join finished: a gossip round of a
	// can reach it between a's accepting it and its merging a's state (as
	// in Serf), so the old event may be there. Nothing older than the join
	// may come later.
	for {
		ev, ok, err := ignoring.next("drain", 0)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if named("old")(ev) {
			t.Logf("the old event arrived by gossip before the join completed")
		}
	}
	ri := record(t, ignoring, nil)
	if _, err := plain.Join(context.Background(), seed); err != nil {
		t.Fatal(err)
	}
	rp.await(t, 10*time.Second, "the old event after a plain join", named("old"))
	for _, name := range []string{"new-1", "new-2"} {
		if err := a.SendEvent(name, nil, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"new-1", "new-2"} {
		rp.await(t, 10*time.Second, name, named(name))
	}
	// Every event sent after the join arrives, the first one too (its
	// Lamport time is the seed's event clock that the join showed).
	for _, name := range []string{"new-1", "new-2"} {
		ri.await(t, 10*time.Second, name, named(name))
	}
	if k := ri.count(named("old")); k != 0 {
		t.Fatalf("the old event was delivered %d times after JoinIgnoreOld returned", k)
	}
}

func TestNextEventAndChannels(t *testing.T) {
	rt := newRuntime(t)
	p := newPool(t, rt, fastConfig("solo"))
	// NextEvent honours ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := p.NextEvent(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NextEvent on a quiet pool: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("NextEvent returned %v after its deadline", d)
	}
	// A pool's own events come back to it; the descriptor is readable
	// while one waits.
	fd, err := p.EventFD()
	if err != nil || fd < 0 {
		t.Fatalf("EventFD = %d, %v", fd, err)
	}
	if readable(t, fd) {
		t.Fatal("event descriptor readable with no event queued")
	}
	if err := p.SendEvent("self", []byte{0, 1, 2, 255}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the event descriptor to be readable", func() (bool, string) {
		return readable(t, fd), "not readable"
	})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	ev, err := p.NextEvent(ctx2)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != EventUser || ev.Name != "self" || !bytes.Equal(ev.Payload, []byte{0, 1, 2, 255}) || ev.Member != nil {
		t.Fatalf("got %v", ev)
	}
	if err := ev.Respond([]byte("x")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Respond to a user event: %v", err)
	}

	// Events ends with its ctx...
	ctx3, cancel3 := context.WithCancel(context.Background())
	ch := p.Events(ctx3)
	cancel3()
	awaitClosed(t, ch)
	// ...and with the pool's Close.
	ch2 := p.Events(context.Background())
	p.Close()
	awaitClosed(t, ch2)
	awaitClosed(t, p.Events(context.Background()))
	if _, err := p.NextEvent(context.Background()); !isClosed(err) {
		t.Fatalf("NextEvent after Close: %v", err)
	}
	if _, err := p.EventFD(); !isClosed(err) {
		t.Fatalf("EventFD after Close: %v", err)
	}
}

func awaitClosed[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("channel not closed")
		}
	}
}
