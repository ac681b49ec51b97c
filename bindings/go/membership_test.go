package hearsay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"
)

func TestVersion(t *testing.T) {
	if Version() == "" {
		t.Fatal("empty Version()")
	}
	if ABIVersion()>>16 != HeaderABIVersion>>16 || ABIVersion()&0xffff < HeaderABIVersion&0xffff {
		t.Fatalf("library ABI %#x, header %#x", ABIVersion(), HeaderABIVersion)
	}
}

func TestJoinAndConverge(t *testing.T) {
	const n = 5
	c := newCluster(t, n, func(i int, cfg *Config) { cfg.Tags["dc"] = "test" })
	addrs := map[string]string{}
	for _, p := range c.pools {
		addrs[p.NodeName()] = localAddr(t, p)
	}
	for i, p := range c.pools {
		if want := "node-" + strconv.Itoa(i); p.NodeName() != want {
			t.Fatalf("NodeName = %q, want %q", p.NodeName(), want)
		}
		ms, err := p.Members()
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != n {
			t.Fatalf("%s: %d members, want %d", p.NodeName(), len(ms), n)
		}
		for _, m := range ms {
			idx := m.Name[len("node-"):]
			if m.Status != StatusAlive || m.Addr != addrs[m.Name] || m.Tags["index"] != idx ||
				m.Tags["dc"] != "test" || len(m.Tags) != 2 {
				t.Fatalf("%s sees %+v", p.NodeName(), m)
			}
		}
		st, err := p.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.MembersAlive != n || st.MembersFailed != 0 || st.BytesIn == 0 || st.BytesOut == 0 {
			t.Fatalf("%s stats %+v", p.NodeName(), st)
		}
	}
	// A pool joining later gets a join event for every member, with tags.
	rec := record(t, c.pools[0], nil)
	late := newPool(t, c.rts[1], fastConfig("late"))
	lateRec := record(t, late, nil)
	if k, err := late.Join(context.Background(), c.seed, addrs["node-1"]); err != nil || k != 2 {
		t.Fatalf("Join two seeds = %d, %v", k, err)
	}
	rec.await(t, 10*time.Second, "join of late", memberEvent(EventMemberJoin, "late"))
	for i := 0; i < n; i++ {
		name := "node-" + strconv.Itoa(i)
		lateRec.await(t, 10*time.Second, "join of "+name, func(e Event) bool {
			return memberEvent(EventMemberJoin, name)(e) && e.Member.Tags["index"] == strconv.Itoa(i) &&
				e.Member.Addr == addrs[name] && e.Member.Status == StatusAlive
		})
	}
	c.awaitAlive(t, append(c.pools, late), n+1)
}

