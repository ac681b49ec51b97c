//! Protocol settings, with memberlist's published defaults as profiles.

use std::fmt;
use std::time::Duration;

use ipnet::IpNet;

use crate::wire::{SecretKey, MAX_LABEL_LEN};

/// Named starting points for [`Config`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// A datacenter network (memberlist's `DefaultLANConfig`).
    Lan,
    /// Across datacenters (memberlist's `DefaultWANConfig`).
    Wan,
    /// One host or a fast, reliable network (memberlist's `DefaultLocalConfig`).
    Local,
}

impl Profile {
    /// Parses `lan`, `wan` or `local` (any case).
    pub fn parse(text: &str) -> Option<Profile> {
        match text.to_ascii_lowercase().as_str() {
            "lan" => Some(Profile::Lan),
            "wan" => Some(Profile::Wan),
            "local" => Some(Profile::Local),
            _ => None,
        }
    }

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Lan => "lan",
            Profile::Wan => "wan",
            Profile::Local => "local",
        }
    }
}

/// Settings of the SWIM core. Build one with [`Config::lan`], [`Config::wan`]
/// or [`Config::local`], change what you need, then [`Config::validate`].
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Time between probes of one member. Default 1 s (LAN). Lower detects
    /// sooner and costs more traffic.
    pub probe_interval: Duration,
    /// How long to wait for a direct ack before asking others to probe.
    /// Default 500 ms (LAN). Must be below `probe_interval`; set it near the
    /// 99th percentile of round-trip time.
    pub probe_timeout: Duration,
    /// Time between gossip rounds. Default 200 ms (LAN). Lower spreads
    /// broadcasts faster and sends more packets.
    pub gossip_interval: Duration,
    /// Members each gossip round goes to. Default 3 (LAN).
    pub gossip_nodes: usize,
    /// How long dead members still receive gossip, so they learn they were
    /// declared dead and can refute. Default 30 s (LAN).
    pub gossip_to_the_dead_time: Duration,
    /// Members asked to probe indirectly when a direct probe fails. Default 3.
    pub indirect_checks: usize,
    /// Retransmit limit multiplier: each broadcast is sent
    /// `retransmit_mult × ceil(log10(n + 1))` times. Default 4.
    pub retransmit_mult: u32,
    /// Suspicion timeout multiplier: the minimum suspicion timeout is
    /// `suspicion_mult × max(1, log10 n) × probe_interval`. Default 4 (LAN).
    pub suspicion_mult: u32,
    /// The suspicion timeout starts at `suspicion_max_timeout_mult` times the
    /// minimum and shrinks with independent confirmations (Lifeguard). Default 6.
    pub suspicion_max_timeout_mult: u32,
    /// Local health: the probe interval and timeout are scaled by up to this
    /// factor when the node doubts its own health (Lifeguard). Default 8.
    pub awareness_max_multiplier: u32,
    /// Lifeguard's local health score (off = plain SWIM timing).
    pub local_health: bool,
    /// Lifeguard's suspicion that starts long and shrinks with independent
    /// confirmations (off = fixed timeout at the minimum).
    pub suspicion_confirmations: bool,
    /// Whether indirect probes ask for nacks (Lifeguard).
    pub nacks: bool,
    /// Whether a failed UDP probe is also tried over a stream (TCP).
    pub tcp_fallback_probe: bool,
    /// Time between periodic full state exchanges with one random member;
    /// scaled up above 32 members. Zero turns it off. Default 30 s (LAN).
    pub push_pull_interval: Duration,
    /// Deadline of a stream exchange (push-pull, fallback probe). Default 10 s (LAN).
    pub tcp_timeout: Duration,
    /// A dead member's name can be taken over from a new address after this
    /// long. Zero means never. Default 0 (memberlist's default).
    pub dead_node_reclaim_time: Duration,
    /// Largest UDP payload sent, in bytes. Default 1400.
    pub max_packet_size: usize,
    /// Largest node meta (encoded tags), in bytes. Default 512.
    pub max_meta_size: usize,
    /// Largest stream frame accepted, in bytes. Default 16 MiB.
    pub max_stream_size: usize,
    /// Most members accepted from one push-pull. Default 100,000.
    pub max_push_pull_members: usize,
    /// Most messages waiting in each broadcast queue (membership, and the
    /// layer above's); beyond it the most-sent are dropped. Default 1,024.
    pub max_broadcast_queue: usize,
    /// Label stamped on every packet; pools sharing a port are told apart by
    /// it, and packets with another label are dropped. Default none.
    pub label: Option<String>,
    /// Gossip encryption keys, the primary first; empty turns encryption
    /// off. Keys can be changed at run time ([`Swim::keyring_mut`]).
    ///
    /// [`Swim::keyring_mut`]: super::Swim::keyring_mut
    pub keys: Vec<SecretKey>,
    /// With keys: refuse plaintext packets. Turn off while a pool migrates
    /// to encryption (Consul's `encrypt_verify_incoming`). Default on.
    pub verify_incoming: bool,
    /// With keys: encrypt what is sent. Turn off at the start of a
    /// migration to encryption (Consul's `encrypt_verify_outgoing`).
    /// Default on.
    pub verify_outgoing: bool,
    /// Source networks accepted; packets, streams and member addresses from
    /// elsewhere are dropped and counted. Empty accepts every source.
    pub allowed_cidrs: Vec<IpNet>,
}

