package hearsay

// #include <stdlib.h>
// #include "helpers.h"
import "C"

import (
	"context"
	"math"
	"runtime"
	"sort"
	"sync"
	"time"
	"unsafe"
)

// Pool is one gossip membership on a Runtime. It is safe for concurrent
// use: every method may be called from any goroutine at the same time as
// any other, Close included (Close waits for calls in progress).
type Pool struct {
	s  *poolState
	rt *Runtime // keeps the runtime alive as long as the pool
}

type poolState struct {
	mu   sync.RWMutex // held for reading during each C call, for writing by close
	c    *C.hearsay_pool
	rt   *runtimeState
	done chan struct{} // closed when Close starts
	once sync.Once
	name string
}

// pollInterval bounds each wait inside the C library, so that a pool can be
// closed (which waits for calls in progress) within about this long.
const pollInterval = 50 * time.Millisecond

// NewPool binds the config's address (UDP and TCP) and starts a pool. It
// knows only itself until Join. Errors: ErrInvalidArgument (a setting out of
// range; the message names it), ErrAddrInUse, ErrClosed (runtime closed),
// ErrIO.
func (rt *Runtime) NewPool(cfg Config) (*Pool, error) {
	const op = "Runtime.NewPool"
	cc, err := cfg.toC(op)
	if err != nil {
		return nil, err
	}
	defer C.hearsay_config_free(cc)
	rs := rt.s
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	if rs.c == nil {
		return nil, closedError(op, "the runtime")
	}
	var c *C.hearsay_pool
	if err := check(op, func() C.int32_t { return C.int32_t(C.hearsay_pool_new(rs.c, cc, &c)) }); err != nil {
		return nil, err
	}
	s := &poolState{c: c, rt: rs, done: make(chan struct{}), name: C.GoString(C.hearsay_pool_node_name(c))}
	rs.pmu.Lock()
	rs.pools[s] = struct{}{}
	rs.pmu.Unlock()
	p := &Pool{s: s, rt: rt}
	runtime.SetFinalizer(p, (*Pool).Close)
	return p, nil
}

// acquire returns the C pool for one call, or ErrClosed; the caller must
// call p.release() afterwards when err is nil.
func (p *Pool) acquire(op string) (*C.hearsay_pool, error) {
	p.s.mu.RLock()
	if p.s.c == nil {
		p.s.mu.RUnlock()
		return nil, closedError(op, "the pool")
	}
	return p.s.c, nil
}

func (p *Pool) release() {
	p.s.mu.RUnlock()
	runtime.KeepAlive(p)
}

// Close stops the pool at once, without leaving: the others will report it
// failed (call Leave first to leave gracefully). It waits for calls in
// progress on the pool (a Join at most the TCP timeout, an event poll at
// most 50 ms), ends the channels of Events and Query, and frees the pool.
// Idempotent; always returns nil. Methods called afterwards return
// ErrClosed.
func (p *Pool) Close() error {
	p.s.close()
	runtime.SetFinalizer(p, nil)
	return nil
}

func (s *poolState) close() {
	s.once.Do(func() { close(s.done) })
	s.mu.Lock()
	c := s.c
	s.c = nil
	s.mu.Unlock()
	if c != nil {
		C.hearsay_pool_free(c)
		s.rt.forget(s)
	}
}

// NodeName is the local node's name.
func (p *Pool) NodeName() string { return p.s.name }

// LocalAddr is the bound address, "ip:port" (with the port chosen when the
// config asked for port 0).
func (p *Pool) LocalAddr() (string, error) {
	const op = "Pool.LocalAddr"
	c, err := p.acquire(op)
	if err != nil {
		return "", err
	}
	defer p.release()
	var buf [64]C.char
	if err := check(op, func() C.int32_t {
		return C.int32_t(C.hearsay_pool_local_addr(c, &buf[0], C.size_t(len(buf))))
	}); err != nil {
		return "", err
	}
	return C.GoString(&buf[0]), nil
}

