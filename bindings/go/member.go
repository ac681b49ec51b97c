package hearsay

// #include "helpers.h"
import "C"

import "strconv"

// Status is a member's status (Serf's vocabulary).
type Status int32

const (
	StatusNone    Status = 0 // not a status (never in a snapshot)
	StatusAlive   Status = 1 // alive, or suspected but not yet declared failed
	StatusLeaving Status = 2 // announced its leave, not yet gone
	StatusLeft    Status = 3 // left gracefully (or was forced out)
	StatusFailed  Status = 4 // declared failed by the failure detector
)

func (s Status) String() string {
	switch s {
	case StatusNone:
		return "none"
	case StatusAlive:
		return "alive"
	case StatusLeaving:
		return "leaving"
	case StatusLeft:
		return "left"
	case StatusFailed:
		return "failed"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// Member is one member as a snapshot or an event saw it, copied into Go
// memory.
type Member struct {
	Name        string
	Addr        string // advertised "ip:port" ("[v6]:port")
	Status      Status
	Tags        map[string]string // nil when it has none
	Incarnation uint32
}

func memberFromView(v *C.hs_member_view) Member {
	return Member{
		Name:        C.GoString(v.name),
		Addr:        C.GoString(v.addr),
		Status:      Status(v.status),
		Incarnation: uint32(v.incarnation),
	}
}

func tagsFrom(keys, values []*C.char) map[string]string {
	if len(keys) == 0 {
		return nil
	}
	m := make(map[string]string, len(keys))
	for i := range keys {
		if keys[i] == nil || values[i] == nil {
			continue
		}
		m[C.GoString(keys[i])] = C.GoString(values[i])
	}
	return m
}

// decodeMembers copies a snapshot into Go memory in three cgo calls
// whatever its size.
func decodeMembers(ms *C.hearsay_members) []Member {
	n := int(C.hearsay_members_count(ms))
	if n == 0 {
		return nil
	}
	views := make([]C.hs_member_view, n)
	n = int(C.hs_members_read(ms, &views[0], C.size_t(n)))
	total := 0
	for i := 0; i < n; i++ {
		total += int(views[i].ntags)
	}
	var keys, values []*C.char
	if total > 0 {
		keys = make([]*C.char, total)
		values = make([]*C.char, total)
		total = int(C.hs_members_tags(ms, &keys[0], &values[0], C.size_t(total)))
	}
	out := make([]Member, n)
	at := 0
	for i := 0; i < n; i++ {
		out[i] = memberFromView(&views[i])
		k := min(int(views[i].ntags), total-at)
		out[i].Tags = tagsFrom(keys[at:at+k], values[at:at+k])
		at += k
	}
	return out
}

// decodeMember copies a borrowed member, with its tags.
func decodeMember(m *C.hearsay_member, v *C.hs_member_view) *Member {
	out := memberFromView(v)
	if n := int(v.ntags); n > 0 {
		keys := make([]*C.char, n)
		values := make([]*C.char, n)
		n = int(C.hs_member_tags(m, &keys[0], &values[0], C.size_t(n)))
		out.Tags = tagsFrom(keys[:n], values[:n])
	}
	return &out
}
