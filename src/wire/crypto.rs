//! The encryption envelope and the keyring.
//!
//! ```text
//! encrypted packet = header(flags | ENCRYPTED) nonce(12) ciphertext tag(16)
//! ```
//!
//! The body of a plain packet (one message, or a compound) is sealed with
//! AES-GCM under the keyring's primary key; the associated data is the
//! header as sent (magic, version, flags, label), so neither the label nor
//! the flags can be altered without the packet being refused. Receivers try
//! every installed key. Nonces are random (drawn by the caller: this module
//! holds no randomness), 96 bits each.

use std::fmt;

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce, Tag};
use base64::Engine;

use super::codec::{PacketHeader, FLAG_ENCRYPTED};

/// Bytes of the nonce that starts an encrypted body.
pub const NONCE_LEN: usize = 12;
/// Bytes of the authentication tag that ends an encrypted body.
pub const TAG_LEN: usize = 16;
/// Bytes encryption adds to a packet.
pub const ENCRYPTION_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
/// Most keys a keyring holds.
pub const MAX_KEYS: usize = 64;

type Aes192Gcm = AesGcm<Aes192, U12>;

#[derive(Clone)]
enum Cipher {
    Aes128(Box<Aes128Gcm>),
    Aes192(Box<Aes192Gcm>),
    Aes256(Box<Aes256Gcm>),
}

/// One AES key: 16, 24 or 32 bytes (AES-128, -192, -256).
#[derive(Clone)]
pub struct SecretKey {
    bytes: Vec<u8>,
    cipher: Cipher,
}

impl SecretKey {
    /// The key of these bytes; refused unless 16, 24 or 32 long.
    pub fn new(bytes: &[u8]) -> Result<SecretKey, KeyError> {
        let cipher = match bytes.len() {
            16 => Cipher::Aes128(Box::new(
                Aes128Gcm::new_from_slice(bytes).map_err(|_| KeyError::Length(bytes.len()))?,
            )),
            24 => Cipher::Aes192(Box::new(
                Aes192Gcm::new_from_slice(bytes).map_err(|_| KeyError::Length(bytes.len()))?,
            )),
            32 => Cipher::Aes256(Box::new(
                Aes256Gcm::new_from_slice(bytes).map_err(|_| KeyError::Length(bytes.len()))?,
            )),
            n => return Err(KeyError::Length(n)),
        };
        Ok(SecretKey {
            bytes: bytes.to_vec(),
            cipher,
        })
    }

    /// The key written in standard base64 (Consul's `encrypt` form).
    pub fn from_base64(text: &str) -> Result<SecretKey, KeyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| KeyError::Base64(e.to_string()))?;
        SecretKey::new(&bytes)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The key in standard base64.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.bytes)
    }

    fn seal_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> Tag {
        let nonce = Nonce::from_slice(nonce);
        let sealed = match &self.cipher {
            Cipher::Aes128(c) => c.encrypt_in_place_detached(nonce, aad, buf),
            Cipher::Aes192(c) => c.encrypt_in_place_detached(nonce, aad, buf),
            Cipher::Aes256(c) => c.encrypt_in_place_detached(nonce, aad, buf),
        };
        sealed.expect("invariant: AES-GCM seals any buffer under 64 GiB")
    }

    fn open_in_place(&self, nonce: &[u8], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
        let nonce = Nonce::from_slice(nonce);
        let tag = Tag::from_slice(tag);
        match &self.cipher {
            Cipher::Aes128(c) => c.decrypt_in_place_detached(nonce, aad, buf, tag),
            Cipher::Aes192(c) => c.decrypt_in_place_detached(nonce, aad, buf, tag),
            Cipher::Aes256(c) => c.decrypt_in_place_detached(nonce, aad, buf, tag),
        }
        .is_ok()
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &SecretKey) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for SecretKey {}

impl fmt::Debug for SecretKey {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({} bytes)", self.bytes.len())
    }
}