// Join joins the pool through seed addresses ("ip:port" or "host:port"): a
// full state exchange over TCP with each, for at most the TCP timeout. It
// returns how many seeds answered; ErrIO if none did, ErrInvalidArgument for
// an address that does not parse or resolve (nothing is sent then). No
// addresses: 0, nil.
//
// If ctx ends first, Join returns its error at once; the exchange in
// progress then finishes in the background within the TCP timeout (and may
// still join).
func (p *Pool) Join(ctx context.Context, addrs ...string) (int, error) {
	return p.join(ctx, "Pool.Join", addrs, false)
}

func (p *Pool) join(ctx context.Context, op string, addrs []string, ignoreOld bool) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, wrapCtx(op, err)
	}
	arr, freeArr, err := cstrings(op, "address", addrs)
	if err != nil {
		return 0, err
	}
	c, err := p.acquire(op)
	if err != nil {
		freeArr()
		return 0, err
	}
	type result struct {
		n   int
		err error
	}
	do := func() result {
		defer freeArr()
		defer p.release()
		var n C.size_t
		err := check(op, func() C.int32_t { return joinC(c, arr, C.size_t(len(addrs)), &n, ignoreOld) })
		return result{int(n), err}
	}
	if ctx.Done() == nil {
		r := do()
		return r.n, r.err
	}
	ch := make(chan result, 1)
	go func() { ch <- do() }()
	select {
	case r := <-ch:
		return r.n, r.err
	case <-ctx.Done():
		return 0, wrapCtx(op, ctx.Err())
	}
}

// Leave leaves the pool gracefully: it announces the leave and waits until
// the announcement has been gossiped or timeout passed (then ErrTimeout; it
// still spreads). The others then report EventMemberLeave and StatusLeft.
// The pool keeps answering until Close; close it afterwards.
func (p *Pool) Leave(timeout time.Duration) error {
	const op = "Pool.Leave"
	ms, err := millis(op, "timeout", timeout)
	if err != nil {
		return err
	}
	c, err := p.acquire(op)
	if err != nil {
		return err
	}
	defer p.release()
	return check(op, func() C.int32_t { return C.int32_t(C.hearsay_pool_leave(c, ms)) })
}

// Members is a snapshot of every member the pool knows, the local node
// included.
func (p *Pool) Members() ([]Member, error) {
	const op = "Pool.Members"
	c, err := p.acquire(op)
	if err != nil {
		return nil, err
	}
	var ms *C.hearsay_members
	err = check(op, func() C.int32_t { return C.int32_t(C.hearsay_pool_members(c, &ms)) })
	p.release()
	if err != nil {
		return nil, err
	}
	defer C.hearsay_members_free(ms)
	return decodeMembers(ms), nil
}

// SendEvent broadcasts a user event to every member, this one included;
// each delivers it exactly once (EventUser). With coalesce, members that
// coalesce may deliver only the latest event of this name within their
// coalescing period. An event larger than the pool's limit (512 bytes
// encoded by default) gives ErrInvalidArgument; an empty name too.
func (p *Pool) SendEvent(name string, payload []byte, coalesce bool) error {
	const op = "Pool.SendEvent"
	cname, err := cstring(op, "name", name)
	if err != nil {
		return err
	}
	defer free(cname)
	c, err := p.acquire(op)
	if err != nil {
		return err
	}
	defer p.release()
	err = check(op, func() C.int32_t {
		return C.int32_t(C.hearsay_pool_send_event(c, cname, bytesPtr(payload), C.size_t(len(payload)), C.bool(coalesce)))
	})
	runtime.KeepAlive(payload)
	return err
}

