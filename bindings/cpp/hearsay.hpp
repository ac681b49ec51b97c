// hearsay.hpp: a header-only C++17 binding of the hearsay C ABI.
//
// RAII handles (Runtime, Config, Pool, Query) that own one C object each,
// are move-only and free it in their destructor or in close(); value types
// (Member, Event, QueryReply, KeyringReport, Stats) that copy what the C objects lend, so
// nothing borrowed outlives its owner; and exceptions (hearsay::Error and
// one subclass per result code) that carry the result code and the text of
// hearsay_last_error().
//
//   hearsay::Runtime rt;
//   hearsay::Pool pool = rt.pool(hearsay::Config(hearsay::Profile::Local)
//                                    .node_name("a")
//                                    .bind_addr("127.0.0.1:0"));
//   pool.join({"127.0.0.1:7946"});
//   for (const hearsay::Member& m : pool.members()) ...
//   while (auto e = pool.next_event(std::chrono::milliseconds(500))) ...
//
// Link with -lhearsay; include/hearsay.h must be on the include path.
//
// Threads: as in C, every Pool and Query method may be called from several
// threads at once, except close(), destruction and assignment, which must
// not run while another thread is inside a call on the same object.
// Config is not thread-safe to change. Values (Member, Event, ...) are
// ordinary C++ values.
#ifndef HEARSAY_HPP
#define HEARSAY_HPP

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hearsay.h"

namespace hearsay {

// ---------------------------------------------------------------------------
// Result codes and exceptions
// ---------------------------------------------------------------------------

/// The result codes of the C ABI (hearsay_result), same numbers.
enum class Result : std::int32_t {
    Ok = HEARSAY_OK,
    Empty = HEARSAY_EMPTY,
    NullParameter = HEARSAY_ERR_NULL_PARAMETER,
    InvalidArgument = HEARSAY_ERR_INVALID_ARGUMENT,
    AddrInUse = HEARSAY_ERR_ADDR_IN_USE,
    Io = HEARSAY_ERR_IO,
    Timeout = HEARSAY_ERR_TIMEOUT,
    Closed = HEARSAY_ERR_CLOSED,
    Unsupported = HEARSAY_ERR_UNSUPPORTED,
    BufferTooSmall = HEARSAY_ERR_BUFFER_TOO_SMALL,
    Panic = HEARSAY_ERR_PANIC,
};

/// The C name of a result code, e.g. "HEARSAY_ERR_IO"; "HEARSAY_UNKNOWN" for
/// a number this library does not define.
inline const char* result_name(Result r) noexcept {
    return hearsay_result_name(static_cast<hearsay_result>(r));
}

/// A failed hearsay call. what() is "<call>: <CODE NAME>: <message>";
/// message() is the text of hearsay_last_error() (or the binding's own
/// explanation for errors found before calling C, e.g. a negative duration).
class Error : public std::runtime_error {
public:
    Error(Result code, std::string call, std::string message)
        : std::runtime_error(call + ": " + result_name(code) + ": " + message),
          code_(code),
          call_(std::move(call)),
          message_(std::move(message)) {}

    /// The result code.
    Result code() const noexcept { return code_; }
    /// The C function (or binding method) that failed.
    const std::string& call() const noexcept { return call_; }
    /// hearsay_last_error() of the failure.
    const std::string& message() const noexcept { return message_; }

private:
    Result code_;
    std::string call_;
    std::string message_;
};

/// HEARSAY_ERR_NULL_PARAMETER (a bug in this binding if it ever happens).
class NullParameterError : public Error { public: using Error::Error; };
/// HEARSAY_ERR_INVALID_ARGUMENT: malformed or out of range; nothing changed.
class InvalidArgumentError : public Error { public: using Error::Error; };
/// HEARSAY_ERR_ADDR_IN_USE: the bind address is taken.
class AddrInUseError : public Error { public: using Error::Error; };
/// HEARSAY_ERR_IO: a system call failed, or no seed answered a join.
class IoError : public Error { public: using Error::Error; };
/// HEARSAY_ERR_TIMEOUT: not finished in time.
class TimeoutError : public Error { public: using Error::Error; };
/// HEARSAY_ERR_CLOSED: the pool or its runtime is stopped.
class ClosedError : public Error { public: using Error::Error; };
/// HEARSAY_ERR_UNSUPPORTED: not supported by the loaded library.
class UnsupportedError : public Error { public: using Error::Error; };
/// HEARSAY_ERR_BUFFER_TOO_SMALL (a bug in this binding if it ever happens).
class BufferTooSmallError : public Error { public: using Error::Error; };
/// HEARSAY_ERR_PANIC: a panic inside hearsay was caught; close the object.
class PanicError : public Error { public: using Error::Error; };

namespace detail {

/// Throws the exception class of `code`; unknown negative codes (from a
/// newer library) throw the base class.
[[noreturn]] inline void throw_error(Result code, std::string call, std::string message) {
    switch (code) {
    case Result::NullParameter: throw NullParameterError(code, std::move(call), std::move(message));
    case Result::InvalidArgument: throw InvalidArgumentError(code, std::move(call), std::move(message));
    case Result::AddrInUse: throw AddrInUseError(code, std::move(call), std::move(message));
    case Result::Io: throw IoError(code, std::move(call), std::move(message));
    case Result::Timeout: throw TimeoutError(code, std::move(call), std::move(message));
    case Result::Closed: throw ClosedError(code, std::move(call), std::move(message));
    case Result::Unsupported: throw UnsupportedError(code, std::move(call), std::move(message));
    case Result::BufferTooSmall: throw BufferTooSmallError(code, std::move(call), std::move(message));
    case Result::Panic: throw PanicError(code, std::move(call), std::move(message));
    default: throw Error(code, std::move(call), std::move(message));
    }
}

/// Throws for a failed C call, with this thread's hearsay_last_error()
/// (read at once, before any other hearsay call can replace it).
[[noreturn]] inline void throw_last(hearsay_result r, const char* call) {
    throw_error(static_cast<Result>(r), call, hearsay_last_error());
}

/// Returns when `r` is HEARSAY_OK; throws otherwise.
inline void check(hearsay_result r, const char* call) {
    if (r != HEARSAY_OK) throw_last(r, call);
}

/// A string from a borrowed C string; "" for NULL.
inline std::string str(const char* s) { return s ? std::string(s) : std::string(); }

/// A duration as the uint32_t milliseconds of a setting; throws
/// InvalidArgumentError when negative or too large.
inline std::uint32_t to_ms_u32(std::chrono::milliseconds d, const char* call) {
    if (d.count() < 0 || d.count() > static_cast<std::int64_t>(std::numeric_limits<std::uint32_t>::max())) {
        throw_error(Result::InvalidArgument, call,
                    "duration of " + std::to_string(d.count()) + " ms is out of range (0 to 4294967295 ms)");
    }
    return static_cast<std::uint32_t>(d.count());
}

/// A wait as the int32_t timeout of a pull: negative waits as long as it
/// takes (-1); beyond INT32_MAX ms is clamped.
inline std::int32_t to_wait_ms(std::chrono::milliseconds d) noexcept {
    if (d.count() < 0) return -1;
    if (d.count() > std::numeric_limits<std::int32_t>::max()) return std::numeric_limits<std::int32_t>::max();
    return static_cast<std::int32_t>(d.count());
}

}  // namespace detail

/// Pass to next_event() or Query::next() to wait as long as it takes.
inline constexpr std::chrono::milliseconds forever{-1};

// ---------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------

/// The loaded library's version, e.g. "0.1.0".
inline std::string version() { return hearsay_version(); }

/// The loaded library's ABI version (major << 16 | minor).
inline std::uint32_t abi_version() noexcept { return hearsay_abi_version(); }

/// Whether the loaded library can serve this header: same major ABI
/// version, and a minor at least the header's.
inline bool abi_compatible() noexcept {
    const std::uint32_t lib = hearsay_abi_version();
    return (lib >> 16) == static_cast<std::uint32_t>(HEARSAY_ABI_VERSION_MAJOR) &&
           (lib & 0xffffu) >= static_cast<std::uint32_t>(HEARSAY_ABI_VERSION_MINOR);
}

// ---------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------

/// Named starting points of a Config (memberlist's published defaults).
enum class Profile : std::int32_t {
    Lan = HEARSAY_PROFILE_LAN,
    Wan = HEARSAY_PROFILE_WAN,
    Local = HEARSAY_PROFILE_LOCAL,
};

/// A member's status. A newer library may report a number not listed
/// here: treat it as "not alive".
enum class Status : std::int32_t {
    None = HEARSAY_STATUS_NONE,
    Alive = HEARSAY_STATUS_ALIVE,
    Leaving = HEARSAY_STATUS_LEAVING,
    Left = HEARSAY_STATUS_LEFT,
    Failed = HEARSAY_STATUS_FAILED,
};

/// What an event reports. A newer library may report a number not listed
/// here: skip such events.
enum class EventType : std::int32_t {
    None = HEARSAY_EVENT_NONE,
    MemberJoin = HEARSAY_EVENT_MEMBER_JOIN,
    MemberLeave = HEARSAY_EVENT_MEMBER_LEAVE,
    MemberFailed = HEARSAY_EVENT_MEMBER_FAILED,
    MemberUpdate = HEARSAY_EVENT_MEMBER_UPDATE,
    MemberReap = HEARSAY_EVENT_MEMBER_REAP,
    User = HEARSAY_EVENT_USER,
    Query = HEARSAY_EVENT_QUERY,
    NameConflict = HEARSAY_EVENT_NAME_CONFLICT,
};

inline const char* to_string(Status s) noexcept {
    switch (s) {
    case Status::None: return "none";
    case Status::Alive: return "alive";
    case Status::Leaving: return "leaving";
    case Status::Left: return "left";
    case Status::Failed: return "failed";
    }
    return "unknown";
}

inline const char* to_string(EventType t) noexcept {
    switch (t) {
    case EventType::None: return "none";
    case EventType::MemberJoin: return "member-join";
    case EventType::MemberLeave: return "member-leave";
    case EventType::MemberFailed: return "member-failed";
    case EventType::MemberUpdate: return "member-update";
    case EventType::MemberReap: return "member-reap";
    case EventType::User: return "user";
    case EventType::Query: return "query";
    case EventType::NameConflict: return "name-conflict";
    }
    return "unknown";
}

inline std::ostream& operator<<(std::ostream& os, Status s) { return os << to_string(s); }
inline std::ostream& operator<<(std::ostream& os, EventType t) { return os << to_string(t); }
inline std::ostream& operator<<(std::ostream& os, Result r) { return os << result_name(r); }

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// One member as a snapshot or an event saw it (a copy: it lives on its own).
struct Member {
    std::string name;
    std::string addr;  ///< "ip:port" ("[v6]:port" for IPv6)
    Status status = Status::None;
    std::map<std::string, std::string> tags;
    std::uint32_t incarnation = 0;

