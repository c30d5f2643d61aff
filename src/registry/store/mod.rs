//! Persistent stores for the registry state.
//!
//! [`FileStore`] keeps one region's [`Snapshot`] in a single file and replaces it
//! atomically: the new state is written to a temporary file in the same directory, flushed
//! to disk (`fsync`), renamed over the target, and the directory is flushed too, so after a
//! crash at any point the file holds either the old state or the new one, never a mix. The
//! state before the last save is kept next to it as `<name>.prev`.
//!
//! The file is one header line followed by the JSON snapshot:
//!
//! ```text
//! easydkim-snapshot format_version=1 length=5120 sha256=<64 hex digits>
//! {"format_version":1,"region":"eu-west-1","identities":[...]}
//! ```
//!
//! `length` and `sha256` describe the JSON payload (everything after the header line), so a
//! truncated or altered file is refused with [`StoreError::Truncated`] or
//! [`StoreError::ChecksumMismatch`] instead of being half loaded, and a file written by a
//! newer release is refused with [`StoreError::NewerVersion`]. The snapshot holds private
//! keys: files are created with mode `0600` on Unix, and the buffers holding the JSON are
//! wiped after use.
//!
//! One process should save to a given path at a time (saves through one `FileStore` are
//! serialized); several nodes share state through a database store instead.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use easydkim::store::FileStore;
//! use easydkim::{IdentityRegistry, RegistryConfig};
//!
//! let config = RegistryConfig::new("eu-west-1", "dkim.mail.example.net")?;
//! let store = FileStore::new("/var/lib/easydkim/eu-west-1.json");
//! let registry = match store.load()? {
//!     Some(snapshot) => IdentityRegistry::from_snapshot(config, &snapshot)?,
//!     None => IdentityRegistry::new(config),
//! };
//! // ... after every change:
//! store.save(&registry.to_snapshot()?)?;
//! # Ok(())
//! # }
//! ```

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::shared::SharedError;
use super::snapshot::{Snapshot, SNAPSHOT_VERSION};

/// First word of the header line of every snapshot file.
pub const FILE_MAGIC: &str = "easydkim-snapshot";

/// Suffix of the copy of the state before the last save.
pub const PREVIOUS_SUFFIX: &str = ".prev";

/// Temporary files left by a crashed save are removed by a later save once this old.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// A snapshot file that could not be written or read.
///
/// No variant ever contains snapshot content (which holds private keys): only paths,
/// sizes, versions and positions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file-system operation failed.
    #[error("snapshot store {}: {action} failed: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What was being done, e.g. "rename temporary file".
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The file does not start with a snapshot header line (it is not a snapshot file, or
    /// its header is damaged).
    #[error("{} is not an easydkim snapshot file: {detail}", path.display())]
    NotASnapshot {
        /// The file.
        path: PathBuf,
        /// What is wrong with the header.
        detail: String,
    },
    /// The file is shorter than its header says: a write was cut short.
    #[error(
        "snapshot {} is truncated: {}",
        path.display(),
        match expected {
            Some(e) => format!("{found} payload bytes, expected {e}"),
            None => format!("{found} bytes, without a complete header line"),
        }
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The payload length the header announces (None when the header line itself is cut).
        expected: Option<u64>,
        /// The bytes found: of the payload, or of the whole file when `expected` is None.
        found: u64,
    },
    /// The file is longer than its header says.
    #[error(
        "snapshot {} has trailing data: {found} payload bytes, expected {expected}",
        path.display()
    )]
    TrailingData {
        /// The file.
        path: PathBuf,
        /// The payload length the header announces.
        expected: u64,
        /// The bytes found.
        found: u64,
    },
    /// The payload does not match the SHA-256 checksum in the header: the file is corrupt.
    #[error("snapshot {} is corrupt: SHA-256 checksum mismatch", path.display())]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
    },
    /// The file was written in a format version newer than this release reads.
    #[error(
        "snapshot {} has format version {found}, newer than the supported {supported}; \
         upgrade easydkim to read it",
        path.display()
    )]
    NewerVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The newest version this release reads ([`SNAPSHOT_VERSION`]).
        supported: u32,
    },
    /// The payload has the right checksum but is not a valid snapshot (it was written by
    /// something else, or edited by hand with a recomputed checksum).
    #[error(
        "snapshot {} is invalid: {category} error at line {line}, column {column}",
        path.display()
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The kind of error (`syntax`, `data`, `eof`, `io`, or `version` when the header and
        /// payload versions differ).
        category: &'static str,
        /// 1-based line in the payload.
        line: usize,
        /// 1-based column in the payload.
        column: usize,
    },
    /// The snapshot could not be serialized.
    #[error("snapshot could not be serialized: {category} error")]
    Encode {
        /// The kind of error.
        category: &'static str,
    },
}