func TestFailureAndLeave(t *testing.T) {
	c := newCluster(t, 5, nil)
	recs := make([]*recorder, 5)
	for i, p := range c.pools {
		recs[i] = record(t, p, nil)
	}

	// node-4 stops without leaving: reported failed.
	c.pools[4].Close()
	start := time.Now()
	for _, r := range recs[:4] {
		r.await(t, 20*time.Second, "node-4 failed", memberEvent(EventMemberFailed, "node-4"))
	}
	awaitStatus(t, c.pools[:4], "node-4", StatusFailed, 5*time.Second)
	t.Logf("failure reported everywhere after %v", time.Since(start).Round(time.Millisecond))

	// node-3 leaves: reported left, not failed.
	if err := c.pools[3].Leave(5 * time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	for _, r := range recs[:3] {
		r.await(t, 10*time.Second, "node-3 left", memberEvent(EventMemberLeave, "node-3"))
	}
	awaitStatus(t, c.pools[:3], "node-3", StatusLeft, 5*time.Second)
	c.pools[3].Close()
	for _, r := range recs[:3] {
		if k := r.count(memberEvent(EventMemberFailed, "node-3")); k != 0 {
			t.Fatalf("%s reported node-3 failed %d times", r.pool.NodeName(), k)
		}
	}
	for _, p := range c.pools[:3] {
		st, err := p.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.MembersAlive != 3 || st.MembersFailed != 1 || st.MembersLeft != 1 {
			t.Fatalf("%s stats: alive %d failed %d left %d", p.NodeName(), st.MembersAlive, st.MembersFailed, st.MembersLeft)
		}
	}

	// Forcing the failed node-4 out: every member then reports it left.
	if err := c.pools[0].ForceLeave("node-4", false); err != nil {
		t.Fatalf("ForceLeave: %v", err)
	}
	for _, r := range recs[:3] {
		r.await(t, 10*time.Second, "node-4 forced out", memberEvent(EventMemberLeave, "node-4"))
	}
	awaitStatus(t, c.pools[:3], "node-4", StatusLeft, 5*time.Second)
}

// A failed member forced out with prune is forgotten everywhere. (Three
// nodes, so that the one broadcast that carries the prune reaches the other
// for sure: with more failed members among the gossip targets it may not,
// and push-pull carries the leave but not the prune.)
func TestForceLeavePrune(t *testing.T) {
	c := newCluster(t, 3, nil)
	recs := make([]*recorder, 3)
	for i, p := range c.pools {
		recs[i] = record(t, p, nil)
	}
	c.pools[2].Close()
	for _, r := range recs[:2] {
		r.await(t, 20*time.Second, "node-2 failed", memberEvent(EventMemberFailed, "node-2"))
	}
	if err := c.pools[1].ForceLeave("node-2", true); err != nil {
		t.Fatalf("ForceLeave prune: %v", err)
	}
	for _, r := range recs[:2] {
		r.await(t, 10*time.Second, "node-2 left", memberEvent(EventMemberLeave, "node-2"))
		r.await(t, 10*time.Second, "node-2 reaped", memberEvent(EventMemberReap, "node-2"))
	}
	waitFor(t, 5*time.Second, "node-2 forgotten", func() (bool, string) {
		for _, p := range c.pools[:2] {
			if m, ok := memberOf(p, "node-2"); ok {
				return false, p.NodeName() + " still lists node-2 as " + m.Status.String()
			}
		}
		return true, ""
	})
}

func TestTags(t *testing.T) {
	c := newCluster(t, 3, func(i int, cfg *Config) {
		if i == 2 {
			cfg.Tags["role"] = "web"
		}
	})
	a, b := c.pools[0], c.pools[2]
	rec := record(t, a, nil)
	tagsOf := func(p *Pool, name string) map[string]string {
		m, _ := memberOf(p, name)
		return m.Tags
	}
	if got := tagsOf(a, "node-2"); got["role"] != "web" || got["index"] != "2" {
		t.Fatalf("config tags seen as %v", got)
	}
	before, _ := memberOf(a, "node-2")

	if err := b.SetTag("role", "db"); err != nil {
		t.Fatal(err)
	}
	rec.await(t, 10*time.Second, "update role=db", func(e Event) bool {
		return memberEvent(EventMemberUpdate, "node-2")(e) && e.Member.Tags["role"] == "db"
	})
	waitFor(t, 10*time.Second, "role=db everywhere", func() (bool, string) {
		for _, p := range c.pools {
			if got := tagsOf(p, "node-2"); got["role"] != "db" {
				return false, p.NodeName() + " sees " + stringify(got)
			}
		}
		return true, ""
	})
	if after, _ := memberOf(a, "node-2"); after.Incarnation <= before.Incarnation {
		t.Fatalf("incarnation %d after a tag change, %d before", after.Incarnation, before.Incarnation)
	}

	if err := b.RemoveTag("role"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "role removed", func() (bool, string) {
		got := tagsOf(a, "node-2")
		_, has := got["role"]
		return !has && got["index"] == "2", stringify(got)
	})

	if err := b.SetTags(map[string]string{"zone": "b", "rack": "7"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "tags replaced", func() (bool, string) {
		got := tagsOf(a, "node-2")
		return len(got) == 2 && got["zone"] == "b" && got["rack"] == "7", stringify(got)
	})
	if err := b.SetTags(nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "tags cleared", func() (bool, string) {
		m, ok := memberOf(a, "node-2")
		return ok && len(m.Tags) == 0, stringify(m.Tags)
	})
}

func stringify(m map[string]string) string {
	s := "{"
	for k, v := range m {
		s += k + "=" + v + " "
	}
	return s + "}"
}

func TestRuntimeCloseStopsPools(t *testing.T) {
	rt := newRuntime(t)
	p := newPool(t, rt, fastConfig("solo"))
	ch := p.Events(context.Background())
	rt.Close()
	rt.Close()
	if _, err := p.Members(); !isClosed(err) {
		t.Fatalf("Members after the runtime's Close: %v", err)
	}
	waitFor(t, 5*time.Second, "the events channel to close", func() (bool, string) {
		select {
		case _, ok := <-ch:
			return !ok, "an event"
		default:
			return false, "open"
		}
	})
	if _, err := rt.NewPool(fastConfig("again")); !isClosed(err) {
		t.Fatalf("NewPool after Close: %v", err)
	}
}

func TestCoordinatesAndNearestFirst(t *testing.T) {
	rt := newRuntime(t)
	a := newPool(t, rt, fastConfig("coord-a"))
	b := newPool(t, rt, fastConfig("coord-b"))
	if n, err := b.Join(context.Background(), localAddr(t, a)); err != nil || n != 1 {
		t.Fatalf("join: %d %v", n, err)
	}
	if _, ok, err := a.Coordinate(""); err != nil || !ok {
		t.Fatalf("local coordinate: ok=%v err=%v", ok, err)
	}
	waitFor(t, 10*time.Second, "a learns b's coordinate", func() (bool, string) {
		_, ok, err := a.Coordinate("coord-b")
		return err == nil && ok, fmt.Sprintf("ok=%v err=%v", ok, err)
	})
	rtt, ok, err := a.EstimatedRTT("coord-b", "")
	if err != nil || !ok || rtt > 50*time.Millisecond {
		t.Fatalf("estimated rtt %v ok=%v err=%v", rtt, ok, err)
	}
	near, err := a.MembersNear("")
	if err != nil || len(near) != 2 || near[0].Name != "coord-a" {
		t.Fatalf("members near: %v %v", near, err)
	}
	if _, err := a.MembersNear("nobody"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("unknown member: %v", err)
	}
	if _, ok, err := a.EstimatedRTT("nobody", ""); err != nil || ok {
		t.Fatalf("unknown member rtt: ok=%v err=%v", ok, err)
	}
}
