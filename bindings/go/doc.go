// Package hearsay is the Go binding of hearsay, an embeddable gossip
// membership runtime (SWIM with the Lifeguard refinements and a Serf layer:
// member statuses, user events, queries, tags, force-leave), over its C ABI
// (include/hearsay.h) with cgo.
//
// A Runtime is one background thread of the library; any number of Pools
// (gossip memberships) run on it. Everything is pulled: events with
// Pool.Events or Pool.NextEvent, query replies from the channel of
// Pool.Query; the library never calls into Go.
//
//	rt, _ := hearsay.NewRuntime()
//	defer rt.Close()
//	pool, _ := rt.NewPool(hearsay.Config{Profile: hearsay.ProfileLAN, NodeName: "web-1",
//		Bind: "10.0.0.5:7946", Tags: map[string]string{"role": "web"}})
//	defer pool.Close()
//	pool.Join(ctx, "10.0.0.1:7946")
//	for ev := range pool.Events(ctx) { ... }
//
// Every value returned is a copy in Go memory: C objects are freed before
// the call returns (except a query event's handle, kept until it is
// answered or garbage collected). Every method is safe for concurrent use.
// Close (idempotent) frees a Runtime or Pool at once; finalizers free those
// that are dropped without Close. After Close, methods return an error
// matching ErrClosed.
//
// Errors are *Error values carrying the library's result code and its
// message (hearsay_last_error, read on the OS thread that made the call);
// match them with errors.Is against ErrInvalidArgument, ErrAddrInUse,
// ErrIO, ErrTimeout, ErrClosed, ErrUnsupported, ErrBufferTooSmall,
// ErrNullParameter and ErrPanic.
//
// Linking: by default the package uses the header in the repository's
// include/ and the library `cargo build` leaves in target/debug (with an
// rpath to it). Build with -tags hearsay_pkgconfig to use `pkg-config
// hearsay` instead (after scripts/install.sh), or with -tags
// hearsay_external to give every flag in CGO_CFLAGS and CGO_LDFLAGS. See
// README.md.
package hearsay
