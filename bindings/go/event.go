package hearsay

// #include "helpers.h"
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// EventType says what an Event reports.
type EventType int32

const (
	EventMemberJoin    EventType = 1 // a member joined (or came back)
	EventMemberLeave   EventType = 2 // a member left gracefully (or was forced out)
	EventMemberFailed  EventType = 3 // a member was declared failed
	EventMemberUpdate  EventType = 4 // a member's tags or address changed
	EventMemberReap    EventType = 5 // a failed or left member was forgotten
	EventUser          EventType = 6 // a user event: Name, Payload, LTime
	EventQuery         EventType = 7 // a query: Name, Payload, LTime; answer with Respond
	EventNameConflict  EventType = 8 // another node claims Name from another address
	lastKnownEventType           = EventNameConflict
)

func (t EventType) String() string {
	switch t {
	case EventMemberJoin:
		return "member-join"
	case EventMemberLeave:
		return "member-leave"
	case EventMemberFailed:
		return "member-failed"
	case EventMemberUpdate:
		return "member-update"
	case EventMemberReap:
		return "member-reap"
	case EventUser:
		return "user"
	case EventQuery:
		return "query"
	case EventNameConflict:
		return "name-conflict"
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// Event is one event of a pool, copied into Go memory.
type Event struct {
	Type    EventType
	Member  *Member // the member a member event is about, as it was then; nil for others
	Name    string  // user event or query name; the contested name of a name conflict
	Payload []byte  // user event or query payload; nil for member events
	LTime   uint64  // Lamport time of a user event or query

	// Queries only: the node that sent the query, and its deadline, after
	// which Respond gives ErrTimeout (from the milliseconds left when the
	// event was pulled).
	From     string
	Deadline time.Time

	query *queryHandle
}

func (e Event) String() string {
	switch {
	case e.Member != nil:
		return fmt.Sprintf("%s %s (%s, %s)", e.Type, e.Member.Name, e.Member.Addr, e.Member.Status)
	case e.Type == EventUser || e.Type == EventQuery:
		return fmt.Sprintf("%s %q (%d bytes, ltime %d)", e.Type, e.Name, len(e.Payload), e.LTime)
	}
	return fmt.Sprintf("%s %q", e.Type, e.Name)
}

// queryHandle keeps the C event of a query until it is answered (or
// garbage collected): hearsay_pool_respond needs it.
type queryHandle struct {
	mu   sync.Mutex
	ev   *C.hearsay_event
	pool *Pool
}

func (q *queryHandle) free() {
	q.mu.Lock()
	ev := q.ev
	q.ev = nil
	q.mu.Unlock()
	if ev != nil {
		C.hearsay_event_free(ev)
	}
	runtime.SetFinalizer(q, nil)
}

// Respond answers a query event (Type EventQuery) with payload (at most the
// pool's response limit, 1,024 bytes by default). A node answers each query
// at most once: afterwards, and for events that are not queries, Respond
// returns ErrInvalidArgument; after the query's deadline ErrTimeout; after
// the pool's Close ErrClosed. A query that is never answered is released
// when the Event is garbage collected.
func (e Event) Respond(payload []byte) error {
	const op = "Event.Respond"
	q := e.query
	if q == nil {
		return newError(op, CodeInvalidArgument, "a %s event is not a query", e.Type)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ev == nil {
		return newError(op, CodeInvalidArgument, "query %q was already answered (or found too late or closed)", e.Name)
	}
	c, err := q.pool.acquire(op)
	var code Code
	if err == nil {
		code, err = call(op, func() C.int32_t {
			return C.int32_t(C.hearsay_pool_respond(c, q.ev, bytesPtr(payload), C.size_t(len(payload))))
		})
		runtime.KeepAlive(payload)
		q.pool.release()
	} else {
		code = CodeClosed
	}
	switch code {
	case CodeOK, CodeTimeout, CodeClosed:
		// Answered, too late, or the pool is gone: the event is of no more use.
		C.hearsay_event_free(q.ev)
		q.ev = nil
		runtime.SetFinalizer(q, nil)
	}
	return err
}

// next takes one event, waiting up to wait. ok is false when none arrived
// in time. Unknown event types (from a newer library) are skipped.
func (p *Pool) next(op string, wait time.Duration) (ev Event, ok bool, err error) {
	c, err := p.acquire(op)
	if err != nil {
		return Event{}, false, err
	}
	var e *C.hearsay_event
	var v C.hs_event_view
	code, err := call(op, func() C.int32_t { return C.hs_next_event(c, clampMillis(wait), &e, &v) })
	p.release()
	if err != nil || code == CodeEmpty {
		return Event{}, false, err
	}
	t := EventType(v._type)
	if t < EventMemberJoin || t > lastKnownEventType {
		C.hearsay_event_free(e)
		return Event{}, false, nil
	}
	ev = Event{Type: t, LTime: uint64(v.ltime)}
	if t == EventQuery {
		ev.Deadline = time.Now().Add(time.Duration(v.query_deadline_ms) * time.Millisecond)
		if v.query_from != nil {
			ev.From = C.GoString(v.query_from)
		}
	}
	if v.name != nil {
		ev.Name = C.GoString(v.name)
	}
	if v.payload != nil {
		ev.Payload = C.GoBytes(unsafePointer(v.payload), C.int(v.payload_len))
	}
	if v.has_member != 0 {
		ev.Member = decodeMember(C.hearsay_event_member(e), &v.member)
	}
	if t == EventQuery {
		q := &queryHandle{ev: e, pool: p}
		runtime.SetFinalizer(q, (*queryHandle).free)
		ev.query = q
	} else {
		C.hearsay_event_free(e)
	}
	return ev, true, nil
}

// NextEvent takes the oldest waiting event, waiting until one arrives, ctx
// ends (its error, wrapped) or the pool is closed (ErrClosed). Several
// goroutines, and the channels of Events, may wait at once; each event goes
// to one of them.
func (p *Pool) NextEvent(ctx context.Context) (Event, error) {
	const op = "Pool.NextEvent"
	for {
		if err := ctx.Err(); err != nil {
			return Event{}, wrapCtx(op, err)
		}
		wait := pollInterval
		if dl, ok := ctx.Deadline(); ok {
			if left := time.Until(dl); left < wait {
				wait = left
			}
		}
		ev, ok, err := p.next(op, wait)
		if err != nil {
			return Event{}, err
		}
		if ok {
			return ev, nil
		}
	}
}

// Events delivers the pool's events on a channel from a goroutine that
// polls the library (each wait at most 50 ms). The channel is closed when
// ctx ends or the pool is closed; an event taken from the queue just as
// ctx ends is dropped. Each event goes to one receiver: calling Events
// twice splits the events between the two channels. While nobody reads the
// channel (it buffers 64), events wait in the pool's queue
// (Config.EventQueueDepth), beyond which the oldest are dropped.
func (p *Pool) Events(ctx context.Context) <-chan Event {
	ch := make(chan Event, 64)
	go p.pump(ctx, ch)
	return ch
}

func (p *Pool) pump(ctx context.Context, ch chan<- Event) {
	defer close(ch)
	done := ctx.Done()
	for {
		select {
		case <-done:
			return
		case <-p.s.done:
			return
		default:
		}
		ev, ok, err := p.next("Pool.Events", pollInterval)
		if err != nil {
			return
		}
		if !ok {
			continue
		}
		select {
		case ch <- ev:
		case <-done:
			ev.release()
			return
		case <-p.s.done:
			ev.release()
			return
		}
	}
}

// release frees a query event that will never be answered.
func (e Event) release() {
	if e.query != nil {
		e.query.free()
	}
}
