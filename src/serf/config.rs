//! Settings of the Serf layer, with Serf's defaults.

use std::time::Duration;

use crate::coord::CoordConfig;
use crate::swim::{Config, Profile};

/// Settings of the Serf layer and of the SWIM core beneath it.
#[derive(Clone, Debug, PartialEq)]
pub struct SerfConfig {
    /// The SWIM settings.
    pub swim: Config,
    /// How often failed and left members are checked for reaping. Default 15 s.
    pub reap_interval: Duration,
    /// How often a failed member may be retried. Default 30 s.
    pub reconnect_interval: Duration,
    /// Failed members are reaped after this long. Default 24 h.
    pub reconnect_timeout: Duration,
    /// Left members are reaped after this long. Default 24 h.
    pub tombstone_timeout: Duration,
    /// Intents about unknown members are kept this long. Default 5 min.
    pub recent_intent_timeout: Duration,
    /// Most intents about unknown members kept. Default 4,096.
    pub max_intents: usize,
    /// Events remembered for deduplication, in Lamport time slots. Default 512.
    pub event_buffer: usize,
    /// Queries remembered for deduplication, in Lamport time slots. Default 512.
    pub query_buffer: usize,
    /// Most distinct events, and most distinct queries, remembered for one
    /// Lamport time; beyond it more at that time are dropped and counted, so
    /// that a flood at one time cannot grow a slot of `event_buffer` or
    /// `query_buffer` without bound. Default 64.
    pub max_per_ltime: usize,
    /// Largest encoded user event, in bytes. Default 512.
    pub max_user_event_size: usize,
    /// Largest encoded query, in bytes. Default 1,024.
    pub max_query_size: usize,
    /// Largest query response payload, in bytes. Default 1,024.
    pub max_query_response_size: usize,
    /// Default query timeout multiplier. Default 16.
    pub query_timeout_mult: u32,
    /// Most queries of this node pending at once. Default 1,024.
    pub max_pending_queries: usize,
    /// Most acks, and most responses, accepted for one query of this node:
    /// the members known when it starts (Serf's rule), and never more than
    /// this. Beyond it they are dropped and counted. Default 65,536.
    pub max_query_responses: usize,
    /// Coalescing of events sent with `coalesce`: deliver the latest of each
    /// name at most this long after the first. Zero turns it off. Default 0.
    pub coalesce_period: Duration,
    /// ... or once no event of the batch arrived for this long. Default 0.
    pub quiescent_period: Duration,
    /// Settle name conflicts about the local node by a vote of the members
    /// (Consul turns this off). Default on.
    pub resolve_name_conflicts: bool,
    /// Network coordinates (Vivaldi) carried on probe acks; `None` turns
    /// them off. Default on, with Serf's settings.
    pub coordinates: Option<CoordConfig>,
}

impl SerfConfig {
    /// Serf's defaults over a SWIM profile.
    pub fn new(profile: Profile) -> SerfConfig {
        SerfConfig::with_swim(Config::for_profile(profile))
    }

    /// Serf's defaults over these SWIM settings.
    pub fn with_swim(swim: Config) -> SerfConfig {
        SerfConfig {
            swim,
            reap_interval: Duration::from_secs(15),
            reconnect_interval: Duration::from_secs(30),
            reconnect_timeout: Duration::from_secs(24 * 3600),
            tombstone_timeout: Duration::from_secs(24 * 3600),
            recent_intent_timeout: Duration::from_secs(300),
            max_intents: 4096,
            event_buffer: 512,
            query_buffer: 512,
            max_per_ltime: 64,
            max_user_event_size: 512,
            max_query_size: 1024,
            max_query_response_size: 1024,
            query_timeout_mult: 16,
            max_pending_queries: 1024,
            max_query_responses: 65_536,
            coalesce_period: Duration::ZERO,
            quiescent_period: Duration::ZERO,
            resolve_name_conflicts: true,
            coordinates: Some(CoordConfig::default()),
        }
    }

    /// Checks every field; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        self.swim.validate().map_err(|e| e.to_string())?;
        let nonzero = [
            ("reap_interval", self.reap_interval),
            ("reconnect_interval", self.reconnect_interval),
            ("reconnect_timeout", self.reconnect_timeout),
            ("tombstone_timeout", self.tombstone_timeout),
        ];
        for (field, value) in nonzero {
            if value.is_zero() {
                return Err(format!("invalid {field}: must be above zero"));
            }
        }
        if !(16..=65_536).contains(&self.event_buffer) {
            return Err("invalid event_buffer: must be 16 to 65536".into());
        }
        if !(16..=65_536).contains(&self.query_buffer) {
            return Err("invalid query_buffer: must be 16 to 65536".into());
        }
        let packet_room = self.swim.max_packet_size.saturating_sub(64);
        for (field, value) in [
            ("max_user_event_size", self.max_user_event_size),
            ("max_query_size", self.max_query_size),
            ("max_query_response_size", self.max_query_response_size),
        ] {
            if value < 16 || value > packet_room {
                return Err(format!(
                    "invalid {field}: must be 16 to {packet_room} bytes (what a packet of max_packet_size {} carries)",
                    self.swim.max_packet_size
                ));
            }
        }
        if self.query_timeout_mult == 0 {
            return Err("invalid query_timeout_mult: must be at least 1".into());
        }
        for (field, value) in [
            ("max_intents", self.max_intents),
            ("max_pending_queries", self.max_pending_queries),
            ("max_query_responses", self.max_query_responses),
        ] {
            if value == 0 {
                return Err(format!("invalid {field}: must be at least 1"));
            }
        }
        if !(1..=65_536).contains(&self.max_per_ltime) {
            return Err("invalid max_per_ltime: must be 1 to 65536".into());
        }
        if let Some(coordinates) = &self.coordinates {
            coordinates.validate().map_err(|e| e.to_string())?;
        }
        if !self.coalesce_period.is_zero() && self.quiescent_period.is_zero() {
            return Err("invalid quiescent_period: must be above zero when coalescing".into());
        }
        Ok(())
    }
}
