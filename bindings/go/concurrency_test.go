package hearsay

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Many goroutines share pools: members, stats, events, sends, tag changes,
// joins and leaves at once, then Close while calls are in flight.
func TestConcurrentUse(t *testing.T) {
	c := newCluster(t, 3, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var received [3]atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for i, p := range c.pools {
		// Two channels and a NextEvent loop share each pool's events.
		for k := 0; k < 2; k++ {
			ch := p.Events(ctx)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ev := range ch {
					if ev.Type == EventUser {
						received[i].Add(1)
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				ev, err := p.NextEvent(ctx)
				if err == nil && ev.Type == EventUser {
					received[i].Add(1)
				}
			}
		}()
		for g := 0; g < 3; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < 30; k++ {
					ms, err := p.Members()
					if err != nil || len(ms) < 3 {
						fail(fmt.Errorf("Members: %d, %v", len(ms), err))
					}
					if _, err := p.Stats(); err != nil {
						fail(err)
					}
					if _, err := p.LocalAddr(); err != nil {
						fail(err)
					}
					// Unique payloads: events of one name, payload and Lamport
					// time are one event.
					payload := fmt.Sprintf("%d-%d-%d", i, g, k)
					if err := p.SendEvent("load", []byte(payload), false); err != nil {
						fail(err)
					}
					if err := p.SetTag("g"+strconv.Itoa(g), strconv.Itoa(k)); err != nil {
						fail(err)
					}
				}
			}()
		}
	}
	// Membership changes meanwhile.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := 0; k < 3; k++ {
			p, err := c.rts[k%2].NewPool(fastConfig("churn-" + strconv.Itoa(k)))
			if err != nil {
				fail(err)
				return
			}
			if _, err := p.Join(ctx, c.seed); err != nil {
				fail(err)
			}
			if _, err := p.Members(); err != nil {
				fail(err)
			}
			if err := p.Leave(2 * time.Second); err != nil {
				fail(err)
			}
			p.Close()
		}
	}()

	// Every pool gets every one of the 3 × 3 × 30 events (each event goes to
	// one of its three readers).
	const sent = 3 * 3 * 30
	waitFor(t, 30*time.Second, "every event everywhere", func() (bool, string) {
		s := ""
		ok := true
		for i := range received {
			n := received[i].Load()
			s += fmt.Sprintf("node-%d: %d ", i, n)
			ok = ok && n >= sent
		}
		return ok, s
	})

	// Close while other goroutines are still calling.
	var calls sync.WaitGroup
	stop := make(chan struct{})
	for _, p := range c.pools {
		for g := 0; g < 4; g++ {
			calls.Add(1)
			go func() {
				defer calls.Done()
				for {
					_, err := p.Members()
					if err != nil {
						if !isClosed(err) {
							fail(err)
						}
						return
					}
					select {
					case <-stop:
						return
					default:
					}
				}
			}()
		}
	}
	var closers sync.WaitGroup
	for _, p := range c.pools {
		for g := 0; g < 2; g++ {
			closers.Add(1)
			go func() { defer closers.Done(); p.Close() }()
		}
	}
	closers.Wait()
	calls.Wait()
	close(stop)
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range received {
		if n := received[i].Load(); n != sent {
			t.Errorf("node-%d: %d user events, want exactly %d", i, n, sent)
		}
	}
}
