//! Tags as node meta: a CBOR map of text to text.

use std::collections::BTreeMap;

/// Encodes tags as node meta (empty tags: empty meta).
pub fn encode(tags: &BTreeMap<String, String>) -> Vec<u8> {
    if tags.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    ciborium::into_writer(tags, &mut out).expect("invariant: writing CBOR to a Vec cannot fail");
    out
}

/// Decodes node meta as tags; meta that is not a tag map gives no tags.
pub fn decode(meta: &[u8]) -> BTreeMap<String, String> {
    if meta.is_empty() {
        return BTreeMap::new();
    }
    ciborium::from_reader(meta).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let mut tags = BTreeMap::new();
        tags.insert("role".to_owned(), "web".to_owned());
        assert_eq!(decode(&encode(&tags)), tags);
        assert!(decode(&[0xff, 0x00]).is_empty());
        assert!(encode(&BTreeMap::new()).is_empty());
    }
}
