package hearsay

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// benchPool is one pool that queues many events (no peers: its own user
// events come back to it).
func benchPool(b *testing.B) *Pool {
	rt := newRuntime(b)
	cfg := Config{Profile: ProfileLocal, NodeName: "bench", EventQueueDepth: 1 << 20}
	return newPool(b, rt, cfg)
}

const benchBatch = 1024

var benchPayload = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

// queue sends n user events to the pool itself. Stats, a turn of the
// runtime thread after the sends, lets it queue them first (the timed
// part still waits for one if it has not).
func queue(b *testing.B, p *Pool, n int) {
	for i := 0; i < n; i++ {
		if err := p.SendEvent("bench", benchPayload, false); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := p.Stats(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkNextEvent: the cost of taking one queued user event (name and
// 32-byte payload) from the library and copying it into Go memory: one
// poll (hearsay_pool_next_event plus reading the event in one cgo call),
// the copies, and hearsay_event_free.
func BenchmarkNextEvent(b *testing.B) {
	p := benchPool(b)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(benchBatch, b.N-done)
		b.StopTimer()
		queue(b, p, n)
		b.StartTimer()
		for i := 0; i < n; i++ {
			ev, ok, err := p.next("bench", 5*time.Second)
			if err != nil || !ok || ev.Type != EventUser || len(ev.Payload) != len(benchPayload) {
				b.Fatalf("event %d of a batch: %v %v %v", i, ev, ok, err)
			}
		}
		done += n
	}
}

// BenchmarkEventsChannel: the same events delivered through Events (the
// polling goroutine and a channel hand-off included).
func BenchmarkEventsChannel(b *testing.B) {
	p := benchPool(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := p.Events(ctx)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(benchBatch, b.N-done)
		b.StopTimer()
		queue(b, p, n)
		b.StartTimer()
		for i := 0; i < n; i++ {
			if ev := <-ch; ev.Type != EventUser {
				b.Fatalf("got %v", ev)
			}
		}
		done += n
	}
}

// BenchmarkMembers: one Members() snapshot of a pool that knows n members
// (n pools on two runtimes in this process, LOCAL defaults), each with two
// tags, copied into Go memory.
func BenchmarkMembers(b *testing.B) {
	for _, n := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			rts := []*Runtime{newRuntime(b), newRuntime(b)}
			var pools []*Pool
			var seed string
			for i := 0; i < n; i++ {
				cfg := Config{Profile: ProfileLocal, NodeName: "m-" + strconv.Itoa(i),
					Tags: map[string]string{"index": strconv.Itoa(i), "role": "bench"}}
				p := newPool(b, rts[i%2], cfg)
				pools = append(pools, p)
				if i == 0 {
					seed = localAddr(b, p)
				} else if _, err := p.Join(context.Background(), seed); err != nil {
					b.Fatal(err)
				}
			}
			waitFor(b, 30*time.Second, "convergence", func() (bool, string) {
				k, err := countStatus(pools[0], StatusAlive)
				return k == n, fmt.Sprint(k, err)
			})
			b.Run("Members", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					ms, err := pools[0].Members()
					if err != nil || len(ms) != n {
						b.Fatalf("%d members, %v", len(ms), err)
					}
				}
			})
			// The library's part alone: snapshot and free, nothing copied.
			b.Run("snapshot-only", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if err := pools[0].snapshotOnly(); err != nil {
						b.Fatal(err)
					}
				}
			})
			// The binding's part alone: copying one snapshot into Go memory.
			b.Run("decode-only", func(b *testing.B) {
				b.ReportAllocs()
				if k, err := pools[0].decodeOnly(b.N); err != nil || k != n {
					b.Fatalf("%d members, %v", k, err)
				}
			})
		})
	}
}

// BenchmarkStats: one Stats() call (a turn of the runtime thread).
func BenchmarkStats(b *testing.B) {
	p := benchPool(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Stats(); err != nil {
			b.Fatal(err)
		}
	}
}