/// Why a key, or a keyring change, was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not 16, 24 or 32 bytes.
    Length(usize),
    /// Not valid base64.
    Base64(String),
    /// The key is not installed.
    NotInstalled,
    /// The primary key cannot be removed.
    RemovePrimary,
    /// The keyring already holds [`MAX_KEYS`] keys.
    Full,
    /// Not a JSON array of base64 strings (with the reason).
    File(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Length(n) => write!(
                f,
                "a key must be 16, 24 or 32 bytes (AES-128, -192 or -256), this one is {n}"
            ),
            KeyError::Base64(e) => write!(f, "a key must be standard base64: {e}"),
            KeyError::NotInstalled => f.write_str("the key is not installed"),
            KeyError::RemovePrimary => {
                f.write_str("the primary key cannot be removed: make another key primary first")
            }
            KeyError::Full => write!(f, "the keyring already holds {MAX_KEYS} keys"),
            KeyError::File(e) => write!(f, "keyring file: {e}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// The keys of a node: the primary one encrypts, every one is tried to
/// decrypt. Empty means encryption is off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keyring {
    /// Primary first.
    keys: Vec<SecretKey>,
}

impl Keyring {
    /// A keyring of these keys, the first primary; duplicates are dropped.
    pub fn new(keys: Vec<SecretKey>) -> Result<Keyring, KeyError> {
        let mut ring = Keyring::default();
        for key in keys {
            ring.install(key)?;
        }
        Ok(ring)
    }

    /// Whether no key is installed (encryption off).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key that encrypts.
    pub fn primary(&self) -> Option<&SecretKey> {
        self.keys.first()
    }

    /// Every key, primary first.
    pub fn keys(&self) -> &[SecretKey] {
        &self.keys
    }

    /// Adds a key (the primary if it is the first); installing a key twice
    /// changes nothing.
    pub fn install(&mut self, key: SecretKey) -> Result<(), KeyError> {
        if self.keys.contains(&key) {
            return Ok(());
        }
        if self.keys.len() >= MAX_KEYS {
            return Err(KeyError::Full);
        }
        self.keys.push(key);
        Ok(())
    }

    /// Makes an installed key the primary.
    pub fn use_key(&mut self, key: &SecretKey) -> Result<(), KeyError> {
        let i = self
            .keys
            .iter()
            .position(|k| k == key)
            .ok_or(KeyError::NotInstalled)?;
        let key = self.keys.remove(i);
        self.keys.insert(0, key);
        Ok(())
    }

    /// Removes a key that is not the primary.
    pub fn remove(&mut self, key: &SecretKey) -> Result<(), KeyError> {
        let i = self
            .keys
            .iter()
            .position(|k| k == key)
            .ok_or(KeyError::NotInstalled)?;
        if i == 0 {
            return Err(KeyError::RemovePrimary);
        }
        self.keys.remove(i);
        Ok(())
    }
}

/// Why an encrypted packet was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Too short to hold a nonce and a tag.
    Truncated,
    /// No installed key authenticates it (wrong key, or tampered).
    NoKey,
}

/// Seals a plain packet: the same header with the encrypted flag set, then
/// `nonce`, the encrypted body and the tag. `packet` must have a valid
/// header (as [`encode_packet`](super::encode_packet) writes it).
pub fn seal_packet(packet: &[u8], key: &SecretKey, nonce: [u8; NONCE_LEN]) -> Vec<u8> {
    let header = PacketHeader::parse(packet).expect("invariant: sealing a packet we encoded");
    let body_offset = header.body_offset;
    let mut out = Vec::with_capacity(packet.len() + ENCRYPTION_OVERHEAD);
    out.extend_from_slice(&packet[..body_offset]);
    out[3] |= FLAG_ENCRYPTED;
    out.extend_from_slice(&nonce);
    let body_start = out.len();
    out.extend_from_slice(&packet[body_offset..]);
    let (aad, body) = out.split_at_mut(body_start);
    let tag = key.seal_in_place(&nonce, &aad[..body_offset], body);
    out.extend_from_slice(&tag);
    out
}

