//! Reading a keyring file (`wire::parse_keyring_file`) and a base64 key
//! (`SecretKey::from_base64`), as an operator or a disk gives them.
#![no_main]

use hearsay::wire::{format_keyring_file, parse_keyring_file, Keyring, SecretKey, MAX_KEYS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(keys) = parse_keyring_file(&text) {
        assert!(!keys.is_empty() && keys.len() <= MAX_KEYS);
        for (i, k) in keys.iter().enumerate() {
            assert!(matches!(k.as_bytes().len(), 16 | 24 | 32));
            assert!(!keys[..i].contains(k), "duplicate key kept");
        }
        assert_eq!(
            parse_keyring_file(&format_keyring_file(&keys)),
            Ok(keys.clone())
        );
        assert_eq!(Keyring::new(keys.clone()).unwrap().keys(), &keys[..]);
    }
    if let Ok(key) = SecretKey::from_base64(&text) {
        assert!(matches!(key.as_bytes().len(), 16 | 24 | 32));
        assert_eq!(SecretKey::from_base64(&key.to_base64()), Ok(key));
    }
});
