package hearsay_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log"
	"sort"
	"time"

	hearsay "github.com/hearsay-project/hearsay/bindings/go"
)

// Two pools on one runtime: beta joins alpha, prints the members, receives
// a user event and answers a query from alpha.
func Example() {
	rt, err := hearsay.NewRuntime()
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	alpha, err := rt.NewPool(hearsay.Config{
		Profile:  hearsay.ProfileLocal,
		NodeName: "alpha",
		Bind:     "127.0.0.1:0", // a free port
		Tags:     map[string]string{"role": "api"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer alpha.Close()
	beta, err := rt.NewPool(hearsay.Config{Profile: hearsay.ProfileLocal, NodeName: "beta"})
	if err != nil {
		log.Fatal(err)
	}
	defer beta.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seed, err := alpha.LocalAddr()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := beta.Join(ctx, seed); err != nil {
		log.Fatal(err)
	}

	members, err := beta.Members()
	if err != nil {
		log.Fatal(err)
	}
	sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })
	for _, m := range members {
		fmt.Println(m.Name, m.Status, m.Tags)
	}

	// beta's events: print user events, answer queries.
	got := make(chan struct{})
	go func() {
		for ev := range beta.Events(ctx) {
			switch ev.Type {
			case hearsay.EventUser:
				fmt.Printf("beta got event %s: %s\n", ev.Name, ev.Payload)
				close(got)
			case hearsay.EventQuery:
				if err := ev.Respond([]byte("beta is fine")); err != nil {
					log.Print(err)
				}
			}
		}
	}()

	if err := alpha.SendEvent("deploy", []byte("v2"), false); err != nil {
		log.Fatal(err)
	}
	<-got

	replies, err := alpha.Query(ctx, "health", nil, hearsay.QueryOptions{Nodes: []string{"beta"}, Timeout: 500 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	for r := range replies {
		fmt.Printf("%s from %s: %s\n", r.Type, r.From, r.Payload)
	}

	// Output:
	// alpha alive map[role:api]
	// beta alive map[]
	// beta got event deploy: v2
	// response from beta: beta is fine
}

// Two pools sharing a key join; then the key is rotated across the pool.
func ExamplePool_KeyringInstall() {
	newKey := func() []byte {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			log.Fatal(err)
		}
		return key
	}
	key := newKey() // the same key on every node

	rt, err := hearsay.NewRuntime()
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	a, err := rt.NewPool(hearsay.Config{Profile: hearsay.ProfileLocal, NodeName: "a", Keys: [][]byte{key}})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := rt.NewPool(hearsay.Config{Profile: hearsay.ProfileLocal, NodeName: "b",
		KeysBase64: []string{base64.StdEncoding.EncodeToString(key)}})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seed, err := a.LocalAddr()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := b.Join(ctx, seed); err != nil {
		log.Fatal(err)
	}

	// Rotate: each step only once the one before succeeded on every member.
	check := func(r hearsay.KeyringReport, err error) {
		if err != nil {
			log.Fatal(err)
		}
		if !r.Succeeded() {
			log.Fatalf("%d of %d members answered; failures: %v", r.Responses, r.Members, r.Errors)
		}
	}
	next := base64.StdEncoding.EncodeToString(newKey())
	check(a.KeyringInstall(ctx, next)) // every member can now decrypt with it
	check(a.KeyringUse(ctx, next))     // ... and encrypts with it
	check(a.KeyringRemove(ctx, base64.StdEncoding.EncodeToString(key)))

	report, err := a.KeyringList(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d key, held by %d, primary of %d\n", len(report.Keys), report.Keys[next].Holders, report.Keys[next].PrimaryOf)
	// Output: 1 key, held by 2, primary of 2
}