impl Config {
    /// memberlist's LAN defaults: probe 1 s / 500 ms, gossip 200 ms to 3,
    /// suspicion ×4 (max ×6), retransmit ×4, 3 indirect checks, push-pull 30 s,
    /// TCP 10 s.
    pub fn lan() -> Config {
        Config {
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            gossip_interval: Duration::from_millis(200),
            gossip_nodes: 3,
            gossip_to_the_dead_time: Duration::from_secs(30),
            indirect_checks: 3,
            retransmit_mult: 4,
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            awareness_max_multiplier: 8,
            local_health: true,
            suspicion_confirmations: true,
            nacks: true,
            tcp_fallback_probe: true,
            push_pull_interval: Duration::from_secs(30),
            tcp_timeout: Duration::from_secs(10),
            dead_node_reclaim_time: Duration::ZERO,
            max_packet_size: 1400,
            max_meta_size: 512,
            max_stream_size: 16 << 20,
            max_push_pull_members: 100_000,
            max_broadcast_queue: 1024,
            label: None,
            keys: Vec::new(),
            verify_incoming: true,
            verify_outgoing: true,
            allowed_cidrs: Vec::new(),
        }
    }

    /// memberlist's WAN defaults: probe 5 s / 3 s, gossip 500 ms to 4,
    /// suspicion ×6, push-pull 60 s, TCP 30 s, gossip to the dead 60 s.
    pub fn wan() -> Config {
        Config {
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(3),
            gossip_interval: Duration::from_millis(500),
            gossip_nodes: 4,
            gossip_to_the_dead_time: Duration::from_secs(60),
            suspicion_mult: 6,
            push_pull_interval: Duration::from_secs(60),
            tcp_timeout: Duration::from_secs(30),
            ..Config::lan()
        }
    }

    /// memberlist's local defaults: probe 1 s / 200 ms, gossip 100 ms to 3,
    /// suspicion ×3, retransmit ×2, 1 indirect check, push-pull 15 s, TCP 1 s,
    /// gossip to the dead 15 s.
    pub fn local() -> Config {
        Config {
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(200),
            gossip_interval: Duration::from_millis(100),
            gossip_nodes: 3,
            gossip_to_the_dead_time: Duration::from_secs(15),
            indirect_checks: 1,
            retransmit_mult: 2,
            suspicion_mult: 3,
            push_pull_interval: Duration::from_secs(15),
            tcp_timeout: Duration::from_secs(1),
            ..Config::lan()
        }
    }

    /// The defaults of a profile.
    pub fn for_profile(profile: Profile) -> Config {
        match profile {
            Profile::Lan => Config::lan(),
            Profile::Wan => Config::wan(),
            Profile::Local => Config::local(),
        }
    }

    /// Plain SWIM with suspicion: Lifeguard's local health, growing suspicion
    /// timeouts and nacks all off. For comparisons only.
    pub fn without_lifeguard(mut self) -> Config {
        self.local_health = false;
        self.suspicion_confirmations = false;
        self.nacks = false;
        self
    }