// SetTags replaces all of the local node's tags (nil or empty clears them);
// every member sees EventMemberUpdate. Tags too large for MaxMetaSize give
// ErrInvalidArgument and change nothing.
func (p *Pool) SetTags(tags map[string]string) error {
	const op = "Pool.SetTags"
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	values := make([]string, len(keys))
	for i, k := range keys {
		values[i] = tags[k]
	}
	ck, freeK, err := cstrings(op, "tag key", keys)
	if err != nil {
		return err
	}
	defer freeK()
	cv, freeV, err := cstrings(op, "tag value", values)
	if err != nil {
		return err
	}
	defer freeV()
	c, err := p.acquire(op)
	if err != nil {
		return err
	}
	defer p.release()
	return check(op, func() C.int32_t { return C.int32_t(C.hearsay_pool_set_tags(c, ck, cv, C.size_t(len(keys)))) })
}

// SetTag sets one of the local node's tags; every member sees
// EventMemberUpdate.
func (p *Pool) SetTag(key, value string) error {
	const op = "Pool.SetTag"
	ck, err := cstring(op, "tag key", key)
	if err != nil {
		return err
	}
	defer free(ck)
	cv, err := cstring(op, "tag value", value)
	if err != nil {
		return err
	}
	defer free(cv)
	c, err := p.acquire(op)
	if err != nil {
		return err
	}
	defer p.release()
	return check(op, func() C.int32_t { return C.int32_t(C.hearsay_pool_set_tag(c, ck, cv)) })
}

// RemoveTag removes one of the local node's tags (a key that is not set is
// not an error); every member sees EventMemberUpdate.
func (p *Pool) RemoveTag(key string) error {
	const op = "Pool.RemoveTag"
	ck, err := cstring(op, "tag key", key)
	if err != nil {
		return err
	}
	defer free(ck)
	c, err := p.acquire(op)
	if err != nil {
		return err
	}
	defer p.release()
	return check(op, func() C.int32_t { return C.int32_t(C.hearsay_pool_remove_tag(c, ck)) })
}

// ForceLeave forces the failed member name out of the pool: every member
// then reports it left (EventMemberLeave, StatusLeft). With prune it is also
// forgotten at once (EventMemberReap). An unknown member or the local node
// gives ErrInvalidArgument.
func (p *Pool) ForceLeave(name string, prune bool) error {
	const op = "Pool.ForceLeave"
	cname, err := cstring(op, "name", name)
	if err != nil {
		return err
	}
	defer free(cname)
	c, err := p.acquire(op)
	if err != nil {
		return err
	}
	defer p.release()
	return check(op, func() C.int32_t { return C.int32_t(C.hearsay_pool_force_leave(c, cname, C.bool(prune))) })
}

// EventsDropped is how many events were dropped because the queue
// (Config.EventQueueDepth) was full; 0 once closed.
func (p *Pool) EventsDropped() uint64 {
	c, err := p.acquire("Pool.EventsDropped")
	if err != nil {
		return 0
	}
	defer p.release()
	return uint64(C.hearsay_pool_events_dropped(c))
}

// EventFD is a file descriptor that is readable (for poll, select, epoll)
// exactly while events are waiting, for programs with their own event loop
// that call NextEvent when it is. It belongs to the pool: do not read,
// write or close it; it is closed by Close.
func (p *Pool) EventFD() (int, error) {
	const op = "Pool.EventFD"
	c, err := p.acquire(op)
	if err != nil {
		return -1, err
	}
	defer p.release()
	return int(C.hearsay_pool_event_fd(c)), nil
}

