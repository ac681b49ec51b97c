package hearsay

// #include <stdlib.h>
// #include "helpers.h"
import "C"

import (
	"time"
)

// Coordinate is a Vivaldi network coordinate, in seconds: a position, an
// error estimate, an adjustment and a height. Coordinates ride on probe
// acks; a member's is known once one of its acks arrived.
type Coordinate struct {
	Vec        []float64
	Error      float64
	Adjustment float64
	Height     float64
}

// Coordinate returns the network coordinate of member name ("" for the
// local node); ok is false while none is known yet or coordinates are off.
func (p *Pool) Coordinate(name string) (coord Coordinate, ok bool, err error) {
	const op = "Pool.Coordinate"
	var cname *C.char
	if name != "" {
		if cname, err = cstring(op, "name", name); err != nil {
			return Coordinate{}, false, err
		}
		defer free(cname)
	}
	c, err := p.acquire(op)
	if err != nil {
		return Coordinate{}, false, err
	}
	defer p.release()
	var out C.hearsay_coordinate
	rc, err := call(op, func() C.int32_t { return C.int32_t(C.hearsay_pool_coordinate(c, cname, &out)) })
	if err != nil || rc == C.HEARSAY_EMPTY {
		return Coordinate{}, false, err
	}
	n := int(out.dimensions)
	vec := make([]float64, n)
	for i := 0; i < n; i++ {
		vec[i] = float64(out.vec[i])
	}
	return Coordinate{Vec: vec, Error: float64(out.error), Adjustment: float64(out.adjustment), Height: float64(out.height)}, true, nil
}

// EstimatedRTT is the round trip between members a and b ("" for b: the
// local node) estimated from their coordinates; ok is false while either
// is unknown.
func (p *Pool) EstimatedRTT(a, b string) (rtt time.Duration, ok bool, err error) {
	const op = "Pool.EstimatedRTT"
	ca, err := cstring(op, "a", a)
	if err != nil {
		return 0, false, err
	}
	defer free(ca)
	var cb *C.char
	if b != "" {
		if cb, err = cstring(op, "b", b); err != nil {
			return 0, false, err
		}
		defer free(cb)
	}
	c, err := p.acquire(op)
	if err != nil {
		return 0, false, err
	}
	defer p.release()
	var us C.uint64_t
	rc, err := call(op, func() C.int32_t { return C.int32_t(C.hearsay_pool_estimated_rtt(c, ca, cb, &us)) })
	if err != nil || rc == C.HEARSAY_EMPTY {
		return 0, false, err
	}
	return time.Duration(us) * time.Microsecond, true, nil
}

// MembersNear is a snapshot of every member sorted by estimated round trip
// from member from ("" for the local node), nearest first; members without
// a coordinate come last (Consul's ?near=).
func (p *Pool) MembersNear(from string) ([]Member, error) {
	const op = "Pool.MembersNear"
	var cfrom *C.char
	var err error
	if from != "" {
		if cfrom, err = cstring(op, "from", from); err != nil {
			return nil, err
		}
		defer free(cfrom)
	}
	c, err := p.acquire(op)
	if err != nil {
		return nil, err
	}
	var ms *C.hearsay_members
	err = check(op, func() C.int32_t { return C.int32_t(C.hearsay_pool_members_near(c, cfrom, &ms)) })
	p.release()
	if err != nil {
		return nil, err
	}
	defer C.hearsay_members_free(ms)
	return decodeMembers(ms), nil
}