    /// Checks every field; the error names the field and the valid range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field: &'static str, reason: String| Err(ConfigError { field, reason });
        if self.probe_interval < Duration::from_millis(1) {
            return err("probe_interval", "must be at least 1 ms".into());
        }
        if self.probe_timeout.is_zero() || self.probe_timeout >= self.probe_interval {
            return err(
                "probe_timeout",
                format!(
                    "must be above zero and below probe_interval ({:?})",
                    self.probe_interval
                ),
            );
        }
        if self.gossip_interval < Duration::from_millis(1) {
            return err("gossip_interval", "must be at least 1 ms".into());
        }
        if !(1..=64).contains(&self.gossip_nodes) {
            return err("gossip_nodes", "must be between 1 and 64".into());
        }
        if self.indirect_checks > 16 {
            return err("indirect_checks", "must be between 0 and 16".into());
        }
        if !(1..=100).contains(&self.retransmit_mult) {
            return err("retransmit_mult", "must be between 1 and 100".into());
        }
        if !(1..=100).contains(&self.suspicion_mult) {
            return err("suspicion_mult", "must be between 1 and 100".into());
        }
        if !(1..=100).contains(&self.suspicion_max_timeout_mult) {
            return err(
                "suspicion_max_timeout_mult",
                "must be between 1 and 100".into(),
            );
        }
        if !(1..=64).contains(&self.awareness_max_multiplier) {
            return err(
                "awareness_max_multiplier",
                "must be between 1 and 64".into(),
            );
        }
        if self.tcp_timeout < Duration::from_millis(1) {
            return err("tcp_timeout", "must be at least 1 ms".into());
        }
        if !(512..=65_000).contains(&self.max_packet_size) {
            return err(
                "max_packet_size",
                "must be between 512 and 65000 bytes".into(),
            );
        }
        let meta_room = self.max_packet_size.saturating_sub(self.alive_overhead());
        if self.max_meta_size > meta_room {
            return err(
                "max_meta_size",
                format!(
                    "must fit a packet: at most {meta_room} bytes with max_packet_size {}",
                    self.max_packet_size
                ),
            );
        }
        if self.max_stream_size < 64 * 1024 || self.max_stream_size > 1 << 30 {
            return err("max_stream_size", "must be between 64 KiB and 1 GiB".into());
        }
        if self.max_broadcast_queue < 16 {
            return err("max_broadcast_queue", "must be at least 16".into());
        }
        if self.max_push_pull_members == 0 {
            return err("max_push_pull_members", "must be at least 1".into());
        }
        if let Some(label) = &self.label {
            if label.is_empty() || label.len() > MAX_LABEL_LEN {
                return err("label", "must be 1 to 255 bytes".into());
            }
        }
        if self.keys.len() > crate::wire::MAX_KEYS {
            return err("keys", format!("at most {} keys", crate::wire::MAX_KEYS));
        }
        Ok(())
    }

    /// Whether packets, streams and member addresses from `ip` are accepted.
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        self.allowed_cidrs.is_empty() || self.allowed_cidrs.iter().any(|net| net.contains(&ip))
    }

    /// Worst-case bytes of an alive message and packet header, without meta.
    fn alive_overhead(&self) -> usize {
        // Header with label, CBOR keys and values, a 128-byte name, an IPv6
        // address; measured generously.
        crate::wire::PACKET_HEADER_MIN_LEN
            + 1
            + MAX_LABEL_LEN
            + crate::wire::ENCRYPTION_OVERHEAD
            + 64
            + crate::wire::MAX_NAME_LEN
            + 24
    }
}

/// A setting out of its range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The field's name.
    pub field: &'static str,
    /// What is wrong and what range is valid.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_match_memberlist_defaults_and_validate() {
        for p in [Profile::Lan, Profile::Wan, Profile::Local] {
            Config::for_profile(p).validate().unwrap();
        }
        let wan = Config::wan();
        assert_eq!(wan.probe_timeout, Duration::from_secs(3));
        assert_eq!(wan.gossip_nodes, 4);
        assert_eq!(Config::local().indirect_checks, 1);
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = Config::lan();
        c.probe_timeout = Duration::from_secs(2);
        assert_eq!(c.validate().unwrap_err().field, "probe_timeout");
        let mut c = Config::lan();
        c.max_meta_size = 2000;
        let e = c.validate().unwrap_err();
        assert_eq!(e.field, "max_meta_size");
        assert!(e.to_string().contains("at most"));
    }
}
