package hearsay

// #include <stdlib.h>
// #include "helpers.h"
import "C"

import (
	"math"
	"sort"
	"strconv"
	"time"
)

// Profile names a set of defaults (memberlist's published ones).
type Profile int32

const (
	// LAN: probe 1 s / 500 ms, gossip 200 ms to 3 nodes, suspicion ×4,
	// retransmit ×4, 3 indirect checks, push-pull 30 s, TCP 10 s.
	ProfileLAN Profile = 0
	// WAN: probe 5 s / 3 s, gossip 500 ms to 4 nodes, suspicion ×6,
	// push-pull 60 s, TCP 30 s.
	ProfileWAN Profile = 1
	// LOCAL: probe 1 s / 200 ms, gossip 100 ms to 3 nodes, suspicion ×3,
	// retransmit ×2, 1 indirect check, push-pull 15 s, TCP 1 s.
	ProfileLocal Profile = 2
)

func (p Profile) String() string {
	switch p {
	case ProfileLAN:
		return "LAN"
	case ProfileWAN:
		return "WAN"
	case ProfileLocal:
		return "LOCAL"
	}
	return "Profile(" + strconv.Itoa(int(p)) + ")"
}

// Config describes a pool. The zero value of every field keeps the
// profile's default (or the library's: node name = host name, bind
// 127.0.0.1:0, no label, no tags); the few settings whose zero is
// meaningful in C take a negative value for it, as documented on the field.
// Durations are rounded up to whole milliseconds.
type Config struct {
	Profile Profile

	NodeName  string            // unique in the pool, 1 to 128 bytes; default the host name
	Bind      string            // "ip:port" or "[v6]:port"; port 0 picks a free one; default "127.0.0.1:0"
	Advertise string            // "ip:port" others reach this node at; default the bound address
	Label     string            // 1 to 255 bytes stamped on every packet; pools sharing a port need distinct labels
	Tags      map[string]string // node meta; the encoded size must fit MaxMetaSize

	EventQueueDepth uint32 // events kept for Events/NextEvent, 1 to 1048576 (default 4096); the oldest is dropped beyond

	ProbeInterval    time.Duration // time between probes of one member
	ProbeTimeout     time.Duration // wait for a direct ack; below ProbeInterval
	GossipInterval   time.Duration // time between gossip rounds
	GossipNodes      uint32        // members per gossip round, 1 to 64
	PushPullInterval time.Duration // full state exchange period; negative turns push-pull off
	TCPTimeout       time.Duration // deadline of a TCP exchange (bounds a join)

	SuspicionMult           uint32 // 1 to 100
	SuspicionMaxTimeoutMult uint32 // 1 to 100
	RetransmitMult          uint32 // 1 to 100
	IndirectChecks          int    // 1 to 16; negative means none (no indirect probes)
	AwarenessMaxMultiplier  uint32 // Lifeguard local health bound, 1 to 64

	GossipToTheDead time.Duration // how long dead members still get gossip
	DeadNodeReclaim time.Duration // after how long a dead member's name may be reused; default never

	MaxPacketSize      uint32 // largest UDP payload, 512 to 65000
	MaxMetaSize        uint32 // largest encoded tags
	MaxStreamSize      uint32 // largest TCP frame accepted, 64 KiB to 1 GiB
	MaxPushPullMembers uint32 // most members accepted from one push-pull

	// Lifeguard and probe switches, all on by default.
	DisableLocalHealth            bool
	DisableSuspicionConfirmations bool
	DisableNacks                  bool
	DisableTCPFallbackProbe       bool

	// The Serf layer.
	MaxUserEventSize     uint32        // largest encoded user event sent, 16 to MaxPacketSize-64 (default 512)
	MaxQueryResponseSize uint32        // largest response payload sent, 16 to MaxPacketSize-64 (default 1024)
	QueryTimeoutMult     uint32        // default query timeout = gossip interval × this × ceil(log10(members+1)) (default 16)
	CoalescePeriod       time.Duration // coalesce user events sent with coalesce; default off; needs QuiescentPeriod
	QuiescentPeriod      time.Duration // deliver a coalesced batch once none arrived for this long
	ReapInterval         time.Duration // how often failed and left members are checked for reaping (default 15 s)
	ReconnectInterval    time.Duration // how often failed members are tried again (default 30 s)
	ReconnectTimeout     time.Duration // how long a failed member is kept before it is reaped (default 24 h)
	TombstoneTimeout     time.Duration // how long a member that left is kept before it is reaped (default 24 h)
	// Do not settle name conflicts about this node by a vote (they are
	// reported as EventNameConflict either way).
	DisableNameConflictResolution bool

	// Buffers, snapshots and coordinates.
	MaxQuerySize        uint32        // largest encoded query sent, 16 to MaxPacketSize-64 (default 1024)
	EventBuffer         uint32        // Lamport times of user events remembered to deliver each once, 16 to 65536 (default 512)
	QueryBuffer         uint32        // Lamport times of queries remembered to handle each once, 16 to 65536 (default 512)
	MaxIntents          uint32        // intents about not-yet-known members kept, at least 1 (default 4096)
	RecentIntentTimeout time.Duration // how long those intents are kept (default 5 min); negative keeps none
	MaxPendingQueries   uint32        // queries of this node pending at once, at least 1 (default 1024)
	// The snapshot file: membership and clocks are appended to it, and a
	// pool started with it restores its clocks, replays no old user event
	// and rejoins the members it lists. Created with mode 0600.
	SnapshotPath       string
	DisableCoordinates bool   // no Vivaldi network coordinates (Pool.Coordinate then reports none)
	MaxBroadcastQueue  uint32 // messages each gossip queue holds, at least 16 (default 1024); Stats.BroadcastsDropped counts the rest

	// Resource limits (docs/SECURITY.md), each counted in Stats when hit.
	MaxConcurrentStreams uint32 // inbound TCP streams served at once, 1 to 65536 (default 128); Stats.StreamsRefused
	InboundPacketQueue   uint32 // received datagrams waiting for the pool, 1 to 1048576 (default 1024); Stats.DroppedOverload
	MaxPerLTime          uint32 // distinct user events, and queries, remembered per Lamport time, 1 to 65536 (default 64); Stats.DedupFull
	MaxQueryResponses    uint32 // acks, and responses, one query of this node accepts, at least 1 (default 65536); Stats.QueryRepliesDropped

	// Gossip encryption (docs/SECURITY.md). With any key the pool encrypts
	// what it sends and refuses plaintext; the first key is the primary
	// (it encrypts), every key decrypts. Keys are 16, 24 or 32 bytes
	// (AES-128, -192, -256).
	Keys       [][]byte // raw keys
	KeysBase64 []string // keys in standard base64 (`openssl rand -base64 32`), added after Keys
	// A JSON array of base64 keys, primary first: when it exists at NewPool
	// its keys replace Keys and KeysBase64, otherwise it is created from
	// them; every key operation rewrites it (mode 0600), so a restarted
	// node has the keys the pool uses now.
	KeyringFile string
	// The switches of a migration from plaintext (docs/SECURITY.md): accept
	// plaintext packets, send plaintext. Pool.SetEncryptionPolicy changes
	// them on a running pool.
	DisableVerifyIncoming bool
	DisableVerifyOutgoing bool
	// Accept packets, streams and member addresses only from these networks
	// ("10.0.0.0/8", "fd00::/8", or one address); none accepts every source.
	AllowedCIDRs []string
}