    bool alive() const noexcept { return status == Status::Alive; }

    /// The value of tag `key`, if the member has it.
    std::optional<std::string> tag(const std::string& key) const {
        auto it = tags.find(key);
        if (it == tags.end()) return std::nullopt;
        return it->second;
    }

    /// Copies a borrowed C member.
    static Member from_c(const hearsay_member* m) {
        Member out;
        out.name = detail::str(hearsay_member_name(m));
        out.addr = detail::str(hearsay_member_addr(m));
        out.status = static_cast<Status>(hearsay_member_status(m));
        out.incarnation = hearsay_member_incarnation(m);
        const std::size_t n = hearsay_member_tags_count(m);
        for (std::size_t i = 0; i < n; ++i) {
            const char* k = hearsay_member_tag_key(m, i);
            const char* v = hearsay_member_tag_value(m, i);
            if (k) out.tags.emplace(k, detail::str(v));
        }
        return out;
    }
};

/// A Vivaldi network coordinate, in seconds (see docs/ABI.md).
struct Coordinate {
    std::vector<double> vec;
    double error = 0;
    double adjustment = 0;
    double height = 0;
};

/// Counters of one pool (hearsay_stats without its size field).
struct Stats {
    std::uint32_t health_score = 0;  ///< Lifeguard local health; 0 is healthy
    std::uint64_t packets_in = 0;
    std::uint64_t packets_out = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t streams_in = 0;
    std::uint64_t streams_out = 0;
    std::uint64_t dropped_malformed = 0;
    std::uint64_t dropped_label = 0;
    std::uint64_t dropped_version = 0;
    std::uint64_t dropped_invalid = 0;
    std::uint64_t dropped_decrypt = 0;
    std::uint64_t streams_refused = 0;
    std::uint64_t events_dropped = 0;
    std::uint32_t members_alive = 0;  ///< suspects and the local node included
    std::uint32_t members_suspect = 0;
    std::uint32_t members_leaving = 0;
    std::uint32_t members_left = 0;
    std::uint32_t members_failed = 0;
    std::uint64_t snapshot_errors = 0;      ///< snapshot records that could not be written
    std::uint64_t broadcasts_dropped = 0;   ///< dropped from a full gossip queue before being fully sent
    std::uint64_t dropped_plaintext = 0;    ///< plaintext while encryption is required
    std::uint64_t dropped_source = 0;       ///< from a source (or about an address) outside the allowed networks
    std::uint64_t keyring_file_errors = 0;  ///< keyring file writes that failed
    std::uint64_t dropped_overload = 0;     ///< datagrams dropped from the pool's full inbound queue
    std::uint64_t duplicates_skipped = 0;   ///< broadcasts received again, skipped undecoded
    std::uint64_t streams_oversized = 0;    ///< TCP frames refused for a length above max_stream_size
    std::uint64_t intents_dropped = 0;      ///< intents about unknown members dropped at max_intents
    std::uint64_t events_too_old = 0;       ///< user events older than the dedup window
    std::uint64_t queries_too_old = 0;      ///< queries older than the dedup window
    std::uint64_t dedup_full = 0;           ///< events and queries dropped at max_per_ltime
    std::uint64_t queries_refused = 0;      ///< queries of this node refused at max_pending_queries
    std::uint64_t query_replies_dropped = 0;  ///< acks and responses beyond a query's limit
};

/// How many members hold a key and how many use it as their primary (the
/// key they encrypt with).
struct KeyHolders {
    std::size_t holders = 0;
    std::size_t primary_of = 0;

    bool operator==(const KeyHolders& o) const noexcept {
        return holders == o.holders && primary_of == o.primary_of;
    }
    bool operator!=(const KeyHolders& o) const noexcept { return !(*this == o); }
};

/// What a keyring operation found across the pool (a copy).
struct KeyringReport {
    std::size_t members = 0;                     ///< alive members at the start, the local node included
    std::size_t responses = 0;                   ///< members that answered
    std::map<std::string, std::string> errors;   ///< node name -> message, for each member that failed
    std::map<std::string, KeyHolders> keys;      ///< keyring_list only: key (base64) -> who holds it

    /// Every member answered and none failed: the condition for the next
    /// step of a rotation.
    bool succeeded() const noexcept { return errors.empty() && responses >= members; }
    /// Members that did not answer in time.
    std::size_t missing() const noexcept { return members > responses ? members - responses : 0; }

    /// Copies a C report and frees it.
    static KeyringReport take(hearsay_keyring_report* r) {
        std::unique_ptr<hearsay_keyring_report, void (*)(hearsay_keyring_report*)> owned(
            r, hearsay_keyring_report_free);
        KeyringReport out;
        out.members = hearsay_keyring_report_members(r);
        out.responses = hearsay_keyring_report_responses(r);
        const std::size_t n_errors = hearsay_keyring_report_error_count(r);
        for (std::size_t i = 0; i < n_errors; ++i) {
            const char* node = nullptr;
            const char* message = nullptr;
            detail::check(hearsay_keyring_report_error(r, i, &node, &message), "hearsay_keyring_report_error");
            out.errors.emplace(detail::str(node), detail::str(message));
        }
        const std::size_t n_keys = hearsay_keyring_report_key_count(r);
        for (std::size_t i = 0; i < n_keys; ++i) {
            const char* key = nullptr;
            KeyHolders h;
            detail::check(hearsay_keyring_report_key(r, i, &key, &h.holders, &h.primary_of),
                          "hearsay_keyring_report_key");
            out.keys.emplace(detail::str(key), h);
        }
        return out;
    }
};

class Pool;

/// One event pulled from a pool. Member events carry the member as it was;
/// user events and queries a name, a payload and a Lamport time (a query
/// also its sender and remaining()); a name conflict the contested name. A
/// query is answered with respond(), which goes through the pool it came
/// from (and throws ClosedError once that pool is closed). Copies share the
/// underlying query.
class Event {
public:
    EventType type = EventType::None;
    std::optional<Member> member;       ///< member events
    std::string name;                   ///< user events, queries, name conflicts
    std::vector<std::uint8_t> payload;  ///< user events, queries
    std::uint64_t ltime = 0;            ///< user events, queries
    std::string from;                   ///< queries: the node that sent it

