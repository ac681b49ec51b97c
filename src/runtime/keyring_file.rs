//! The keyring file: a JSON array of base64 keys, primary first, written
//! whole to a temporary file with mode 0600, synced, then renamed over the
//! old one, so that a crash leaves either the old keys or the new.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{Error, ErrorKind};
use crate::wire::{format_keyring_file, parse_keyring_file, SecretKey, MAX_KEYRING_FILE_LEN};

/// The keys of the file, or `None` when it does not exist.
pub(crate) fn load(path: &Path) -> Result<Option<Vec<SecretKey>>, Error> {
    let text = match std::fs::read(path) {
        Ok(bytes) if bytes.len() > MAX_KEYRING_FILE_LEN => {
            return Err(Error::invalid(format!(
                "keyring file {}: {} bytes, more than the {MAX_KEYRING_FILE_LEN} allowed",
                path.display(),
                bytes.len()
            )))
        }
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            Error::invalid(format!("keyring file {}: not UTF-8 text", path.display()))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::new(
                ErrorKind::Io,
                format!("cannot read the keyring file {}: {e}", path.display()),
            ))
        }
    };
    parse_keyring_file(&text)
        .map(Some)
        .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))
}

/// Replaces the file with these keys.
pub(crate) fn store(path: &Path, keys: &[SecretKey]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(format_keyring_file(keys).as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn stored_keys_load_back_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("hearsay-keyring-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keyring.json");
        assert_eq!(load(&path).unwrap(), None);
        let keys = vec![
            SecretKey::new(&[1; 32]).unwrap(),
            SecretKey::new(&[2; 16]).unwrap(),
        ];
        store(&path, &keys).unwrap();
        assert_eq!(load(&path).unwrap(), Some(keys.clone()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        store(&path, &keys[1..]).unwrap();
        assert_eq!(load(&path).unwrap(), Some(keys[1..].to_vec()));
        std::fs::write(&path, "[\"not base64!\"]").unwrap();
        let e = load(&path).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.contains("key 0"), "{}", e.message);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