// Stats are a pool's counters.
type Stats struct {
	HealthScore      uint32 // Lifeguard local health: 0 is healthy
	PacketsIn        uint64
	PacketsOut       uint64
	BytesIn          uint64 // datagrams and TCP
	BytesOut         uint64
	StreamsIn        uint64 // TCP frames
	StreamsOut       uint64
	DroppedMalformed uint64
	DroppedLabel     uint64
	DroppedVersion   uint64
	DroppedInvalid   uint64
	DroppedDecrypt   uint64
	StreamsRefused   uint64
	EventsDropped    uint64
	MembersAlive     uint32 // suspects and the local node included
	MembersSuspect   uint32
	MembersLeaving   uint32
	MembersLeft      uint32
	MembersFailed    uint32

	SnapshotErrors    uint64 // snapshot records that could not be written
	BroadcastsDropped uint64 // dropped from a full gossip queue before being sent their full number of times
	DroppedPlaintext  uint64 // plaintext while encryption is required
	DroppedSource     uint64 // from a source (or about a member address) outside AllowedCIDRs
	KeyringFileErrors uint64 // keyring file writes that failed
	DroppedOverload   uint64 // datagrams dropped from the pool's full inbound queue
	DuplicatesSkipped uint64 // broadcasts received again (redundancy or replays), skipped undecoded

	StreamsOversized    uint64 // TCP frames refused for a length above MaxStreamSize
	IntentsDropped      uint64 // intents about unknown members dropped at max_intents
	EventsTooOld        uint64 // user events older than the dedup window, a restored snapshot or an ignore-old join
	QueriesTooOld       uint64 // queries older than the dedup window
	DedupFull           uint64 // events and queries dropped at max_per_ltime for one Lamport time
	QueriesRefused      uint64 // queries of this node refused at max_pending_queries
	QueryRepliesDropped uint64 // acks and responses dropped beyond a query's limit
}

// Stats reads the pool's counters.
func (p *Pool) Stats() (Stats, error) {
	const op = "Pool.Stats"
	c, err := p.acquire(op)
	if err != nil {
		return Stats{}, err
	}
	defer p.release()
	// Versioned by size: the struct of the header this package was built
	// against; fields a library older than the header does not write stay 0.
	var st C.hearsay_stats
	st.size = C.uint32_t(unsafe.Sizeof(st))
	if err := check(op, func() C.int32_t { return C.int32_t(C.hearsay_pool_stats(c, &st)) }); err != nil {
		return Stats{}, err
	}
	return Stats{
		HealthScore:      uint32(st.health_score),
		PacketsIn:        uint64(st.packets_in),
		PacketsOut:       uint64(st.packets_out),
		BytesIn:          uint64(st.bytes_in),
		BytesOut:         uint64(st.bytes_out),
		StreamsIn:        uint64(st.streams_in),
		StreamsOut:       uint64(st.streams_out),
		DroppedMalformed: uint64(st.dropped_malformed),
		DroppedLabel:     uint64(st.dropped_label),
		DroppedVersion:   uint64(st.dropped_version),
		DroppedInvalid:   uint64(st.dropped_invalid),
		DroppedDecrypt:   uint64(st.dropped_decrypt),
		StreamsRefused:   uint64(st.streams_refused),
		EventsDropped:    uint64(st.events_dropped),
		MembersAlive:     uint32(st.members_alive),
		MembersSuspect:   uint32(st.members_suspect),
		MembersLeaving:   uint32(st.members_leaving),
		MembersLeft:      uint32(st.members_left),
		MembersFailed:    uint32(st.members_failed),

		SnapshotErrors:    uint64(st.snapshot_errors),
		BroadcastsDropped: uint64(st.broadcasts_dropped),
		DroppedPlaintext:  uint64(st.dropped_plaintext),
		DroppedSource:     uint64(st.dropped_source),
		KeyringFileErrors: uint64(st.keyring_file_errors),
		DroppedOverload:   uint64(st.dropped_overload),
		DuplicatesSkipped: uint64(st.duplicates_skipped),

		StreamsOversized:    uint64(st.streams_oversized),
		IntentsDropped:      uint64(st.intents_dropped),
		EventsTooOld:        uint64(st.events_too_old),
		QueriesTooOld:       uint64(st.queries_too_old),
		DedupFull:           uint64(st.dedup_full),
		QueriesRefused:      uint64(st.queries_refused),
		QueryRepliesDropped: uint64(st.query_replies_dropped),
	}, nil
}

// clampMillis converts a wait to the C int32 milliseconds, at least 0.
func clampMillis(d time.Duration) C.int32_t {
	if d <= 0 {
		return 0
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxInt32 {
		ms = math.MaxInt32
	}
	return C.int32_t(ms)
}