    bool is_member_event() const noexcept { return member.has_value(); }
    bool is_user() const noexcept { return type == EventType::User; }
    bool is_query() const noexcept { return type == EventType::Query; }

    /// The payload as text (bytes as they are).
    std::string payload_string() const { return std::string(payload.begin(), payload.end()); }

    /// Answers this query with `payload` (at most max_query_response_size
    /// bytes, 1,024 by default). Throws InvalidArgumentError for an event
    /// that is not a query or a payload too large, TimeoutError past the
    /// query's deadline, ClosedError once the pool is closed.
    void respond(const std::uint8_t* data, std::size_t len) const;
    void respond(const std::vector<std::uint8_t>& data) const { respond(data.data(), data.size()); }
    void respond(std::string_view data) const {
        respond(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    }

    /// A query's time left to be answered (respond() throws TimeoutError
    /// after it); 0 once it passed, and for other events.
    std::chrono::milliseconds remaining() const noexcept {
        if (!raw_) return std::chrono::milliseconds(0);
        const std::uint64_t ms = hearsay_event_query_deadline_ms(raw_.get());
        const std::uint64_t cap = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        return std::chrono::milliseconds(static_cast<std::int64_t>(ms < cap ? ms : cap));
    }

    /// Copies an event (and keeps it, when it is a query, for respond()).
    /// Takes ownership of `e`.
    static Event from_c(hearsay_event* e, const std::shared_ptr<hearsay_pool>& pool);

private:
    std::shared_ptr<const hearsay_event> raw_;  // queries only
    std::weak_ptr<hearsay_pool> pool_;          // queries only
};

inline Event Event::from_c(hearsay_event* e, const std::shared_ptr<hearsay_pool>& pool) {
    std::unique_ptr<hearsay_event, void (*)(hearsay_event*)> owned(e, hearsay_event_free);
    Event out;
    out.type = static_cast<EventType>(hearsay_event_get_type(e));
    if (const hearsay_member* m = hearsay_event_member(e)) out.member = Member::from_c(m);
    out.name = detail::str(hearsay_event_name(e));
    std::size_t len = 0;
    if (const std::uint8_t* p = hearsay_event_payload(e, &len)) out.payload.assign(p, p + len);
    out.ltime = hearsay_event_ltime(e);
    out.from = detail::str(hearsay_event_query_from(e));
    if (out.type == EventType::Query) {
        out.raw_ = std::shared_ptr<const hearsay_event>(owned.release(), [](const hearsay_event* q) {
            hearsay_event_free(const_cast<hearsay_event*>(q));
        });
        out.pool_ = pool;
    }
    return out;
}

inline void Event::respond(const std::uint8_t* data, std::size_t len) const {
    if (!raw_) {
        detail::throw_error(Result::InvalidArgument, "Event::respond",
                            std::string("a ") + to_string(type) + " event is not a query");
    }
    std::shared_ptr<hearsay_pool> pool = pool_.lock();
    if (!pool) detail::throw_error(Result::Closed, "Event::respond", "the pool of this query was closed");
    detail::check(hearsay_pool_respond(pool.get(), raw_.get(), data, len), "hearsay_pool_respond");
}

// ---------------------------------------------------------------------------
// Runtime
// ---------------------------------------------------------------------------

class Config;

/// One background thread that runs every pool created on it. Closing it
/// (or destroying it) stops its pools at once; their handles then answer
/// ClosedError and must still be closed.
class Runtime {
public:
    /// Starts the thread. Throws UnsupportedError when the loaded library's
    /// ABI does not match this header, IoError when the thread cannot start.
    Runtime() {
        if (!abi_compatible()) {
            detail::throw_error(Result::Unsupported, "Runtime",
                                "the loaded library has ABI version " + std::to_string(abi_version() >> 16) + "." +
                                    std::to_string(abi_version() & 0xffffu) + ", this header needs " +
                                    std::to_string(HEARSAY_ABI_VERSION_MAJOR) + "." +
                                    std::to_string(HEARSAY_ABI_VERSION_MINOR) + " or a later minor");
        }
        hearsay_runtime* rt = nullptr;
        detail::check(hearsay_runtime_new(&rt), "hearsay_runtime_new");
        handle_.reset(rt);
    }

    Runtime(Runtime&&) noexcept = default;
    Runtime& operator=(Runtime&&) noexcept = default;
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    /// Creates a pool from a copy of `config` (see Pool's constructor).
    Pool pool(const Config& config);

    /// Stops every pool of this runtime and joins its thread. Idempotent.
    void close() noexcept { handle_.reset(); }
    explicit operator bool() const noexcept { return static_cast<bool>(handle_); }
    hearsay_runtime* get() const noexcept { return handle_.get(); }

private:
    struct Free {
        void operator()(hearsay_runtime* rt) const noexcept { hearsay_runtime_free(rt); }
    };
    std::unique_ptr<hearsay_runtime, Free> handle_;
};

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

// Each setter exists for lvalues (returns Config&) and for temporaries
// (returns Config&&), so both `cfg.a(1).b(2);` and
// `auto cfg = Config(Profile::Local).a(1).b(2);` work.
#define HEARSAY_CPP_RVALUE_SETTER(NAME, PARAMS, ARGS) \
    Config&& NAME PARAMS && { return std::move(NAME ARGS); }

/// The settings of a pool, starting from a profile. Setters check what one
/// value tells (UTF-8, address syntax) and throw InvalidArgumentError;
/// ranges and relations are checked by validate() and by Pool's
/// constructor, so setters can come in any order. Not thread-safe to change.
class Config {
public:
    /// The defaults of `profile`; the host name as node name, bound to
    /// 127.0.0.1 on a free port, no tags, no label.
    explicit Config(Profile profile = Profile::Lan) {
        hearsay_config* c = nullptr;
        detail::check(hearsay_config_new(static_cast<hearsay_profile>(profile), &c), "hearsay_config_new");
        handle_.reset(c);
    }

    static Config lan() { return Config(Profile::Lan); }
    static Config wan() { return Config(Profile::Wan); }
    static Config local() { return Config(Profile::Local); }

    Config(Config&&) noexcept = default;
    Config& operator=(Config&&) noexcept = default;
    Config(const Config&) = delete;
    Config& operator=(const Config&) = delete;