impl StoreError {
    /// True for errors that mean the file's content is damaged or not a snapshot
    /// (truncated, trailing data, checksum mismatch, bad header, invalid payload): the
    /// cases where [`FileStore::load_or_previous`] falls back to the previous snapshot.
    /// I/O errors and a newer format version are not corruption.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            StoreError::NotASnapshot { .. }
                | StoreError::Truncated { .. }
                | StoreError::TrailingData { .. }
                | StoreError::ChecksumMismatch { .. }
                | StoreError::Invalid { .. }
        )
    }
}

/// A snapshot loaded by [`FileStore::load_or_previous`], with where it came from.
#[derive(Debug)]
#[non_exhaustive]
pub struct Recovered {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// True when it was read from `<name>.prev` because the main file was missing or
    /// corrupt (some changes since that save are lost).
    pub from_previous: bool,
    /// Why the main file could not be used, when it exists but is corrupt.
    pub current_error: Option<StoreError>,
}

/// A registry snapshot kept in one file, replaced atomically on every save (see the
/// [module documentation](self)).
pub struct FileStore {
    path: PathBuf,
    previous: PathBuf,
    /// Serializes saves through this store (the `.prev` rotation is not reentrant).
    lock: Mutex<()>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

fn json_category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "io",
        serde_json::error::Category::Syntax => "syntax",
        serde_json::error::Category::Data => "data",
        serde_json::error::Category::Eof => "eof",
    }
}

/// A temporary-file name unique within this process and across processes.
fn temp_name(target_name: &std::ffi::OsStr) -> OsString {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = temp_prefix(target_name);
    name.push(format!("{}-{n}", std::process::id()));
    name
}

/// `.<name>.tmp-`: the prefix of every temporary file of a store.
fn temp_prefix(target_name: &std::ffi::OsStr) -> OsString {
    let mut name = OsString::from(".");
    name.push(target_name);
    name.push(".tmp-");
    name
}

/// Creates a new file readable and writable by the owner only.
fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Restricts an existing file to its owner.
fn make_private(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Flushes a directory entry change (rename) to disk.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Removes a temporary file when dropped, unless disarmed.
struct TempGuard<'a> {
    path: &'a Path,
    armed: bool,
}

impl Drop for TempGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(self.path);
        }
    }
}

