package hearsay

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"
)

// answer responds to every query "ping" with "pong <name>", and checks the
// rules of Respond on the others.
func answer(t *testing.T, p *Pool, failures chan<- error) func(Event) {
	return func(e Event) {
		if e.Type != EventQuery {
			return
		}
		switch e.Name {
		case "ping":
			if err := e.Respond([]byte("pong " + p.NodeName())); err != nil {
				failures <- err
			}
		case "twice":
			// Too large is refused without using up the answer.
			if err := e.Respond(make([]byte, 4096)); !errors.Is(err, ErrInvalidArgument) {
				failures <- errors.New("oversized response: " + errString(err))
			}
			if err := e.Respond(nil); err != nil {
				failures <- err
			}
			if err := e.Respond([]byte("again")); !errors.Is(err, ErrInvalidArgument) {
				failures <- errors.New("second response: " + errString(err))
			}
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

func collect(t *testing.T, ch <-chan QueryReply, within time.Duration) []QueryReply {
	t.Helper()
	var out []QueryReply
	timeout := time.After(within)
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, r)
		case <-timeout:
			t.Fatalf("query channel still open after %v (%d replies)", within, len(out))
		}
	}
}

func names(rs []QueryReply, typ ReplyType) []string {
	var out []string
	for _, r := range rs {
		if r.Type == typ {
			out = append(out, r.From)
		}
	}
	sort.Strings(out)
	return out
}

