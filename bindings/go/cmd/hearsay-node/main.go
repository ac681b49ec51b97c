// Command hearsay-node runs one hearsay node on loopback from the command
// line, for cross-language tests; it speaks the same options and output as
// bindings/cpp/examples/node.cpp and bindings/python/examples/node.py:
//
//	hearsay-node NAME [--join ADDR] [--expect-members N] [--send EVENT_NAME]
//	             [--payload TEXT] [--expect-events N] [--timeout-ms T]
//
// It prints "ADDR <ip:port>" first, then "EVENT <name> <payload>" for every
// user event it receives, and exits 0 once it has seen N alive members and
// N user events (after leaving gracefully), 1 at the timeout, 2 on bad
// usage or an error.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	hearsay "github.com/hearsay-project/hearsay/bindings/go"
)

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "hearsay-node: "+format+"\n", args...)
	os.Exit(code)
}

func main() {
	if len(os.Args) < 2 {
		fail(2, "usage: hearsay-node NAME [--join ADDR] [--expect-members N] [--send EVENT] [--payload TEXT] [--expect-events N] [--timeout-ms T]")
	}
	name := os.Args[1]
	var join, send string
	payload := name
	expectMembers, expectEvents, timeoutMs := 0, 0, 30000
	args := os.Args[2:]
	for i := 0; i < len(args); i++ {
		if i+1 >= len(args) {
			fail(2, "%s needs a value", args[i])
		}
		value := args[i+1]
		number := func() int {
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				fail(2, "%s %s: give a non-negative whole number", args[i], value)
			}
			return n
		}
		switch args[i] {
		case "--join":
			join = value
		case "--send":
			send = value
		case "--payload":
			payload = value
		case "--expect-members":
			expectMembers = number()
		case "--expect-events":
			expectEvents = number()
		case "--timeout-ms":
			timeoutMs = number()
		default:
			fail(2, "unknown option %s", args[i])
		}
		i++
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeoutMs)*time.Millisecond)
	defer cancel()
	rt, err := hearsay.NewRuntime()
	if err != nil {
		fail(2, "%v", err)
	}
	defer rt.Close()
	pool, err := rt.NewPool(hearsay.Config{
		Profile:          hearsay.ProfileLocal,
		NodeName:         name,
		ProbeInterval:    200 * time.Millisecond,
		ProbeTimeout:     100 * time.Millisecond,
		GossipInterval:   50 * time.Millisecond,
		PushPullInterval: time.Second,
		RetransmitMult:   4,
	})
	if err != nil {
		fail(2, "%v", err)
	}
	defer pool.Close()
	addr, err := pool.LocalAddr()
	if err != nil {
		fail(2, "%v", err)
	}
	fmt.Printf("ADDR %s\n", addr)
	if join != "" {
		for {
			if n, err := pool.Join(ctx, join); err == nil && n > 0 {
				break
			}
			if ctx.Err() != nil {
				fail(1, "could not join %s", join)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	sent := send == ""
	events := 0
	complete := false // once the expected membership was seen; others may leave after
	for {
		members, err := pool.Members()
		if err != nil {
			fail(2, "%v", err)
		}
		alive := 0
		for _, m := range members {
			if m.Status == hearsay.StatusAlive {
				alive++
			}
		}
		complete = complete || alive >= expectMembers
		if !sent && complete {
			if err := pool.SendEvent(send, []byte(payload), false); err != nil {
				fail(2, "%v", err)
			}
			sent = true
		}
		if sent && complete && events >= expectEvents && (expectMembers > 0 || expectEvents > 0) {
			_ = pool.Leave(2 * time.Second)
			os.Exit(0)
		}
		wait, stop := context.WithTimeout(ctx, 100*time.Millisecond)
		ev, err := pool.NextEvent(wait)
		stop()
		if err == nil && ev.Type == hearsay.EventUser {
			fmt.Printf("EVENT %s %s\n", ev.Name, ev.Payload)
			events++
		}
		if ctx.Err() != nil {
			if expectMembers == 0 && expectEvents == 0 {
				os.Exit(0)
			}
			fail(1, "timed out with %d alive and %d events", alive, events)
		}
	}
}