impl FileStore {
    /// A store at `path` (the file need not exist yet; its directory must, when saving).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let mut previous = path.clone().into_os_string();
        previous.push(PREVIOUS_SUFFIX);
        FileStore {
            path,
            previous: PathBuf::from(previous),
            lock: Mutex::new(()),
        }
    }

    /// The snapshot file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file holding the state before the last save: `<path>.prev`.
    pub fn previous_path(&self) -> &Path {
        &self.previous
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Saves `snapshot` atomically, keeping the state it replaces as `<path>.prev`.
    ///
    /// Steps: write header and JSON to a new temporary file (mode `0600`) in the same
    /// directory and `fsync` it; hard-link (or copy) the current file to a temporary name
    /// and rename that over `<path>.prev`; rename the temporary file over `<path>`;
    /// `fsync` the directory. A crash at any point leaves `<path>` with either the old or
    /// the new state, complete.
    ///
    /// Logged on target `easydkim::store`: DEBUG on success, ERROR on failure (field
    /// `path`, `error`).
    pub fn save(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        match self.save_inner(snapshot) {
            Ok(()) => {
                tracing::debug!(target: "easydkim::store", path = %self.path.display(), "snapshot saved");
                Ok(())
            }
            Err(e) => {
                tracing::error!(
                    target: "easydkim::store",
                    path = %self.path.display(),
                    error = %e,
                    "snapshot save failed"
                );
                Err(e)
            }
        }
    }

    fn save_inner(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let _guard = crate::sync::lock(&self.lock);
        let file_name = self.path.file_name().ok_or_else(|| StoreError::Io {
            path: self.path.clone(),
            action: "name the snapshot file",
            source: io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"),
        })?;
        let dir = self.dir();

        let mut payload: Zeroizing<Vec<u8>> =
            Zeroizing::new(serde_json::to_vec_pretty(snapshot).map_err(|e| {
                StoreError::Encode {
                    category: json_category(&e),
                }
            })?);
        payload.push(b'\n');
        let digest = Sha256::digest(&payload[..]);
        let header = format!(
            "{FILE_MAGIC} format_version={} length={} sha256={}\n",
            snapshot.format_version,
            payload.len(),
            hex(&digest)
        );

        // 1. The new state, complete and on disk, under a temporary name.
        let tmp = dir.join(temp_name(file_name));
        let mut tmp_guard = TempGuard {
            path: &tmp,
            armed: true,
        };
        {
            let mut file = create_private(&tmp).map_err(io_err(&tmp, "create temporary file"))?;
            file.write_all(header.as_bytes())
                .and_then(|()| file.write_all(&payload))
                .map_err(io_err(&tmp, "write temporary file"))?;
            file.sync_all()
                .map_err(io_err(&tmp, "fsync temporary file"))?;
        }

        // 2. Keep the current state as `.prev` (atomically replacing the older one).
        match fs::symlink_metadata(&self.path) {
            Ok(_) => self.keep_previous(&dir, file_name)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&self.path, "inspect snapshot file")(e)),
        }

        // 3. The switch.
        fs::rename(&tmp, &self.path).map_err(io_err(&self.path, "rename temporary file"))?;
        tmp_guard.armed = false;
        sync_dir(&dir).map_err(io_err(&dir, "fsync directory"))?;

        self.remove_stale_temp_files(&dir, file_name);
        Ok(())
    }

    /// Makes `<path>.prev` a copy of the current `<path>`: hard link (or copy) it to a
    /// temporary name, then rename that over `.prev`.
    fn keep_previous(&self, dir: &Path, file_name: &std::ffi::OsStr) -> Result<(), StoreError> {
        let tmp = dir.join(temp_name(file_name));
        let mut guard = TempGuard {
            path: &tmp,
            armed: true,
        };
        if fs::hard_link(&self.path, &tmp).is_err() {
            // File systems without hard links: a private copy, flushed.
            let data = Zeroizing::new(
                fs::read(&self.path).map_err(io_err(&self.path, "read snapshot file"))?,
            );
            let mut file =
                create_private(&tmp).map_err(io_err(&tmp, "create previous-state copy"))?;
            file.write_all(&data)
                .and_then(|()| file.sync_all())
                .map_err(io_err(&tmp, "write previous-state copy"))?;
        }
        make_private(&tmp).map_err(io_err(&tmp, "restrict previous-state copy"))?;
        fs::rename(&tmp, &self.previous)
            .map_err(io_err(&self.previous, "rename previous state"))?;
        guard.armed = false;
        Ok(())
    }

    /// Best effort: removes temporary files of this store left by crashed saves.
    fn remove_stale_temp_files(&self, dir: &Path, file_name: &std::ffi::OsStr) {
        let prefix = temp_prefix(file_name);
        let prefix = prefix.as_encoded_bytes();
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_name().as_encoded_bytes().starts_with(prefix) {
                continue;
            }
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_TEMP_AGE);
            if stale {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Loads the snapshot; `Ok(None)` when the file does not exist. A file that is
    /// truncated, corrupt, not a snapshot, or of a newer format version is an error: a
    /// state is loaded whole or not at all.
    pub fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        load_file(&self.path)
    }

    /// Loads `<path>.prev`, the state before the last save; `Ok(None)` when it does not
    /// exist.
    pub fn load_previous(&self) -> Result<Option<Snapshot>, StoreError> {
        load_file(&self.previous)
    }

    /// Loads the snapshot, falling back to `<path>.prev` when the main file is missing or
    /// corrupt ([`StoreError::is_corruption`]). I/O errors and a newer format version are
    /// returned as they are (falling back would silently drop newer state). When both files
    /// are unusable, the main file's error is returned. `Ok(None)`: neither file exists.
    pub fn load_or_previous(&self) -> Result<Option<Recovered>, StoreError> {
        let current_error = match self.load() {
            Ok(Some(snapshot)) => {
                return Ok(Some(Recovered {
                    snapshot,
                    from_previous: false,
                    current_error: None,
                }))
            }
            Ok(None) => None,
            Err(e) if e.is_corruption() => Some(e),
            Err(e) => return Err(e),
        };
        match (self.load_previous(), current_error) {
            (Ok(Some(snapshot)), current_error) => Ok(Some(Recovered {
                snapshot,
                from_previous: true,
                current_error,
            })),
            (_, Some(current)) => Err(current),
            (Ok(None), None) => Ok(None),
            (Err(previous), None) => Err(previous),
        }
    }
}

mod format;
mod registry_store;

use format::{hex, load_file};
pub use registry_store::FileRegistryStore;

#[cfg(test)]
mod tests {
    use super::format::unhex;
    use super::*;

    #[test]
    fn hex_round_trip() {
        let bytes: [u8; 32] = Sha256::digest(b"abc").into();
        assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex("zz"), None);
    }
}