func TestQuery(t *testing.T) {
	c := newCluster(t, 3, nil)
	failures := make(chan error, 100)
	for _, p := range c.pools {
		record(t, p, answer(t, p, failures))
	}
	ctx := context.Background()

	ch, err := c.pools[0].Query(ctx, "ping", []byte("?"), QueryOptions{RequestAck: true, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	replies := collect(t, ch, 10*time.Second)
	if d := time.Since(start); d < time.Second {
		t.Errorf("query over after %v, before its 2 s deadline", d)
	}
	all := "node-0 node-1 node-2"
	if got := strings.Join(names(replies, ReplyAck), " "); got != all {
		t.Errorf("acks from %q, want %q", got, all)
	}
	if got := strings.Join(names(replies, ReplyResponse), " "); got != all {
		t.Errorf("responses from %q, want %q", got, all)
	}
	for _, r := range replies {
		if r.Type == ReplyResponse && !bytes.Equal(r.Payload, []byte("pong "+r.From)) {
			t.Errorf("response %q from %s", r.Payload, r.From)
		}
		if r.Type == ReplyAck && r.Payload != nil {
			t.Errorf("ack with payload %q", r.Payload)
		}
	}

	// Filters by node and by tag; relays.
	ch, err = c.pools[0].Query(ctx, "ping", nil, QueryOptions{Nodes: []string{"node-1"}, RelayFactor: 1, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(collect(t, ch, 10*time.Second), ReplyResponse); strings.Join(got, " ") != "node-1" {
		t.Errorf("node filter: responses from %v", got)
	}
	ch, err = c.pools[1].Query(ctx, "ping", nil, QueryOptions{Tags: map[string]string{"index": "^[02]$"}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(collect(t, ch, 10*time.Second), ReplyResponse); strings.Join(got, " ") != "node-0 node-2" {
		t.Errorf("tag filter: responses from %v", got)
	}

	// One answer per node, however often Respond is called.
	ch, err = c.pools[2].Query(ctx, "twice", nil, QueryOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	replies = collect(t, ch, 10*time.Second)
	if got := names(replies, ReplyResponse); strings.Join(got, " ") != all {
		t.Errorf("twice: responses from %v", got)
	}
	for _, r := range replies {
		if r.Payload != nil {
			t.Errorf("empty response came with payload %q", r.Payload)
		}
	}

	// The channel ends with ctx, long before the deadline.
	cctx, cancel := context.WithCancel(ctx)
	ch, err = c.pools[0].Query(cctx, "ping", nil, QueryOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	collect(t, ch, 5*time.Second)

	// Bad input.
	if _, err := c.pools[0].Query(ctx, "ping", nil, QueryOptions{Tags: map[string]string{"index": "("}}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad regex: %v", err)
	}
	if _, err := c.pools[0].Query(ctx, "", nil, QueryOptions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty name: %v", err)
	}
	if _, err := c.pools[0].Query(ctx, "big", make([]byte, 4096), QueryOptions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("oversized query: %v", err)
	}
	if _, err := c.pools[0].Query(cctx, "ping", nil, QueryOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}

	close(failures)
	for err := range failures {
		t.Error(err)
	}
}

func TestQueryAfterClose(t *testing.T) {
	rt := newRuntime(t)
	p := newPool(t, rt, fastConfig("solo"))
	var got []Event
	ch, err := p.Query(context.Background(), "q", []byte("x"), QueryOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := p.NextEvent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, ev)
	if ev.Type != EventQuery || ev.Name != "q" || string(ev.Payload) != "x" || ev.Member != nil {
		t.Fatalf("got %v", ev)
	}
	p.Close()
	collect(t, ch, 5*time.Second) // the query ends with its pool
	if err := got[0].Respond([]byte("late")); !isClosed(err) {
		t.Fatalf("Respond after Close: %v", err)
	}
	if _, err := p.Query(context.Background(), "q", nil, QueryOptions{}); !isClosed(err) {
		t.Fatalf("Query after Close: %v", err)
	}
}

// A received query tells who sent it and until when it may be answered;
// StartQuery tells the asker the same deadline.
func TestQuerySenderAndDeadline(t *testing.T) {
	c := newCluster(t, 2, nil)
	asker, other := c.pools[0], c.pools[1]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nextQuery := func(name string) Event {
		t.Helper()
		for {
			ev, err := other.NextEvent(ctx)
			if err != nil {
				t.Fatalf("no query %q: %v", name, err)
			}
			if ev.Type == EventUser && (ev.From != "" || !ev.Deadline.IsZero()) {
				t.Errorf("user event with From %q, Deadline %v", ev.From, ev.Deadline)
			}
			if ev.Type == EventQuery && ev.Name == name {
				return ev
			}
		}
	}
	if err := asker.SendEvent("not-a-query", nil, false); err != nil {
		t.Fatal(err)
	}

	before := time.Now()
	pq, err := asker.StartQuery(ctx, "early", nil, QueryOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if pq.Deadline.Before(before.Add(time.Second)) || pq.Deadline.After(time.Now().Add(2*time.Second)) {
		t.Errorf("asker's deadline %v after the start, want about 2 s", pq.Deadline.Sub(before))
	}
	ev := nextQuery("early")
	if ev.From != asker.NodeName() {
		t.Errorf("query from %q, want %q", ev.From, asker.NodeName())
	}
	if d := ev.Deadline.Sub(pq.Deadline); d < -time.Second || d > time.Second {
		t.Errorf("the member's deadline is %v from the asker's", d)
	}
	if err := ev.Respond([]byte("in time")); err != nil {
		t.Fatalf("Respond before the deadline: %v", err)
	}
	if got := names(collect(t, pq.Replies, 10*time.Second), ReplyResponse); strings.Join(got, " ") != other.NodeName() {
		t.Errorf("responses from %v", got)
	}

	// Once the event's Deadline has passed, the library refuses the answer
	// (Deadline is exact to the millisecond the library counts in).
	if _, err := asker.Query(ctx, "late", nil, QueryOptions{Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	ev = nextQuery("late")
	if left := time.Until(ev.Deadline); left <= 0 || left > time.Second {
		t.Errorf("a 1 s query has %v left when pulled", left)
	}
	waitFor(t, 5*time.Second, "the query's deadline", func() (bool, string) {
		return time.Now().After(ev.Deadline.Add(time.Millisecond)), ev.Deadline.String()
	})
	expectCode(t, "Respond after Deadline", ev.Respond(nil), ErrTimeout, CodeTimeout)
}
