package hearsay

// #include <stdlib.h>
// #include "helpers.h"
import "C"

import "context"

// KeyHolders tells how many members hold a key and how many use it as
// their primary (the key they encrypt with).
type KeyHolders struct {
	Holders   int
	PrimaryOf int
}

// KeyringReport is what a keyring operation found across the pool. Errors
// and Keys are never nil.
type KeyringReport struct {
	Members   int                   // alive members when the operation started, the local node included
	Responses int                   // members that answered
	Errors    map[string]string     // node name -> message, for each member that failed
	Keys      map[string]KeyHolders // KeyringList only: each key (base64) and who holds it
}

// Succeeded reports whether every member answered and none failed: the
// condition for going on to the next step of a rotation.
func (r KeyringReport) Succeeded() bool { return len(r.Errors) == 0 && r.Responses >= r.Members }

// Missing is how many members did not answer in time.
func (r KeyringReport) Missing() int { return max(0, r.Members-r.Responses) }

type keyOp int

const (
	keyInstall keyOp = iota
	keyUse
	keyRemove
	keyList
)

// KeyringInstall installs a key (standard base64, 16, 24 or 32 bytes) on
// every member and waits until all alive members answered or the query
// timed out. Each member's failure is in the report; a nil error only means
// the operation ran. Rotate a key in three steps, each once the one before
// Succeeded: KeyringInstall, KeyringUse, KeyringRemove (docs/SECURITY.md).
// A key that is not base64 of a valid length gives ErrInvalidArgument.
//
// If ctx ends first, the method returns its error at once; the operation
// then finishes in the background within the query timeout.
func (p *Pool) KeyringInstall(ctx context.Context, keyBase64 string) (KeyringReport, error) {
	return p.keyring(ctx, "Pool.KeyringInstall", keyInstall, keyBase64)
}

// KeyringUse makes an installed key the primary on every member; members
// that lack it report an error. As KeyringInstall otherwise.
func (p *Pool) KeyringUse(ctx context.Context, keyBase64 string) (KeyringReport, error) {
	return p.keyring(ctx, "Pool.KeyringUse", keyUse, keyBase64)
}

// KeyringRemove removes a key from every member. The local primary key
// gives ErrInvalidArgument at once; members whose primary it is refuse it
// in the report. As KeyringInstall otherwise.
func (p *Pool) KeyringRemove(ctx context.Context, keyBase64 string) (KeyringReport, error) {
	return p.keyring(ctx, "Pool.KeyringRemove", keyRemove, keyBase64)
}

// KeyringList asks every member for its keys: the report's Keys gives each
// key with how many members hold it and use it as primary.
func (p *Pool) KeyringList(ctx context.Context) (KeyringReport, error) {
	return p.keyring(ctx, "Pool.KeyringList", keyList, "")
}

func (p *Pool) keyring(ctx context.Context, op string, kind keyOp, key string) (KeyringReport, error) {
	if err := ctx.Err(); err != nil {
		return KeyringReport{}, wrapCtx(op, err)
	}
	var ckey *C.char
	if kind != keyList {
		var err error
		if ckey, err = cstring(op, "key", key); err != nil {
			return KeyringReport{}, err
		}
	}
	c, err := p.acquire(op)
	if err != nil {
		free(ckey)
		return KeyringReport{}, err
	}
	type result struct {
		report KeyringReport
		err    error
	}
	do := func() result {
		defer free(ckey)
		defer p.release()
		var r *C.hearsay_keyring_report
		err := check(op, func() C.int32_t {
			switch kind {
			case keyInstall:
				return C.int32_t(C.hearsay_pool_keyring_install(c, ckey, &r))
			case keyUse:
				return C.int32_t(C.hearsay_pool_keyring_use(c, ckey, &r))
			case keyRemove:
				return C.int32_t(C.hearsay_pool_keyring_remove(c, ckey, &r))
			default:
				return C.int32_t(C.hearsay_pool_keyring_list(c, &r))
			}
		})
		if err != nil {
			return result{err: err}
		}
		defer C.hearsay_keyring_report_free(r)
		return result{report: decodeReport(r)}
	}
	if ctx.Done() == nil {
		r := do()
		return r.report, r.err
	}
	// Buffered: the goroutine finishes (and frees the report) even when
	// nobody waits for it any more.
	ch := make(chan result, 1)
	go func() { ch <- do() }()
	select {
	case r := <-ch:
		return r.report, r.err
	case <-ctx.Done():
		return KeyringReport{}, wrapCtx(op, ctx.Err())
	}
}

// decodeReport copies a C report into Go (the caller frees it).
func decodeReport(r *C.hearsay_keyring_report) KeyringReport {
	out := KeyringReport{
		Members:   int(C.hearsay_keyring_report_members(r)),
		Responses: int(C.hearsay_keyring_report_responses(r)),
		Errors:    map[string]string{},
		Keys:      map[string]KeyHolders{},
	}
	n := C.hearsay_keyring_report_error_count(r)
	for i := C.size_t(0); i < n; i++ {
		var node, msg *C.char
		if Code(C.hearsay_keyring_report_error(r, i, &node, &msg)) == CodeOK {
			out.Errors[C.GoString(node)] = C.GoString(msg)
		}
	}
	n = C.hearsay_keyring_report_key_count(r)
	for i := C.size_t(0); i < n; i++ {
		var key *C.char
		var holders, primaryOf C.size_t
		if Code(C.hearsay_keyring_report_key(r, i, &key, &holders, &primaryOf)) == CodeOK {
			out.Keys[C.GoString(key)] = KeyHolders{Holders: int(holders), PrimaryOf: int(primaryOf)}
		}
	}
	return out
}

// SetEncryptionPolicy changes, on this node only, whether plaintext packets
// are refused (verifyIncoming) and whether what is sent is encrypted
// (verifyOutgoing): the steps of a rolling migration to encryption without
// restarting (docs/SECURITY.md). ErrClosed once the pool is closed.
func (p *Pool) SetEncryptionPolicy(verifyIncoming, verifyOutgoing bool) error {
	const op = "Pool.SetEncryptionPolicy"
	c, err := p.acquire(op)
	if err != nil {
		return err
	}
	defer p.release()
	return check(op, func() C.int32_t {
		return C.int32_t(C.hearsay_pool_set_encryption_policy(c, C.bool(verifyIncoming), C.bool(verifyOutgoing)))
	})
}