// millis converts a setting to whole milliseconds (rounded up).
func millis(op, what string, d time.Duration) (C.uint32_t, error) {
	if d < 0 {
		return 0, newError(op, CodeInvalidArgument, "%s is negative (%v)", what, d)
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxUint32 {
		return 0, newError(op, CodeInvalidArgument, "%s is too long (%v)", what, d)
	}
	return C.uint32_t(ms), nil
}

// toC builds the C config; the caller frees it with hearsay_config_free.
func (cfg *Config) toC(op string) (*C.hearsay_config, error) {
	var c *C.hearsay_config
	if err := check(op, func() C.int32_t {
		return C.int32_t(C.hearsay_config_new(C.hearsay_profile(cfg.Profile), &c))
	}); err != nil {
		return nil, err
	}
	if err := cfg.apply(op, c); err != nil {
		C.hearsay_config_free(c)
		return nil, err
	}
	return c, nil
}

func (cfg *Config) apply(op string, c *C.hearsay_config) error {
	setString := func(what, v string, set func(*C.char) C.int32_t) error {
		if v == "" {
			return nil
		}
		s, err := cstring(op, what, v)
		if err != nil {
			return err
		}
		defer free(s)
		return check(op, func() C.int32_t { return set(s) })
	}
	if err := setString("NodeName", cfg.NodeName, func(s *C.char) C.int32_t {
		return C.int32_t(C.hearsay_config_set_node_name(c, s))
	}); err != nil {
		return err
	}
	if err := setString("Bind", cfg.Bind, func(s *C.char) C.int32_t {
		return C.int32_t(C.hearsay_config_set_bind_addr(c, s))
	}); err != nil {
		return err
	}
	if err := setString("Advertise", cfg.Advertise, func(s *C.char) C.int32_t {
		return C.int32_t(C.hearsay_config_set_advertise_addr(c, s))
	}); err != nil {
		return err
	}
	if err := setString("Label", cfg.Label, func(s *C.char) C.int32_t {
		return C.int32_t(C.hearsay_config_set_label(c, s))
	}); err != nil {
		return err
	}
	for _, k := range cfg.Keys {
		err := check(op, func() C.int32_t {
			return C.int32_t(C.hearsay_config_add_key(c, bytesPtr(k), C.size_t(len(k))))
		})
		if err != nil {
			return err
		}
	}
	for _, k := range cfg.KeysBase64 {
		// An empty string is a key too (refused by the library), not "unset".
		s, err := cstring(op, "key", k)
		if err != nil {
			return err
		}
		err = check(op, func() C.int32_t { return C.int32_t(C.hearsay_config_add_key_base64(c, s)) })
		free(s)
		if err != nil {
			return err
		}
	}
	if err := setString("KeyringFile", cfg.KeyringFile, func(s *C.char) C.int32_t {
		return C.int32_t(C.hearsay_config_set_keyring_file(c, s))
	}); err != nil {
		return err
	}
	if err := setString("SnapshotPath", cfg.SnapshotPath, func(s *C.char) C.int32_t {
		return C.int32_t(C.hearsay_config_set_snapshot_path(c, s))
	}); err != nil {
		return err
	}
	for _, cidr := range cfg.AllowedCIDRs {
		s, err := cstring(op, "network", cidr)
		if err != nil {
			return err
		}
		err = check(op, func() C.int32_t { return C.int32_t(C.hearsay_config_add_allowed_cidr(c, s)) })
		free(s)
		if err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(cfg.Tags))
	for k := range cfg.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ck, err := cstring(op, "tag key", k)
		if err != nil {
			return err
		}
		cv, err := cstring(op, "tag value", cfg.Tags[k])
		if err != nil {
			free(ck)
			return err
		}
		err = check(op, func() C.int32_t { return C.int32_t(C.hearsay_config_set_tag(c, ck, cv)) })
		free(ck)
		free(cv)
		if err != nil {
			return err
		}
	}

	type u32 struct {
		v   uint32
		set func(C.uint32_t) C.int32_t
	}
	for _, s := range []u32{
		{cfg.EventQueueDepth, func(v C.uint32_t) C.int32_t { return C.int32_t(C.hearsay_config_set_event_queue_depth(c, v)) }},
		{cfg.GossipNodes, func(v C.uint32_t) C.int32_t { return C.int32_t(C.hearsay_config_set_gossip_nodes(c, v)) }},
		{cfg.SuspicionMult, func(v C.uint32_t) C.int32_t { return C.int32_t(C.hearsay_config_set_suspicion_mult(c, v)) }},
		{cfg.SuspicionMaxTimeoutMult, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_suspicion_max_timeout_mult(c, v))
		}},
		{cfg.RetransmitMult, func(v C.uint32_t) C.int32_t { return C.int32_t(C.hearsay_config_set_retransmit_mult(c, v)) }},
		{cfg.AwarenessMaxMultiplier, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_awareness_max_multiplier(c, v))
		}},
		{cfg.MaxPacketSize, func(v C.uint32_t) C.int32_t { return C.int32_t(C.hearsay_config_set_max_packet_size(c, v)) }},
		{cfg.MaxMetaSize, func(v C.uint32_t) C.int32_t { return C.int32_t(C.hearsay_config_set_max_meta_size(c, v)) }},
		{cfg.MaxStreamSize, func(v C.uint32_t) C.int32_t { return C.int32_t(C.hearsay_config_set_max_stream_size(c, v)) }},
		{cfg.MaxPushPullMembers, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_max_push_pull_members(c, v))
		}},
		{cfg.MaxUserEventSize, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_max_user_event_size(c, v))
		}},
		{cfg.MaxQueryResponseSize, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_max_query_response_size(c, v))
		}},
		{cfg.QueryTimeoutMult, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_query_timeout_mult(c, v))
		}},
		{cfg.MaxQuerySize, func(v C.uint32_t) C.int32_t { return C.int32_t(C.hearsay_config_set_max_query_size(c, v)) }},
		{cfg.EventBuffer, func(v C.uint32_t) C.int32_t { return C.int32_t(C.hearsay_config_set_event_buffer(c, v)) }},
		{cfg.QueryBuffer, func(v C.uint32_t) C.int32_t { return C.int32_t(C.hearsay_config_set_query_buffer(c, v)) }},
		{cfg.MaxIntents, func(v C.uint32_t) C.int32_t { return C.int32_t(C.hearsay_config_set_max_intents(c, v)) }},
		{cfg.MaxPendingQueries, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_max_pending_queries(c, v))
		}},
		{cfg.MaxBroadcastQueue, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_max_broadcast_queue(c, v))
		}},
		{cfg.MaxConcurrentStreams, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_max_concurrent_streams(c, v))
		}},
		{cfg.InboundPacketQueue, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_inbound_packet_queue(c, v))
		}},
		{cfg.MaxPerLTime, func(v C.uint32_t) C.int32_t { return C.int32_t(C.hearsay_config_set_max_per_ltime(c, v)) }},
		{cfg.MaxQueryResponses, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_max_query_responses(c, v))
		}},
	} {
		if s.v == 0 {
			continue
		}
		if err := check(op, func() C.int32_t { return s.set(C.uint32_t(s.v)) }); err != nil {
			return err
		}
	}
	switch {
	case cfg.IndirectChecks < 0:
		if err := check(op, func() C.int32_t { return C.int32_t(C.hearsay_config_set_indirect_checks(c, 0)) }); err != nil {
			return err
		}
	case cfg.IndirectChecks > 0:
		if uint64(cfg.IndirectChecks) > math.MaxUint32 {
			return newError(op, CodeInvalidArgument, "IndirectChecks out of range (%d)", cfg.IndirectChecks)
		}
		n := C.uint32_t(cfg.IndirectChecks)
		if err := check(op, func() C.int32_t { return C.int32_t(C.hearsay_config_set_indirect_checks(c, n)) }); err != nil {
			return err
		}
	}

	type dur struct {
		what string
		v    time.Duration
		set  func(C.uint32_t) C.int32_t
	}
	pushPull := cfg.PushPullInterval
	if pushPull < 0 {
		// Negative: off, which C spells 0.
		if err := check(op, func() C.int32_t { return C.int32_t(C.hearsay_config_set_push_pull_interval_ms(c, 0)) }); err != nil {
			return err
		}
		pushPull = 0
	}
	intentTimeout := cfg.RecentIntentTimeout
	if intentTimeout < 0 {
		// Negative: keep none, which C spells 0.
		if err := check(op, func() C.int32_t { return C.int32_t(C.hearsay_config_set_recent_intent_timeout_ms(c, 0)) }); err != nil {
			return err
		}
		intentTimeout = 0
	}
	for _, s := range []dur{
		{"ProbeInterval", cfg.ProbeInterval, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_probe_interval_ms(c, v))
		}},
		{"ProbeTimeout", cfg.ProbeTimeout, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_probe_timeout_ms(c, v))
		}},
		{"GossipInterval", cfg.GossipInterval, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_gossip_interval_ms(c, v))
		}},
		{"PushPullInterval", pushPull, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_push_pull_interval_ms(c, v))
		}},
		{"TCPTimeout", cfg.TCPTimeout, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_tcp_timeout_ms(c, v))
		}},
		{"GossipToTheDead", cfg.GossipToTheDead, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_gossip_to_the_dead_ms(c, v))
		}},
		{"DeadNodeReclaim", cfg.DeadNodeReclaim, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_dead_node_reclaim_ms(c, v))
		}},
		{"CoalescePeriod", cfg.CoalescePeriod, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_coalesce_period_ms(c, v))
		}},
		{"QuiescentPeriod", cfg.QuiescentPeriod, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_quiescent_period_ms(c, v))
		}},
		{"ReapInterval", cfg.ReapInterval, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_reap_interval_ms(c, v))
		}},
		{"ReconnectInterval", cfg.ReconnectInterval, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_reconnect_interval_ms(c, v))
		}},
		{"ReconnectTimeout", cfg.ReconnectTimeout, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_reconnect_timeout_ms(c, v))
		}},
		{"TombstoneTimeout", cfg.TombstoneTimeout, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_tombstone_timeout_ms(c, v))
		}},
		{"RecentIntentTimeout", intentTimeout, func(v C.uint32_t) C.int32_t {
			return C.int32_t(C.hearsay_config_set_recent_intent_timeout_ms(c, v))
		}},
	} {
		if s.v == 0 {
			continue
		}
		ms, err := millis(op, s.what, s.v)
		if err != nil {
			return err
		}
		if err := check(op, func() C.int32_t { return s.set(ms) }); err != nil {
			return err
		}
	}

	type flag struct {
		off bool
		set func(C.bool) C.int32_t
	}
	for _, s := range []flag{
		{cfg.DisableLocalHealth, func(v C.bool) C.int32_t { return C.int32_t(C.hearsay_config_set_local_health(c, v)) }},
		{cfg.DisableSuspicionConfirmations, func(v C.bool) C.int32_t {
			return C.int32_t(C.hearsay_config_set_suspicion_confirmations(c, v))
		}},
		{cfg.DisableNacks, func(v C.bool) C.int32_t { return C.int32_t(C.hearsay_config_set_nacks(c, v)) }},
		{cfg.DisableTCPFallbackProbe, func(v C.bool) C.int32_t {
			return C.int32_t(C.hearsay_config_set_tcp_fallback_probe(c, v))
		}},
		{cfg.DisableNameConflictResolution, func(v C.bool) C.int32_t {
			return C.int32_t(C.hearsay_config_set_resolve_name_conflicts(c, v))
		}},
		{cfg.DisableVerifyIncoming, func(v C.bool) C.int32_t {
			return C.int32_t(C.hearsay_config_set_verify_incoming(c, v))
		}},
		{cfg.DisableVerifyOutgoing, func(v C.bool) C.int32_t {
			return C.int32_t(C.hearsay_config_set_verify_outgoing(c, v))
		}},
		{cfg.DisableCoordinates, func(v C.bool) C.int32_t { return C.int32_t(C.hearsay_config_set_coordinates(c, v)) }},
	} {
		if !s.off {
			continue
		}
		if err := check(op, func() C.int32_t { return s.set(false) }); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks every setting as Runtime.NewPool will, without binding
// anything: nil, or an error matching ErrInvalidArgument whose message names
// the setting and its range.
func (cfg Config) Validate() error {
	const op = "Config.Validate"
	c, err := cfg.toC(op)
	if err != nil {
		return err
	}
	defer C.hearsay_config_free(c)
	return check(op, func() C.int32_t { return C.int32_t(C.hearsay_config_validate(c)) })
}
