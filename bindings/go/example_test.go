package hearsay_test

import (
	"context"
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
