package hearsay

// #include "helpers.h"
import "C"

import "context"

// JoinIgnoreOld is Join, except that user events sent before the join are
// not delivered by this node: only events sent afterwards arrive as
// EventUser.
func (p *Pool) JoinIgnoreOld(ctx context.Context, addrs ...string) (int, error) {
	return p.join(ctx, "Pool.JoinIgnoreOld", addrs, true)
}

func joinC(c *C.hearsay_pool, arr **C.char, n C.size_t, out *C.size_t, ignoreOld bool) C.int32_t {
	if ignoreOld {
		return C.int32_t(C.hearsay_pool_join_ignore_old(c, arr, n, C.bool(true), out))
	}
	return C.int32_t(C.hearsay_pool_join(c, arr, n, out))
}
