package hearsay

// #include <stdlib.h>
// #include "helpers.h"
import "C"

import (
	"context"
	"runtime"
	"sort"
	"strconv"
	"time"
)

// ReplyType says what a QueryReply is.
type ReplyType int32

const (
	ReplyAck      ReplyType = 1 // the member received the query (QueryOptions.RequestAck); no payload
	ReplyResponse ReplyType = 2 // the member answered with Event.Respond
)

func (t ReplyType) String() string {
	switch t {
	case ReplyAck:
		return "ack"
	case ReplyResponse:
		return "response"
	}
	return "ReplyType(" + strconv.Itoa(int(t)) + ")"
}

// QueryReply is one ack or response to a query, copied into Go memory.
type QueryReply struct {
	Type    ReplyType
	From    string // the member's name
	Payload []byte // nil for acks and empty responses
}

// QueryOptions select who answers a query and for how long. The zero
// value asks every member, without acks or relays, for the default time
// (gossip interval × Config.QueryTimeoutMult × ceil(log10(members+1))).
type QueryOptions struct {
	Nodes       []string          // if any, only these nodes respond (and ack)
	Tags        map[string]string // tag → regular expression (Rust regex syntax, unanchored) its value must match
	RequestAck  bool              // ask each receiving member for an ack
	RelayFactor uint8             // members each response is also relayed through
	Timeout     time.Duration     // how long to collect; 0 = the default
}

func (o *QueryOptions) toC(op string) (*C.hearsay_query_params, error) {
	var q *C.hearsay_query_params
	if err := check(op, func() C.int32_t { return C.int32_t(C.hearsay_query_params_new(&q)) }); err != nil {
		return nil, err
	}
	fail := func(err error) (*C.hearsay_query_params, error) {
		C.hearsay_query_params_free(q)
		return nil, err
	}
	for _, n := range o.Nodes {
		cn, err := cstring(op, "node name", n)
		if err != nil {
			return fail(err)
		}
		err = check(op, func() C.int32_t { return C.int32_t(C.hearsay_query_params_add_node(q, cn)) })
		free(cn)
		if err != nil {
			return fail(err)
		}
	}
	tags := make([]string, 0, len(o.Tags))
	for k := range o.Tags {
		tags = append(tags, k)
	}
	sort.Strings(tags)
	for _, k := range tags {
		ck, err := cstring(op, "tag", k)
		if err != nil {
			return fail(err)
		}
		cr, err := cstring(op, "tag filter", o.Tags[k])
		if err != nil {
			free(ck)
			return fail(err)
		}
		err = check(op, func() C.int32_t { return C.int32_t(C.hearsay_query_params_add_tag_filter(q, ck, cr)) })
		free(ck)
		free(cr)
		if err != nil {
			return fail(err)
		}
	}
	if o.RequestAck {
		if err := check(op, func() C.int32_t { return C.int32_t(C.hearsay_query_params_set_request_ack(q, true)) }); err != nil {
			return fail(err)
		}
	}
	if o.RelayFactor > 0 {
		rf := C.uint8_t(o.RelayFactor)
		if err := check(op, func() C.int32_t { return C.int32_t(C.hearsay_query_params_set_relay_factor(q, rf)) }); err != nil {
			return fail(err)
		}
	}
	if o.Timeout != 0 {
		ms, err := millis(op, "Timeout", o.Timeout)
		if err != nil {
			return fail(err)
		}
		if err := check(op, func() C.int32_t { return C.int32_t(C.hearsay_query_params_set_timeout_ms(q, ms)) }); err != nil {
			return fail(err)
		}
	}
	return q, nil
}

// Query sends a query to the members that pass opts' filters, this node
// included; each gets an EventQuery and may answer with Event.Respond. The
// acks and responses arrive on the returned channel in the order they were
// received; it is closed when the query's deadline passes, when ctx ends or
// when the pool is closed. Read it until it is closed (or cancel ctx):
// the goroutine that fills it waits for the reader.
//
// Errors: ErrInvalidArgument for an empty name, a query too large (1,024
// bytes encoded by default), a tag filter that does not compile or too many
// queries pending; ErrClosed for a pool that left or was closed.
func (p *Pool) Query(ctx context.Context, name string, payload []byte, opts QueryOptions) (<-chan QueryReply, error) {
	pq, err := p.start(ctx, "Pool.Query", name, payload, opts)
	return pq.Replies, err
}

// PendingQuery is a query in flight, started by StartQuery.
type PendingQuery struct {
	Replies  <-chan QueryReply // as Query's channel
	Deadline time.Time         // when members stop answering and Replies is closed
}

// StartQuery is Query that also tells the query's deadline (the default
// one when opts.Timeout is 0: gossip interval × Config.QueryTimeoutMult ×
// ceil(log10(members+1))).
func (p *Pool) StartQuery(ctx context.Context, name string, payload []byte, opts QueryOptions) (PendingQuery, error) {
	return p.start(ctx, "Pool.StartQuery", name, payload, opts)
}

func (p *Pool) start(ctx context.Context, op, name string, payload []byte, opts QueryOptions) (PendingQuery, error) {
	if err := ctx.Err(); err != nil {
		return PendingQuery{}, wrapCtx(op, err)
	}
	cname, err := cstring(op, "name", name)
	if err != nil {
		return PendingQuery{}, err
	}
	defer free(cname)
	params, err := opts.toC(op)
	if err != nil {
		return PendingQuery{}, err
	}
	defer C.hearsay_query_params_free(params)
	c, err := p.acquire(op)
	if err != nil {
		return PendingQuery{}, err
	}
	var q *C.hearsay_query
	err = check(op, func() C.int32_t {
		return C.int32_t(C.hearsay_pool_query(c, cname, bytesPtr(payload), C.size_t(len(payload)), params, &q))
	})
	runtime.KeepAlive(payload)
	p.release()
	if err != nil {
		return PendingQuery{}, err
	}
	deadline := time.Now().Add(time.Duration(C.hearsay_query_deadline_ms(q)) * time.Millisecond)
	ch := make(chan QueryReply, 16)
	go p.queryPump(ctx, q, ch)
	return PendingQuery{Replies: ch, Deadline: deadline}, nil
}

func (p *Pool) queryPump(ctx context.Context, q *C.hearsay_query, ch chan<- QueryReply) {
	defer close(ch)
	defer C.hearsay_query_free(q)
	done := ctx.Done()
	wait := clampMillis(pollInterval)
	for {
		select {
		case <-done:
			return
		case <-p.s.done:
			return
		default:
		}
		var r *C.hearsay_query_reply
		code, err := call("Pool.Query", func() C.int32_t { return C.int32_t(C.hearsay_query_next(q, wait, &r)) })
		if err != nil {
			return // CodeClosed: the query is over and every reply was taken
		}
		if code == CodeEmpty {
			continue
		}
		reply := QueryReply{Type: ReplyType(C.hearsay_query_reply_type(r))}
		if from := C.hearsay_query_reply_from(r); from != nil {
			reply.From = C.GoString(from)
		}
		var n C.size_t
		if b := C.hearsay_query_reply_payload(r, &n); b != nil {
			reply.Payload = C.GoBytes(unsafePointer(b), C.int(n))
		}
		C.hearsay_query_reply_free(r)
		select {
		case ch <- reply:
		case <-done:
			return
		case <-p.s.done:
			return
		}
	}
}