/// Opens an encrypted packet whose header is `header` with the first key of
/// `keyring` that authenticates it; returns the plain body.
pub fn open_body(
    packet: &[u8],
    header: &PacketHeader,
    keyring: &Keyring,
) -> Result<Vec<u8>, OpenError> {
    let aad = &packet[..header.body_offset];
    let sealed = &packet[header.body_offset..];
    if sealed.len() < ENCRYPTION_OVERHEAD {
        return Err(OpenError::Truncated);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut buf = Vec::with_capacity(ciphertext.len());
    for key in keyring.keys() {
        buf.clear();
        buf.extend_from_slice(ciphertext);
        if key.open_in_place(nonce, aad, &mut buf, tag) {
            return Ok(buf);
        }
    }
    Err(OpenError::NoKey)
}

/// Longest keyring file accepted, in bytes.
pub const MAX_KEYRING_FILE_LEN: usize = 64 * 1024;

/// Parses a keyring file: a JSON array of base64 keys, primary first.
/// The message of an error names the entry at fault.
pub fn parse_keyring_file(text: &str) -> Result<Vec<SecretKey>, KeyError> {
    if text.len() > MAX_KEYRING_FILE_LEN {
        return Err(KeyError::File(format!(
            "{} bytes, more than the {MAX_KEYRING_FILE_LEN} allowed",
            text.len()
        )));
    }
    let entries: Vec<String> = serde_json::from_str(text)
        .map_err(|e| KeyError::File(format!("not a JSON array of base64 strings ({e})")))?;
    if entries.is_empty() {
        return Err(KeyError::File("the array holds no key".to_owned()));
    }
    if entries.len() > MAX_KEYS {
        return Err(KeyError::File(format!(
            "{} keys, more than the {MAX_KEYS} allowed",
            entries.len()
        )));
    }
    let mut keys = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let key =
            SecretKey::from_base64(entry).map_err(|e| KeyError::File(format!("key {i}: {e}")))?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// Writes keys as a keyring file (a JSON array of base64, primary first).
pub fn format_keyring_file(keys: &[SecretKey]) -> String {
    let entries: Vec<String> = keys.iter().map(SecretKey::to_base64).collect();
    let mut text = serde_json::to_string_pretty(&entries)
        .expect("invariant: an array of strings is valid JSON");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{encode_packet, PacketHeader, FLAG_COMPOUND};

    fn key(byte: u8, len: usize) -> SecretKey {
        SecretKey::new(&vec![byte; len]).unwrap()
    }

    fn open(packet: &[u8], ring: &Keyring) -> Result<Vec<u8>, OpenError> {
        let header = PacketHeader::parse(packet).unwrap();
        open_body(packet, &header, ring)
    }

    #[test]
    fn every_key_size_round_trips_and_others_are_refused() {
        let plain = encode_packet(Some("dc1"), &[vec![0xA0], vec![0xA1, 0x61, b's']]);
        for len in [16, 24, 32] {
            let k = key(7, len);
            let sealed = seal_packet(&plain, &k, [3; NONCE_LEN]);
            assert_eq!(sealed.len(), plain.len() + ENCRYPTION_OVERHEAD);
            let header = PacketHeader::parse(&sealed).unwrap();
            assert_eq!(header.label.as_deref(), Some("dc1"));
            assert_ne!(header.flags & FLAG_ENCRYPTED, 0);
            assert_ne!(header.flags & FLAG_COMPOUND, 0);
            let ring = Keyring::new(vec![key(1, 16), k]).unwrap();
            let body = open(&sealed, &ring).unwrap();
            assert_eq!(
                body,
                plain[PacketHeader::parse(&plain).unwrap().body_offset..]
            );
        }
        for len in [0, 15, 17, 31, 33, 64] {
            assert_eq!(
                SecretKey::new(&vec![0; len]).unwrap_err(),
                KeyError::Length(len)
            );
        }
    }

    #[test]
    fn wrong_key_tampering_and_relabelling_are_refused() {
        let plain = encode_packet(Some("a"), &[vec![0xA0]]);
        let sealed = seal_packet(&plain, &key(1, 32), [9; NONCE_LEN]);
        let wrong = Keyring::new(vec![key(2, 32)]).unwrap();
        assert_eq!(open(&sealed, &wrong), Err(OpenError::NoKey));
        let right = Keyring::new(vec![key(1, 32)]).unwrap();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            // Flipping a header bit may break the header itself; otherwise
            // the tag refuses it.
            if let Ok(h) = PacketHeader::parse(&bad) {
                if h.flags & FLAG_ENCRYPTED != 0 {
                    assert!(open_body(&bad, &h, &right).is_err(), "byte {i}");
                }
            }
        }
        let short = &sealed[..plain.len() + 10];
        assert_eq!(open(short, &right), Err(OpenError::Truncated));
    }

    #[test]
    fn keyring_operations() {
        let (a, b) = (key(1, 16), key(2, 16));
        let mut ring = Keyring::new(vec![a.clone()]).unwrap();
        ring.install(b.clone()).unwrap();
        ring.install(b.clone()).unwrap();
        assert_eq!(ring.keys().len(), 2);
        assert_eq!(ring.remove(&a), Err(KeyError::RemovePrimary));
        ring.use_key(&b).unwrap();
        assert_eq!(ring.primary(), Some(&b));
        ring.remove(&a).unwrap();
        assert_eq!(ring.remove(&a), Err(KeyError::NotInstalled));
        assert_eq!(ring.use_key(&a), Err(KeyError::NotInstalled));
        assert_eq!(format!("{a:?}"), "SecretKey(16 bytes)");
    }

    #[test]
    fn keyring_files_parse_and_name_the_bad_entry() {
        let keys = vec![key(1, 32), key(2, 16)];
        let text = format_keyring_file(&keys);
        assert_eq!(parse_keyring_file(&text).unwrap(), keys);
        let consul = r#"["pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="]"#;
        assert_eq!(parse_keyring_file(consul).unwrap()[0].as_bytes().len(), 32);
        let bad = r#"["pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=", "AAAA"]"#;
        let e = parse_keyring_file(bad).unwrap_err().to_string();
        assert!(e.contains("key 1") && e.contains("16, 24 or 32"), "{e}");
        for text in ["", "{}", "[]", "[1]", "[\"!!\"]"] {
            assert!(parse_keyring_file(text).is_err(), "{text}");
        }
    }
}
