package hearsay

// #include "helpers.h"
import "C"

import (
	"runtime"
	"sync"
)

// Runtime is one background thread of the library that runs every pool
// created on it. It is safe for concurrent use.
type Runtime struct {
	s *runtimeState
}

type runtimeState struct {
	mu    sync.RWMutex // held for reading by NewPool, for writing by Close
	c     *C.hearsay_runtime
	pmu   sync.Mutex // guards pools
	pools map[*poolState]struct{}
}

// NewRuntime starts a runtime. It fails with ErrUnsupported when the loaded
// library's ABI major differs from the header's or its minor is lower.
func NewRuntime() (*Runtime, error) {
	const op = "NewRuntime"
	lib := ABIVersion()
	if lib>>16 != HeaderABIVersion>>16 || lib&0xffff < HeaderABIVersion&0xffff {
		return nil, newError(op, CodeUnsupported,
			"the loaded library has ABI %d.%d, this package needs %d.%d or a later minor",
			lib>>16, lib&0xffff, HeaderABIVersion>>16, HeaderABIVersion&0xffff)
	}
	var c *C.hearsay_runtime
	if err := check(op, func() C.int32_t { return C.int32_t(C.hearsay_runtime_new(&c)) }); err != nil {
		return nil, err
	}
	rt := &Runtime{s: &runtimeState{c: c, pools: map[*poolState]struct{}{}}}
	runtime.SetFinalizer(rt, (*Runtime).Close)
	return rt, nil
}

// Close stops every pool of the runtime at once, without leaving (Close
// them, after Pool.Leave, to leave gracefully), and stops its thread.
// Their methods then return ErrClosed. Close waits for calls in progress
// on those pools (a Join waits at most the TCP timeout). It is idempotent
// and always returns nil.
func (rt *Runtime) Close() error {
	s := rt.s
	s.mu.Lock()
	c := s.c
	s.c = nil
	s.mu.Unlock()
	s.pmu.Lock()
	pools := make([]*poolState, 0, len(s.pools))
	for p := range s.pools {
		pools = append(pools, p)
	}
	s.pools = nil
	s.pmu.Unlock()
	for _, p := range pools {
		p.close()
	}
	if c != nil {
		C.hearsay_runtime_free(c)
	}
	runtime.SetFinalizer(rt, nil)
	return nil
}

func (s *runtimeState) forget(p *poolState) {
	s.pmu.Lock()
	delete(s.pools, p)
	s.pmu.Unlock()
}