    /// Node name: unique in the pool, 1 to 128 bytes. Default: the host name.
    Config& node_name(const std::string& name) & {
        detail::check(hearsay_config_set_node_name(raw(), name.c_str()), "hearsay_config_set_node_name");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(node_name, (const std::string& name), (name))

    /// "ip:port" (IPv6 "[::1]:7946") to bind UDP and TCP on; port 0 picks one.
    Config& bind_addr(const std::string& ip_port) & {
        detail::check(hearsay_config_set_bind_addr(raw(), ip_port.c_str()), "hearsay_config_set_bind_addr");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(bind_addr, (const std::string& ip_port), (ip_port))

    /// "ip:port" other members reach this node at; "" clears it.
    Config& advertise_addr(const std::string& ip_port) & {
        detail::check(hearsay_config_set_advertise_addr(raw(), ip_port.c_str()),
                      "hearsay_config_set_advertise_addr");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(advertise_addr, (const std::string& ip_port), (ip_port))

    /// Sets one tag (replacing any value of the same key).
    Config& tag(const std::string& key, const std::string& value) & {
        detail::check(hearsay_config_set_tag(raw(), key.c_str(), value.c_str()), "hearsay_config_set_tag");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(tag, (const std::string& key, const std::string& value), (key, value))

    /// Sets each tag of `tags` (others already set stay).
    Config& tags(const std::map<std::string, std::string>& tags) & {
        for (const auto& kv : tags) tag(kv.first, kv.second);
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(tags, (const std::map<std::string, std::string>& t), (t))

    /// Removes a tag; a key not set is not an error.
    Config& remove_tag(const std::string& key) & {
        detail::check(hearsay_config_remove_tag(raw(), key.c_str()), "hearsay_config_remove_tag");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(remove_tag, (const std::string& key), (key))

    /// Label stamped on every packet (1 to 255 bytes; "" clears it). Pools
    /// sharing one port need distinct labels.
    Config& label(const std::string& label) & {
        detail::check(hearsay_config_set_label(raw(), label.c_str()), "hearsay_config_set_label");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(label, (const std::string& l), (l))

    /// Events kept waiting for next_event (1 to 1048576, default 4096).
    Config& event_queue_depth(std::uint32_t depth) & {
        detail::check(hearsay_config_set_event_queue_depth(raw(), depth), "hearsay_config_set_event_queue_depth");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(event_queue_depth, (std::uint32_t depth), (depth))

    /// Time between probes of one member (at least 1 ms).
    Config& probe_interval(std::chrono::milliseconds d) & {
        detail::check(hearsay_config_set_probe_interval_ms(raw(), detail::to_ms_u32(d, "Config::probe_interval")),
                      "hearsay_config_set_probe_interval_ms");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(probe_interval, (std::chrono::milliseconds d), (d))

    /// Wait for a direct ack before probing indirectly (above 0, below the
    /// probe interval).
    Config& probe_timeout(std::chrono::milliseconds d) & {
        detail::check(hearsay_config_set_probe_timeout_ms(raw(), detail::to_ms_u32(d, "Config::probe_timeout")),
                      "hearsay_config_set_probe_timeout_ms");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(probe_timeout, (std::chrono::milliseconds d), (d))

    /// Time between gossip rounds (at least 1 ms).
    Config& gossip_interval(std::chrono::milliseconds d) & {
        detail::check(hearsay_config_set_gossip_interval_ms(raw(), detail::to_ms_u32(d, "Config::gossip_interval")),
                      "hearsay_config_set_gossip_interval_ms");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(gossip_interval, (std::chrono::milliseconds d), (d))

    /// Members each gossip round goes to (1 to 64).
    Config& gossip_nodes(std::uint32_t n) & {
        detail::check(hearsay_config_set_gossip_nodes(raw(), n), "hearsay_config_set_gossip_nodes");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(gossip_nodes, (std::uint32_t n), (n))

    /// Shortest suspicion = mult × max(1, log10 n) × probe interval (1 to 100).
    Config& suspicion_mult(std::uint32_t n) & {
        detail::check(hearsay_config_set_suspicion_mult(raw(), n), "hearsay_config_set_suspicion_mult");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(suspicion_mult, (std::uint32_t n), (n))

    /// How many times the shortest suspicion it starts at (1 to 100).
    Config& suspicion_max_timeout_mult(std::uint32_t n) & {
        detail::check(hearsay_config_set_suspicion_max_timeout_mult(raw(), n),
                      "hearsay_config_set_suspicion_max_timeout_mult");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(suspicion_max_timeout_mult, (std::uint32_t n), (n))

    /// Each broadcast is sent mult × ceil(log10(n + 1)) times (1 to 100).
    Config& retransmit_mult(std::uint32_t n) & {
        detail::check(hearsay_config_set_retransmit_mult(raw(), n), "hearsay_config_set_retransmit_mult");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(retransmit_mult, (std::uint32_t n), (n))

    /// Members asked to probe indirectly (0 to 16).
    Config& indirect_checks(std::uint32_t n) & {
        detail::check(hearsay_config_set_indirect_checks(raw(), n), "hearsay_config_set_indirect_checks");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(indirect_checks, (std::uint32_t n), (n))

    /// Time between full state exchanges; 0 turns them off.
    Config& push_pull_interval(std::chrono::milliseconds d) & {
        detail::check(
            hearsay_config_set_push_pull_interval_ms(raw(), detail::to_ms_u32(d, "Config::push_pull_interval")),
            "hearsay_config_set_push_pull_interval_ms");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(push_pull_interval, (std::chrono::milliseconds d), (d))

    /// Deadline of a TCP exchange (join, push-pull, fallback probe); bounds a join.
    Config& tcp_timeout(std::chrono::milliseconds d) & {
        detail::check(hearsay_config_set_tcp_timeout_ms(raw(), detail::to_ms_u32(d, "Config::tcp_timeout")),
                      "hearsay_config_set_tcp_timeout_ms");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(tcp_timeout, (std::chrono::milliseconds d), (d))

    /// How long dead members still receive gossip.
    Config& gossip_to_the_dead(std::chrono::milliseconds d) & {
        detail::check(
            hearsay_config_set_gossip_to_the_dead_ms(raw(), detail::to_ms_u32(d, "Config::gossip_to_the_dead")),
            "hearsay_config_set_gossip_to_the_dead_ms");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(gossip_to_the_dead, (std::chrono::milliseconds d), (d))

    /// After how long a dead member's name may be taken from a new address;
    /// 0 means never (the default).
    Config& dead_node_reclaim(std::chrono::milliseconds d) & {
        detail::check(
            hearsay_config_set_dead_node_reclaim_ms(raw(), detail::to_ms_u32(d, "Config::dead_node_reclaim")),
            "hearsay_config_set_dead_node_reclaim_ms");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(dead_node_reclaim, (std::chrono::milliseconds d), (d))

    /// Most the probe interval and timeout are scaled by under bad local
    /// health (1 to 64).
    Config& awareness_max_multiplier(std::uint32_t n) & {
        detail::check(hearsay_config_set_awareness_max_multiplier(raw(), n),
                      "hearsay_config_set_awareness_max_multiplier");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(awareness_max_multiplier, (std::uint32_t n), (n))

    /// Largest UDP payload sent (512 to 65000 bytes).
    Config& max_packet_size(std::uint32_t bytes) & {
        detail::check(hearsay_config_set_max_packet_size(raw(), bytes), "hearsay_config_set_max_packet_size");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(max_packet_size, (std::uint32_t bytes), (bytes))

    /// Largest encoded tags (node meta).
    Config& max_meta_size(std::uint32_t bytes) & {
        detail::check(hearsay_config_set_max_meta_size(raw(), bytes), "hearsay_config_set_max_meta_size");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(max_meta_size, (std::uint32_t bytes), (bytes))

    /// Largest TCP frame accepted (64 KiB to 1 GiB).
    Config& max_stream_size(std::uint32_t bytes) & {
        detail::check(hearsay_config_set_max_stream_size(raw(), bytes), "hearsay_config_set_max_stream_size");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(max_stream_size, (std::uint32_t bytes), (bytes))

    /// Most members accepted from one push-pull (at least 1).
    Config& max_push_pull_members(std::uint32_t n) & {
        detail::check(hearsay_config_set_max_push_pull_members(raw(), n),
                      "hearsay_config_set_max_push_pull_members");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(max_push_pull_members, (std::uint32_t n), (n))

    /// Largest encoded user event this node sends (16 to max packet size
    /// - 64; default 512).
    Config& max_user_event_size(std::uint32_t bytes) & {
        detail::check(hearsay_config_set_max_user_event_size(raw(), bytes),
                      "hearsay_config_set_max_user_event_size");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(max_user_event_size, (std::uint32_t bytes), (bytes))

    /// Largest response payload this node sends (16 to max packet size
    /// - 64; default 1024).
    Config& max_query_response_size(std::uint32_t bytes) & {
        detail::check(hearsay_config_set_max_query_response_size(raw(), bytes),
                      "hearsay_config_set_max_query_response_size");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(max_query_response_size, (std::uint32_t bytes), (bytes))

    /// Default query timeout = gossip interval x mult x ceil(log10(n + 1))
    /// (at least 1; default 16).
    Config& query_timeout_mult(std::uint32_t mult) & {
        detail::check(hearsay_config_set_query_timeout_mult(raw(), mult), "hearsay_config_set_query_timeout_mult");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(query_timeout_mult, (std::uint32_t mult), (mult))

    /// Coalescing period of user events sent with coalesce; 0 (default)
    /// turns coalescing off. Above 0 needs a quiescent period too.
    Config& coalesce_period(std::chrono::milliseconds d) & {
        detail::check(hearsay_config_set_coalesce_period_ms(raw(), detail::to_ms_u32(d, "Config::coalesce_period")),
                      "hearsay_config_set_coalesce_period_ms");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(coalesce_period, (std::chrono::milliseconds d), (d))

    /// A coalesced batch is also delivered once no event came for this long.
    Config& quiescent_period(std::chrono::milliseconds d) & {
        detail::check(
            hearsay_config_set_quiescent_period_ms(raw(), detail::to_ms_u32(d, "Config::quiescent_period")),
            "hearsay_config_set_quiescent_period_ms");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(quiescent_period, (std::chrono::milliseconds d), (d))

    /// How often failed and left members are checked for reaping (default 15 s).
    Config& reap_interval(std::chrono::milliseconds d) & {
        detail::check(hearsay_config_set_reap_interval_ms(raw(), detail::to_ms_u32(d, "Config::reap_interval")),
                      "hearsay_config_set_reap_interval_ms");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(reap_interval, (std::chrono::milliseconds d), (d))

    /// How often failed members are tried again (default 30 s).
    Config& reconnect_interval(std::chrono::milliseconds d) & {
        detail::check(
            hearsay_config_set_reconnect_interval_ms(raw(), detail::to_ms_u32(d, "Config::reconnect_interval")),
            "hearsay_config_set_reconnect_interval_ms");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(reconnect_interval, (std::chrono::milliseconds d), (d))

    /// How long a failed member is kept (and retried) before it is reaped
    /// (default 24 h).
    Config& reconnect_timeout(std::chrono::milliseconds d) & {
        detail::check(
            hearsay_config_set_reconnect_timeout_ms(raw(), detail::to_ms_u32(d, "Config::reconnect_timeout")),
            "hearsay_config_set_reconnect_timeout_ms");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(reconnect_timeout, (std::chrono::milliseconds d), (d))

    /// How long a member that left is kept before it is reaped (default 24 h).
    Config& tombstone_timeout(std::chrono::milliseconds d) & {
        detail::check(
            hearsay_config_set_tombstone_timeout_ms(raw(), detail::to_ms_u32(d, "Config::tombstone_timeout")),
            "hearsay_config_set_tombstone_timeout_ms");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(tombstone_timeout, (std::chrono::milliseconds d), (d))

    /// Settles name conflicts about the local node by a vote (on by default).
    Config& resolve_name_conflicts(bool on) & {
        detail::check(hearsay_config_set_resolve_name_conflicts(raw(), on),
                      "hearsay_config_set_resolve_name_conflicts");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(resolve_name_conflicts, (bool on), (on))

    /// Lifeguard's local health score (on by default).
    Config& local_health(bool on) & {
        detail::check(hearsay_config_set_local_health(raw(), on), "hearsay_config_set_local_health");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(local_health, (bool on), (on))

    /// Lifeguard's suspicion shrinking with confirmations (on by default).
    Config& suspicion_confirmations(bool on) & {
        detail::check(hearsay_config_set_suspicion_confirmations(raw(), on),
                      "hearsay_config_set_suspicion_confirmations");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(suspicion_confirmations, (bool on), (on))

    /// Nacks in indirect probes (on by default).
    Config& nacks(bool on) & {
        detail::check(hearsay_config_set_nacks(raw(), on), "hearsay_config_set_nacks");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(nacks, (bool on), (on))

    /// TCP retry of a failed UDP probe (on by default).
    Config& tcp_fallback_probe(bool on) & {
        detail::check(hearsay_config_set_tcp_fallback_probe(raw(), on), "hearsay_config_set_tcp_fallback_probe");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(tcp_fallback_probe, (bool on), (on))

    /// Largest encoded query this node sends (16 to max packet size - 64;
    /// default 1024).
    Config& max_query_size(std::uint32_t bytes) & {
        detail::check(hearsay_config_set_max_query_size(raw(), bytes), "hearsay_config_set_max_query_size");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(max_query_size, (std::uint32_t bytes), (bytes))

    /// Lamport times of user events remembered to deliver each once (16 to
    /// 65536; default 512).
    Config& event_buffer(std::uint32_t n) & {
        detail::check(hearsay_config_set_event_buffer(raw(), n), "hearsay_config_set_event_buffer");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(event_buffer, (std::uint32_t n), (n))

    /// Lamport times of queries remembered to handle each once (16 to
    /// 65536; default 512).
    Config& query_buffer(std::uint32_t n) & {
        detail::check(hearsay_config_set_query_buffer(raw(), n), "hearsay_config_set_query_buffer");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(query_buffer, (std::uint32_t n), (n))

    /// Intents about not-yet-known members kept (at least 1; default 4096).
    Config& max_intents(std::uint32_t n) & {
        detail::check(hearsay_config_set_max_intents(raw(), n), "hearsay_config_set_max_intents");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(max_intents, (std::uint32_t n), (n))

    /// How long those intents are kept (default 5 min).
    Config& recent_intent_timeout(std::chrono::milliseconds d) & {
        detail::check(hearsay_config_set_recent_intent_timeout_ms(
                          raw(), detail::to_ms_u32(d, "Config::recent_intent_timeout")),
                      "hearsay_config_set_recent_intent_timeout_ms");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(recent_intent_timeout, (std::chrono::milliseconds d), (d))

    /// Queries of this node pending at once (at least 1; default 1024);
    /// beyond it query() throws InvalidArgumentError.
    Config& max_pending_queries(std::uint32_t n) & {
        detail::check(hearsay_config_set_max_pending_queries(raw(), n), "hearsay_config_set_max_pending_queries");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(max_pending_queries, (std::uint32_t n), (n))

    /// The snapshot file: membership and clocks are appended to it, and a
    /// pool started with it restores its clocks, replays no old user event
    /// and rejoins the members it lists. Created with mode 0600; "" turns
    /// it off (the default). A file that cannot be opened makes Pool's
    /// constructor throw IoError.
    Config& snapshot_path(const std::string& path) & {
        detail::check(hearsay_config_set_snapshot_path(raw(), path.c_str()), "hearsay_config_set_snapshot_path");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(snapshot_path, (const std::string& path), (path))

    /// Vivaldi network coordinates, carried on probe acks (on by default).
    Config& coordinates(bool on) & {
        detail::check(hearsay_config_set_coordinates(raw(), on), "hearsay_config_set_coordinates");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(coordinates, (bool on), (on))

    /// Messages each gossip queue holds (at least 16; default 1024); beyond
    /// it the most-sent are dropped (stats().broadcasts_dropped).
    Config& max_broadcast_queue(std::uint32_t n) & {
        detail::check(hearsay_config_set_max_broadcast_queue(raw(), n), "hearsay_config_set_max_broadcast_queue");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(max_broadcast_queue, (std::uint32_t n), (n))

    /// Inbound TCP streams the pool's address serves at once (1 to 65536;
    /// default 128); more are closed at once (stats().streams_refused).
    Config& max_concurrent_streams(std::uint32_t n) & {
        detail::check(hearsay_config_set_max_concurrent_streams(raw(), n),
                      "hearsay_config_set_max_concurrent_streams");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(max_concurrent_streams, (std::uint32_t n), (n))

    /// Received datagrams waiting for the pool (1 to 1048576; default
    /// 1024); more are dropped (stats().dropped_overload).
    Config& inbound_packet_queue(std::uint32_t depth) & {
        detail::check(hearsay_config_set_inbound_packet_queue(raw(), depth),
                      "hearsay_config_set_inbound_packet_queue");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(inbound_packet_queue, (std::uint32_t depth), (depth))

    /// Distinct user events, and distinct queries, remembered for one
    /// Lamport time (1 to 65536; default 64); more are dropped
    /// (stats().dedup_full).
    Config& max_per_ltime(std::uint32_t n) & {
        detail::check(hearsay_config_set_max_per_ltime(raw(), n), "hearsay_config_set_max_per_ltime");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(max_per_ltime, (std::uint32_t n), (n))

    /// Acks, and responses, one query of this node accepts (at least 1;
    /// default 65536); more are dropped (stats().query_replies_dropped).
    Config& max_query_responses(std::uint32_t n) & {
        detail::check(hearsay_config_set_max_query_responses(raw(), n), "hearsay_config_set_max_query_responses");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(max_query_responses, (std::uint32_t n), (n))

    /// Adds a gossip encryption key of 16, 24 or 32 bytes (AES-128, -192,
    /// -256). The first key added is the primary (it encrypts; every key
    /// decrypts); with any key the pool encrypts what it sends and refuses
    /// plaintext. Another length: InvalidArgumentError. The bytes are copied.
    Config& add_key(const std::uint8_t* key, std::size_t len) & {
        detail::check(hearsay_config_add_key(raw(), key, len), "hearsay_config_add_key");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(add_key, (const std::uint8_t* key, std::size_t len), (key, len))
    Config& add_key(const std::vector<std::uint8_t>& key) & { return add_key(key.data(), key.size()); }
    HEARSAY_CPP_RVALUE_SETTER(add_key, (const std::vector<std::uint8_t>& key), (key))

    /// add_key() for a key in standard base64 (`openssl rand -base64 32`).
    /// Text that is not base64 of 16, 24 or 32 bytes: InvalidArgumentError.
    Config& add_key_base64(const std::string& key) & {
        detail::check(hearsay_config_add_key_base64(raw(), key.c_str()), "hearsay_config_add_key_base64");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(add_key_base64, (const std::string& key), (key))

    /// A JSON array of base64 keys, primary first: when it exists at Pool's
    /// constructor its keys replace those added, otherwise it is created
    /// from them; every key operation rewrites it (mode 0600). "" turns it
    /// off (the default).
    Config& keyring_file(const std::string& path) & {
        detail::check(hearsay_config_set_keyring_file(raw(), path.c_str()), "hearsay_config_set_keyring_file");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(keyring_file, (const std::string& path), (path))

    /// With keys: refuse plaintext packets (on by default; off during a
    /// migration to encryption, see docs/SECURITY.md).
    Config& verify_incoming(bool on) & {
        detail::check(hearsay_config_set_verify_incoming(raw(), on), "hearsay_config_set_verify_incoming");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(verify_incoming, (bool on), (on))

    /// With keys: encrypt what is sent (on by default; off during a migration).
    Config& verify_outgoing(bool on) & {
        detail::check(hearsay_config_set_verify_outgoing(raw(), on), "hearsay_config_set_verify_outgoing");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(verify_outgoing, (bool on), (on))

    /// Accepts packets, streams and member addresses only from this network
    /// ("10.0.0.0/8", "fd00::/8", or one address); call once per network.
    /// With none, every source is accepted. Not a network: InvalidArgumentError.
    Config& add_allowed_cidr(const std::string& cidr) & {
        detail::check(hearsay_config_add_allowed_cidr(raw(), cidr.c_str()), "hearsay_config_add_allowed_cidr");
        return *this;
    }
    HEARSAY_CPP_RVALUE_SETTER(add_allowed_cidr, (const std::string& cidr), (cidr))

    /// Checks every setting as Pool's constructor will; throws
    /// InvalidArgumentError naming the setting to fix.
    void validate() const {
        if (!handle_) detail::throw_error(Result::Closed, "Config", "the config was closed or moved from");
        detail::check(hearsay_config_validate(get()), "hearsay_config_validate");
    }

    /// Frees the config. Idempotent; pools made from it are not affected.
    void close() noexcept { handle_.reset(); }
    explicit operator bool() const noexcept { return static_cast<bool>(handle_); }
    const hearsay_config* get() const noexcept { return handle_.get(); }

private:
    hearsay_config* raw() {
        if (!handle_) detail::throw_error(Result::Closed, "Config", "the config was closed or moved from");
        return handle_.get();
    }

    struct Free {
        void operator()(hearsay_config* c) const noexcept { hearsay_config_free(c); }
    };
    std::unique_ptr<hearsay_config, Free> handle_;
};

#undef HEARSAY_CPP_RVALUE_SETTER

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

/// Parameters of a query: which nodes respond (by name, by tag), acks,
/// relays, how long to collect. A plain value; build it with the fields or
/// the chainable add_/set_ methods.
struct QueryParams {
    std::vector<std::string> nodes;                   ///< only these respond (empty: all)
    std::map<std::string, std::string> tag_filters;   ///< tag -> regular expression (unanchored)
    bool request_ack = false;                         ///< receivers acknowledge
    std::uint8_t relay_factor = 0;                    ///< relay each response through this many members
    std::chrono::milliseconds timeout{0};             ///< 0: the default for the pool size

    QueryParams& add_node(std::string node) {
        nodes.push_back(std::move(node));
        return *this;
    }
    QueryParams& add_tag_filter(std::string tag, std::string regex) {
        tag_filters[std::move(tag)] = std::move(regex);
        return *this;
    }
    QueryParams& set_request_ack(bool on = true) {
        request_ack = on;
        return *this;
    }
    QueryParams& set_relay_factor(std::uint8_t n) {
        relay_factor = n;
        return *this;
    }
    QueryParams& set_timeout(std::chrono::milliseconds d) {
        timeout = d;
        return *this;
    }
};

/// What a query reply is.
enum class ReplyType : std::int32_t {
    None = HEARSAY_REPLY_NONE,
    Ack = HEARSAY_REPLY_ACK,
    Response = HEARSAY_REPLY_RESPONSE,
};

inline const char* to_string(ReplyType t) noexcept {
    switch (t) {
    case ReplyType::None: return "none";
    case ReplyType::Ack: return "ack";
    case ReplyType::Response: return "response";
    }
    return "unknown";
}
inline std::ostream& operator<<(std::ostream& os, ReplyType t) { return os << to_string(t); }

/// One ack or response of a query (a copy).
struct QueryReply {
    ReplyType type = ReplyType::None;
    std::string from;                   ///< the member that sent it
    std::vector<std::uint8_t> payload;  ///< responses only

    bool is_ack() const noexcept { return type == ReplyType::Ack; }
    bool is_response() const noexcept { return type == ReplyType::Response; }
    std::string payload_string() const { return std::string(payload.begin(), payload.end()); }
};

/// One query in flight, started with Pool::query(). Pull its acks and
/// responses with next() until done(); or collect() them all. It may
/// outlive its pool (it then ends at once).
class Query {
public:
    explicit Query(hearsay_query* q) noexcept : handle_(q) {}

    Query(Query&& o) noexcept : handle_(std::move(o.handle_)), done_(o.done_) {}
    Query& operator=(Query&& o) noexcept {
        handle_ = std::move(o.handle_);
        done_ = o.done_;
        return *this;
    }
    Query(const Query&) = delete;
    Query& operator=(const Query&) = delete;

    /// The next ack or response, waiting up to `timeout` (negative, e.g.
    /// hearsay::forever: until the query's deadline). std::nullopt when
    /// nothing arrived in time or when the query is over; done() tells
    /// which.
    std::optional<QueryReply> next(std::chrono::milliseconds timeout) {
        if (done_ || !handle_) {
            done_ = true;
            return std::nullopt;
        }
        hearsay_query_reply* r = nullptr;
        const hearsay_result rc = hearsay_query_next(handle_.get(), detail::to_wait_ms(timeout), &r);
        if (rc == HEARSAY_EMPTY) return std::nullopt;
        if (rc == HEARSAY_ERR_CLOSED) {
            done_ = true;
            return std::nullopt;
        }
        detail::check(rc, "hearsay_query_next");
        std::unique_ptr<hearsay_query_reply, void (*)(hearsay_query_reply*)> owned(r, hearsay_query_reply_free);
        QueryReply out;
        out.type = static_cast<ReplyType>(hearsay_query_reply_type(r));
        out.from = detail::str(hearsay_query_reply_from(r));
        std::size_t len = 0;
        if (const std::uint8_t* p = hearsay_query_reply_payload(r, &len)) out.payload.assign(p, p + len);
        return out;
    }

    /// Whether the query is over and every reply was taken.
    bool done() const noexcept { return done_; }

    /// Every remaining reply, waiting until the query is over.
    std::vector<QueryReply> collect() {
        std::vector<QueryReply> out;
        while (!done_) {
            if (auto r = next(forever)) out.push_back(std::move(*r));
        }
        return out;
    }

    /// Time left until the query's deadline (0 once it passed).
    std::chrono::milliseconds remaining() const noexcept {
        const std::uint64_t ms = hearsay_query_deadline_ms(handle_.get());
        const std::uint64_t cap = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        return std::chrono::milliseconds(static_cast<std::int64_t>(ms < cap ? ms : cap));
    }

    /// Frees the query (replies not taken are dropped). Idempotent.
    void close() noexcept {
        handle_.reset();
        done_ = true;
    }
    explicit operator bool() const noexcept { return static_cast<bool>(handle_); }
    hearsay_query* get() const noexcept { return handle_.get(); }

private:
    struct Free {
        void operator()(hearsay_query* q) const noexcept { hearsay_query_free(q); }
    };
    std::unique_ptr<hearsay_query, Free> handle_;
    bool done_ = false;
};

// ---------------------------------------------------------------------------
// Pool
// ---------------------------------------------------------------------------

/// One gossip membership on a runtime. Destroying or closing it stops it at
/// once without leaving (the others then report it failed); call leave()
/// first to leave gracefully.
class Pool {
public:
    /// Binds UDP and TCP on the config's bind address and starts the pool;
    /// it knows only itself until join(). Throws InvalidArgumentError for a
    /// setting out of range, AddrInUseError for a taken address,
    /// ClosedError for a closed runtime.
    Pool(Runtime& rt, const Config& config) {
        if (!rt) detail::throw_error(Result::Closed, "Pool", "the runtime was closed or moved from");
        if (!config) detail::throw_error(Result::Closed, "Pool", "the config was closed or moved from");
        hearsay_pool* p = nullptr;
        detail::check(hearsay_pool_new(rt.get(), config.get(), &p), "hearsay_pool_new");
        handle_ = std::shared_ptr<hearsay_pool>(p, hearsay_pool_free);
    }

    Pool(Pool&&) noexcept = default;
    Pool& operator=(Pool&&) noexcept = default;
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    /// The bound address, "ip:port" (with the port chosen for port 0).
    std::string local_addr() const {
        char buf[128];
        detail::check(hearsay_pool_local_addr(live(), buf, sizeof buf), "hearsay_pool_local_addr");
        return buf;
    }

    /// The local node's name.
    std::string node_name() const {
        const char* n = hearsay_pool_node_name(live());
        if (!n) detail::throw_last(HEARSAY_ERR_NULL_PARAMETER, "hearsay_pool_node_name");
        return n;
    }

    /// Joins through the seeds ("ip:port" or "host:port"); returns how many
    /// answered. With `ignore_old_events`, user events sent before the join
    /// are not delivered here. Throws IoError when no seed answered,
    /// InvalidArgumentError for an address that does not parse (nothing is
    /// sent then). Blocks up to the TCP timeout.
    std::size_t join(const std::vector<std::string>& seeds, bool ignore_old_events = false) {
        std::vector<const char*> ptrs;
        ptrs.reserve(seeds.size());
        for (const auto& s : seeds) ptrs.push_back(s.c_str());
        std::size_t joined = 0;
        if (ignore_old_events) {
            detail::check(hearsay_pool_join_ignore_old(live(), ptrs.data(), ptrs.size(), true, &joined),
                          "hearsay_pool_join_ignore_old");
        } else {
            detail::check(hearsay_pool_join(live(), ptrs.data(), ptrs.size(), &joined), "hearsay_pool_join");
        }
        return joined;
    }

    /// A snapshot of every member known, the local node included.
    /// The network coordinate of member `name` ("" for the local node);
    /// std::nullopt while none is known yet or coordinates are off.
    std::optional<Coordinate> coordinate(const std::string& name = "") const {
        hearsay_coordinate c{};
        const hearsay_result r = hearsay_pool_coordinate(live(), name.empty() ? nullptr : name.c_str(), &c);
        if (r == HEARSAY_EMPTY) return std::nullopt;
        detail::check(r, "hearsay_pool_coordinate");
        Coordinate out;
        out.vec.assign(c.vec, c.vec + std::min<std::size_t>(c.dimensions, 64));
        out.error = c.error;
        out.adjustment = c.adjustment;
        out.height = c.height;
        return out;
    }

    /// The round trip between members `a` and `b` ("" for the local node)
    /// estimated from their coordinates; std::nullopt while either is unknown.
    std::optional<std::chrono::microseconds> estimated_rtt(const std::string& a, const std::string& b = "") const {
        std::uint64_t us = 0;
        const hearsay_result r =
            hearsay_pool_estimated_rtt(live(), a.c_str(), b.empty() ? nullptr : b.c_str(), &us);
        if (r == HEARSAY_EMPTY) return std::nullopt;
        detail::check(r, "hearsay_pool_estimated_rtt");
        return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(us));
    }

    /// Every member sorted by estimated round trip from `from` ("" for the
    /// local node), nearest first; members without a coordinate last.
    std::vector<Member> members_near(const std::string& from = "") const {
        hearsay_members* ms = nullptr;
        detail::check(hearsay_pool_members_near(live(), from.empty() ? nullptr : from.c_str(), &ms),
                      "hearsay_pool_members_near");
        return take_members(ms);
    }

    std::vector<Member> members() const {
        hearsay_members* ms = nullptr;
        detail::check(hearsay_pool_members(live(), &ms), "hearsay_pool_members");
        return take_members(ms);
    }

  private:
    static std::vector<Member> take_members(hearsay_members* ms) {
        std::unique_ptr<hearsay_members, void (*)(hearsay_members*)> owned(ms, hearsay_members_free);
        const std::size_t n = hearsay_members_count(ms);
        std::vector<Member> out;
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            if (const hearsay_member* m = hearsay_members_get(ms, i)) out.push_back(Member::from_c(m));
        }
        return out;
    }

  public:

    /// The oldest waiting event, waiting up to `timeout` (0: do not wait;
    /// negative, e.g. hearsay::forever: until one arrives). std::nullopt
    /// when none arrived in time; ClosedError once the pool stopped and
    /// every event was taken.
    std::optional<Event> next_event(std::chrono::milliseconds timeout) {
        hearsay_event* e = nullptr;
        const hearsay_result rc = hearsay_pool_next_event(live(), detail::to_wait_ms(timeout), &e);
        if (rc == HEARSAY_EMPTY) return std::nullopt;
        detail::check(rc, "hearsay_pool_next_event");
        return Event::from_c(e, handle_);
    }

    /// A descriptor readable exactly while events wait (for poll/epoll);
    /// then call next_event(0ms). Owned by the pool: do not read or close it.
    int event_fd() const noexcept { return hearsay_pool_event_fd(get()); }

    /// Events dropped because the queue was full.
    std::uint64_t events_dropped() const noexcept { return hearsay_pool_events_dropped(get()); }

    /// Broadcasts a user event to every member, this one included; each
    /// delivers it once. The encoded event must fit max_user_event_size
    /// (512 bytes by default), else InvalidArgumentError.
    void send_event(const std::string& name, const std::uint8_t* data, std::size_t len, bool coalesce = false) {
        detail::check(hearsay_pool_send_event(live(), name.c_str(), data, len, coalesce), "hearsay_pool_send_event");
    }
    void send_event(const std::string& name, const std::vector<std::uint8_t>& payload = {}, bool coalesce = false) {
        send_event(name, payload.data(), payload.size(), coalesce);
    }
    void send_event(const std::string& name, std::string_view payload, bool coalesce = false) {
        send_event(name, reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size(), coalesce);
    }

    /// Sends a query to the members passing `params`' filters, this one
    /// included; read the acks and responses from the returned Query.
    Query query(const std::string& name, const std::uint8_t* data, std::size_t len,
                const QueryParams& params = QueryParams()) {
        hearsay_query_params* raw = nullptr;
        detail::check(hearsay_query_params_new(&raw), "hearsay_query_params_new");
        std::unique_ptr<hearsay_query_params, void (*)(hearsay_query_params*)> owned(raw,
                                                                                    hearsay_query_params_free);
        for (const auto& n : params.nodes) {
            detail::check(hearsay_query_params_add_node(raw, n.c_str()), "hearsay_query_params_add_node");
        }
        for (const auto& kv : params.tag_filters) {
            detail::check(hearsay_query_params_add_tag_filter(raw, kv.first.c_str(), kv.second.c_str()),
                          "hearsay_query_params_add_tag_filter");
        }
        detail::check(hearsay_query_params_set_request_ack(raw, params.request_ack),
                      "hearsay_query_params_set_request_ack");
        detail::check(hearsay_query_params_set_relay_factor(raw, params.relay_factor),
                      "hearsay_query_params_set_relay_factor");
        detail::check(hearsay_query_params_set_timeout_ms(raw, detail::to_ms_u32(params.timeout, "QueryParams::timeout")),
                      "hearsay_query_params_set_timeout_ms");
        hearsay_query* q = nullptr;
        detail::check(hearsay_pool_query(live(), name.c_str(), data, len, raw, &q), "hearsay_pool_query");
        return Query(q);
    }
    Query query(const std::string& name, const std::vector<std::uint8_t>& payload = {},
                const QueryParams& params = QueryParams()) {
        return query(name, payload.data(), payload.size(), params);
    }
    Query query(const std::string& name, std::string_view payload, const QueryParams& params = QueryParams()) {
        return query(name, reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size(), params);
    }

    /// Answers a query event pulled from this pool (same as event.respond()).
    void respond(const Event& query, const std::vector<std::uint8_t>& payload) { query.respond(payload); }
    void respond(const Event& query, std::string_view payload) { query.respond(payload); }

    /// Sets one of the local node's tags at run time; members see an update.
    void set_tag(const std::string& key, const std::string& value) {
        detail::check(hearsay_pool_set_tag(live(), key.c_str(), value.c_str()), "hearsay_pool_set_tag");
    }

    /// Removes one of the local node's tags at run time.
    void remove_tag(const std::string& key) {
        detail::check(hearsay_pool_remove_tag(live(), key.c_str()), "hearsay_pool_remove_tag");
    }

    /// Replaces all of the local node's tags at run time (empty clears them).
    void set_tags(const std::map<std::string, std::string>& tags) {
        std::vector<const char*> keys, values;
        keys.reserve(tags.size());
        values.reserve(tags.size());
        for (const auto& kv : tags) {
            keys.push_back(kv.first.c_str());
            values.push_back(kv.second.c_str());
        }
        detail::check(hearsay_pool_set_tags(live(), keys.data(), values.data(), tags.size()), "hearsay_pool_set_tags");
    }

    /// Forces the failed member `name` out (every member then reports it
    /// left); with `prune`, it is forgotten at once. InvalidArgumentError
    /// for an unknown member or the local node.
    void force_leave(const std::string& name, bool prune = false) {
        detail::check(hearsay_pool_force_leave(live(), name.c_str(), prune), "hearsay_pool_force_leave");
    }

    /// Leaves gracefully: announces it and waits until it was gossiped or
    /// `timeout` passed. Returns true when fully gossiped, false at the
    /// timeout (the announcement still spreads). Close the pool afterwards.
    bool leave(std::chrono::milliseconds timeout) {
        const hearsay_result rc = hearsay_pool_leave(live(), detail::to_ms_u32(timeout, "Pool::leave"));
        if (rc == HEARSAY_ERR_TIMEOUT) return false;
        detail::check(rc, "hearsay_pool_leave");
        return true;
    }

    /// Installs a key (standard base64) on every member and waits until all
    /// alive members answered or the query timed out. Members' failures are
    /// in the report: go on to keyring_use() only when it succeeded(). A key
    /// that is not base64 of 16, 24 or 32 bytes: InvalidArgumentError.
    KeyringReport keyring_install(const std::string& key_base64) {
        return keyring(hearsay_pool_keyring_install, key_base64, "hearsay_pool_keyring_install");
    }

    /// Makes an installed key the primary on every member; members lacking
    /// it report an error.
    KeyringReport keyring_use(const std::string& key_base64) {
        return keyring(hearsay_pool_keyring_use, key_base64, "hearsay_pool_keyring_use");
    }

    /// Removes a key from every member. The local primary key throws
    /// InvalidArgumentError at once; members whose primary it is refuse it
    /// in the report.
    KeyringReport keyring_remove(const std::string& key_base64) {
        return keyring(hearsay_pool_keyring_remove, key_base64, "hearsay_pool_keyring_remove");
    }

    /// Every member's keys: the report's `keys` gives each key with how many
    /// members hold it and use it as primary.
    KeyringReport keyring_list() {
        hearsay_keyring_report* r = nullptr;
        detail::check(hearsay_pool_keyring_list(live(), &r), "hearsay_pool_keyring_list");
        return KeyringReport::take(r);
    }

    /// Changes, on this node only, whether plaintext is refused and whether
    /// what is sent is encrypted: the steps of a rolling migration to
    /// encryption without restarting (docs/SECURITY.md).
    void set_encryption_policy(bool verify_incoming, bool verify_outgoing) {
        detail::check(hearsay_pool_set_encryption_policy(live(), verify_incoming, verify_outgoing),
                      "hearsay_pool_set_encryption_policy");
    }

    /// The pool's counters.
    Stats stats() const {
        // Versioned by size: the struct of the header compiled against; a
        // library older than the header leaves the fields it lacks at 0.
        hearsay_stats s{};
        s.size = sizeof s;
        detail::check(hearsay_pool_stats(live(), &s), "hearsay_pool_stats");
        Stats out;
        out.health_score = s.health_score;
        out.packets_in = s.packets_in;
        out.packets_out = s.packets_out;
        out.bytes_in = s.bytes_in;
        out.bytes_out = s.bytes_out;
        out.streams_in = s.streams_in;
        out.streams_out = s.streams_out;
        out.dropped_malformed = s.dropped_malformed;
        out.dropped_label = s.dropped_label;
        out.dropped_version = s.dropped_version;
        out.dropped_invalid = s.dropped_invalid;
        out.dropped_decrypt = s.dropped_decrypt;
        out.streams_refused = s.streams_refused;
        out.events_dropped = s.events_dropped;
        out.members_alive = s.members_alive;
        out.members_suspect = s.members_suspect;
        out.members_leaving = s.members_leaving;
        out.members_left = s.members_left;
        out.members_failed = s.members_failed;
        out.snapshot_errors = s.snapshot_errors;
        out.broadcasts_dropped = s.broadcasts_dropped;
        out.dropped_plaintext = s.dropped_plaintext;
        out.dropped_source = s.dropped_source;
        out.keyring_file_errors = s.keyring_file_errors;
        out.dropped_overload = s.dropped_overload;
        out.duplicates_skipped = s.duplicates_skipped;
        out.streams_oversized = s.streams_oversized;
        out.intents_dropped = s.intents_dropped;
        out.events_too_old = s.events_too_old;
        out.queries_too_old = s.queries_too_old;
        out.dedup_full = s.dedup_full;
        out.queries_refused = s.queries_refused;
        out.query_replies_dropped = s.query_replies_dropped;
        return out;
    }

    /// Stops the pool at once, without leaving, and frees it. Idempotent.
    /// Events kept for respond() then answer ClosedError.
    void close() noexcept { handle_.reset(); }
    explicit operator bool() const noexcept { return static_cast<bool>(handle_); }
    hearsay_pool* get() const noexcept { return handle_.get(); }

private:
    hearsay_pool* live() const {
        if (!handle_) detail::throw_error(Result::Closed, "Pool", "the pool was closed or moved from");
        return handle_.get();
    }

    using KeyOp = hearsay_result (*)(const hearsay_pool*, const char*, hearsay_keyring_report**);
    KeyringReport keyring(KeyOp op, const std::string& key_base64, const char* call) {
        hearsay_keyring_report* r = nullptr;
        detail::check(op(live(), key_base64.c_str(), &r), call);
        return KeyringReport::take(r);
    }

    // Shared only with weak references (events kept for respond()), so
    // close() frees the pool unless a respond() is running at that moment.
    std::shared_ptr<hearsay_pool> handle_;
};

inline Pool Runtime::pool(const Config& config) { return Pool(*this, config); }

}  // namespace hearsay

#endif  // HEARSAY_HPP
