//! The snapshot file of a pool: appended record by record, compacted by
//! writing a new file, syncing it and renaming it over the old one, so that
//! a crash at any point leaves a file that loads (torn lines are skipped).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::serf::snapshot::{self, SnapshotRecord, SnapshotState};

/// Compact once the file has grown past this many bytes and twice its
/// compacted size.
const COMPACT_AFTER: u64 = 64 * 1024;

pub(crate) struct SnapshotFile {
    path: PathBuf,
    file: File,
    len: u64,
    compacted_len: u64,
    state: SnapshotState,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

impl SnapshotFile {
    /// Opens (or creates) the file and replays it: the state to restore and
    /// one warning per skipped line.
    pub(crate) fn open(path: &Path) -> std::io::Result<(SnapshotFile, SnapshotState, Vec<String>)> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let (state, warnings) = snapshot::parse(&bytes);
        let mut file = open_append(path)?;
        let mut len = bytes.len() as u64;
        if bytes.last().is_some_and(|&b| b != b'\n') {
            // End a torn last line so that the next record starts clean.
            file.write_all(b"\n")?;
            len += 1;
        }
        let snapshot = SnapshotFile {
            path: path.to_owned(),
            file,
            len,
            compacted_len: len,
            state: state.clone(),
        };
        Ok((snapshot, state, warnings))
    }

    /// Appends one record (and compacts when the file has grown enough).
    pub(crate) fn append(&mut self, record: SnapshotRecord) -> std::io::Result<()> {
        let line = record.to_line();
        self.state.apply(record);
        self.file.write_all(line.as_bytes())?;
        self.len += line.len() as u64;
        if self.len > COMPACT_AFTER && self.len > 2 * self.compacted_len {
            self.compact()?;
        }
        Ok(())
    }

    /// Flushes appended records to stable storage.
    pub(crate) fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// Rewrites the file as the shortest record list of its state.
    pub(crate) fn compact(&mut self) -> std::io::Result<()> {
        let bytes = self.state.to_bytes();
        let mut tmp_path = self.path.clone().into_os_string();
        tmp_path.push(".compact");
        let tmp_path = PathBuf::from(tmp_path);
        {
            let mut tmp = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp_path)?;
            tmp.write_all(&bytes)?;
            tmp.sync_all()?;
        }
        std::fs::rename(&tmp_path, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        self.file = open_append(&self.path)?;
        self.len = bytes.len() as u64;
        self.compacted_len = self.len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_compacts_and_reloads() {
        let dir = std::env::temp_dir().join(format!("hearsay-snap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("snapshot");
        let _ = std::fs::remove_file(&path);
        let (mut file, state, warnings) = SnapshotFile::open(&path).unwrap();
        assert_eq!(state, SnapshotState::default());
        assert!(warnings.is_empty());
        for t in 1..=5000u64 {
            file.append(SnapshotRecord::EventClock(t)).unwrap();
        }
        file.append(SnapshotRecord::Alive {
            name: "a".into(),
            addr: "127.0.0.1:9".parse().unwrap(),
        })
        .unwrap();
        file.sync().unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size < COMPACT_AFTER + 4096, "compacted: {size} bytes");
        drop(file);
        // A torn tail is skipped and mended.
        let mut raw = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        raw.write_all(b"{\"clock\":12").unwrap();
        drop(raw);
        let (mut file, state, warnings) = SnapshotFile::open(&path).unwrap();
        assert_eq!(state.event_clock, 5000);
        assert_eq!(state.alive.len(), 1);
        assert_eq!(warnings.len(), 1);
        file.append(SnapshotRecord::Clock(3)).unwrap();
        drop(file);
        let (_, state, _) = SnapshotFile::open(&path).unwrap();
        assert_eq!(state.clock, 3, "the record after the torn line is read");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
