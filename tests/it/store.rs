//! `registry::store::FileStore` (feature `serde`): atomic, checksummed snapshot files.
//!
//! Round trip, the `.prev` copy, refusal of truncated, corrupt, foreign and newer-version
//! files with typed errors, the fallback to `.prev` only when asked, mode 0600, and a crash
//! test: a child process (this test binary, re-executed) saves distinct states in a loop
//! and is SIGKILLed at random points; every surviving file must load whole and be one of
//! the saved states.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use easydkim::snapshot::{IdentitySnapshot, Snapshot, SNAPSHOT_VERSION};
use easydkim::store::{FileStore, StoreError};
use easydkim::{
    DomainSetup, IdentityRegistry, Selector, StaticDns, VerificationInfo, VerificationStatus,
};
use sha2::{Digest, Sha256};

use crate::key;
use crate::precedence::{config, refresh, H, T0};
use crate::support::publish;

/// A fresh, empty directory under the target dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty directory for one test.
pub(crate) fn temp_dir(name: &str) -> TempDir {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("easydkim-store-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    TempDir(dir)
}

/// A registry with an Easy DKIM domain (verified), a bring-your-own-key domain, a domain
/// without DKIM and an email identity.
fn populated() -> IdentityRegistry {
    let reg = IdentityRegistry::new(config());
    let dns = StaticDns::new();
    let id = reg.create_domain("example.com", T0).expect("create");
    publish(&dns, &reg.tenant_records(&id));
    publish(&dns, &reg.operator_records(&id));
    reg.create_domain_with(
        "example.org",
        DomainSetup::BringYourOwnKey {
            selector: Selector::parse("s2024").expect("selector"),
            key: key("ed25519.pem"),
        },
        T0,
    )
    .expect("create");
    reg.create_domain_with("plain.example", DomainSetup::None, T0)
        .expect("create");
    reg.create_email("pending@example.com", T0).expect("email");
    refresh(&reg, &dns, T0 + H);
    reg
}

/// A cheap snapshot fully determined by `marker` (no keys): `40 + marker % 40` domain
/// identities whose `created_at` and `version` are the marker.
fn marked(marker: u64) -> Snapshot {
    let n = 40 + marker % 40;
    Snapshot {
        format_version: SNAPSHOT_VERSION,
        region: crate::precedence::REGION.into(),
        identities: (0..n)
            .map(|i| IdentitySnapshot {
                name: format!("d{i}.example.com"),
                verification: VerificationInfo {
                    status: VerificationStatus::Pending,
                    window_start: marker,
                    last_checked: Some(marker),
                    last_success: None,
                    last_error: None,
                    failing_since: None,
                },
                verification_token: Some(format!("token-{marker}-{i}")),
                confirmation: None,
                dkim: None,
                dkim_verification: VerificationInfo {
                    status: VerificationStatus::NotStarted,
                    window_start: marker,
                    last_checked: None,
                    last_success: None,
                    last_error: None,
                    failing_since: None,
                },
                signing_enabled: true,
                created_at: marker,
                version: marker,
            })
            .collect(),
        last_version: None,
    }
}

/// The marker of a snapshot made by [`marked`], checking that it is exactly that state.
fn marker_of(s: &Snapshot) -> u64 {
    let m = s.identities.first().expect("identities").created_at;
    assert_eq!(*s, marked(m), "the loaded state is not one that was saved");
    m
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a snapshot file by hand: header with the given version and a correct checksum.
pub(crate) fn write_raw(path: &Path, version: u32, payload: &[u8]) {
    let mut data = format!(
        "easydkim-snapshot format_version={version} length={} sha256={}\n",
        payload.len(),
        hex(&Sha256::digest(payload))
    )
    .into_bytes();
    data.extend_from_slice(payload);
    std::fs::write(path, data).expect("write");
}

fn no_temp_files(dir: &Path) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(names.is_empty(), "temporary files left: {names:?}");
}

#[test]
fn round_trip_restores_the_registry() {
    let dir = temp_dir("round-trip");
    let store = FileStore::new(dir.join("eu-west-1.snapshot"));
    assert!(store.load().expect("load").is_none(), "no file yet");
    assert!(store.load_or_previous().expect("load").is_none());

    let reg = populated();
    let snap = reg.to_snapshot().expect("snapshot");
    store.save(&snap).expect("save");
    let back = store.load().expect("load").expect("a snapshot");
    assert_eq!(back, snap);
    let restored = IdentityRegistry::from_snapshot(config(), &back).expect("restore");
    assert_eq!(restored.to_snapshot().expect("snapshot"), snap);
    assert_eq!(restored.list().len(), 4);

    // The file is a header line followed by the JSON payload.
    let text = std::fs::read_to_string(store.path()).expect("read");
    let (header, payload) = text.split_once('\n').expect("header line");
    assert!(
        header.starts_with(&format!(
            "easydkim-snapshot format_version={SNAPSHOT_VERSION} length={} sha256=",
            payload.len()
        )),
        "{header}"
    );
    assert!(header.ends_with(&hex(&Sha256::digest(payload.as_bytes()))));
    assert_eq!(
        serde_json::from_str::<Snapshot>(payload).expect("JSON payload"),
        snap
    );
    assert!(store.load_previous().expect("load prev").is_none());
    no_temp_files(&dir);
}

#[test]
fn previous_state_is_kept() {
    let dir = temp_dir("prev");
    let store = FileStore::new(dir.join("state.json"));
    assert_eq!(
        store.previous_path(),
        dir.join("state.json.prev").as_path(),
        "`.prev` sits next to the file"
    );
    for m in 1..=3 {
        store.save(&marked(m)).expect("save");
    }
    assert_eq!(marker_of(&store.load().expect("load").expect("file")), 3);
    assert_eq!(
        marker_of(&store.load_previous().expect("load").expect("prev")),
        2
    );
    let r = store.load_or_previous().expect("load").expect("file");
    assert!(!r.from_previous);
    assert!(r.current_error.is_none());
    assert_eq!(marker_of(&r.snapshot), 3);
    no_temp_files(&dir);
}

#[test]
fn truncated_file_is_refused() {
    let dir = temp_dir("truncated");
    let store = FileStore::new(dir.join("s.json"));
    store.save(&marked(7)).expect("save");
    let full = std::fs::read(store.path()).expect("read");
    let header_len = full.iter().position(|&b| b == b'\n').expect("header") + 1;

    // Cut inside the payload, at several points.
    for cut in [header_len, header_len + 1, full.len() / 2, full.len() - 1] {
        std::fs::write(store.path(), &full[..cut]).expect("write");
        match store.load() {
            Err(e @ StoreError::Truncated { .. }) => {
                let StoreError::Truncated {
                    expected, found, ..
                } = &e
                else {
                    unreachable!()
                };
                assert_eq!(*expected, Some((full.len() - header_len) as u64));
                assert_eq!(*found, (cut - header_len) as u64);
                assert!(e.is_corruption());
                assert!(e.to_string().contains("truncated"), "{e}");
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    // Cut inside the header line, and an empty file.
    for cut in [0, 5, header_len - 1] {
        std::fs::write(store.path(), &full[..cut]).expect("write");
        assert!(
            matches!(
                store.load(),
                Err(StoreError::Truncated { expected: None, .. })
            ),
            "cut at {cut}: {:?}",
            store.load()
        );
    }
    // Extra bytes after the payload.
    let mut longer = full.clone();
    longer.extend_from_slice(b"{}");
    std::fs::write(store.path(), &longer).expect("write");
    assert!(matches!(store.load(), Err(StoreError::TrailingData { .. })));
}

#[test]
fn flipped_byte_is_a_checksum_error() {
    let dir = temp_dir("flipped");
    let store = FileStore::new(dir.join("s.json"));
    store.save(&marked(7)).expect("save");
    let full = std::fs::read(store.path()).expect("read");
    let header_len = full.iter().position(|&b| b == b'\n').expect("header") + 1;
    for pos in [
        header_len,
        header_len + 10,
        (header_len + full.len()) / 2,
        full.len() - 2,
    ] {
        let mut bad = full.clone();
        bad[pos] ^= 0x01;
        std::fs::write(store.path(), &bad).expect("write");
        match store.load() {
            Err(e @ StoreError::ChecksumMismatch { .. }) => {
                assert!(e.is_corruption());
                assert!(e.to_string().contains("checksum"), "{e}");
            }
            other => panic!("flip at {pos}: {other:?}"),
        }
    }
    // A flip inside the header: refused too (whatever the exact error).
    for pos in 0..header_len - 1 {
        let mut bad = full.clone();
        bad[pos] ^= 0x01;
        std::fs::write(store.path(), &bad).expect("write");
        assert!(store.load().is_err(), "header flip at {pos} accepted");
    }
}

#[test]
fn newer_format_version_is_refused() {
    let dir = temp_dir("newer");
    let store = FileStore::new(dir.join("s.json"));

    // A file from a newer release: header version 99 (payload unknown to us).
    write_raw(store.path(), 99, b"{\"something\": \"new\"}\n");
    match store.load() {
        Err(e @ StoreError::NewerVersion { found: 99, .. }) => {
            assert!(!e.is_corruption());
            let text = e.to_string();
            assert!(text.contains("99") && text.contains("newer"), "{text}");
        }
        other => panic!("format_version 99 accepted: {other:?}"),
    }

    // A snapshot whose own format_version is 99, saved through the store over a good one.
    std::fs::remove_file(store.path()).expect("remove");
    store.save(&marked(1)).expect("save");
    let mut snap = marked(2);
    snap.format_version = 99;
    store.save(&snap).expect("save");
    assert!(matches!(
        store.load(),
        Err(StoreError::NewerVersion {
            found: 99,
            supported: SNAPSHOT_VERSION,
            ..
        })
    ));
    // ...and no fallback to `.prev`: that would silently drop the newer state.
    assert!(store.load_previous().expect("prev").is_some());
    assert!(matches!(
        store.load_or_previous(),
        Err(StoreError::NewerVersion { .. })
    ));

    // Header and payload disagreeing on the version is refused.
    let payload = serde_json::to_vec(&marked(1)).expect("json");
    write_raw(store.path(), 0, &payload);
    assert!(matches!(store.load(), Err(StoreError::Invalid { .. })));
}

#[test]
fn foreign_files_are_refused() {
    let dir = temp_dir("foreign");
    let store = FileStore::new(dir.join("s.json"));
    let plain = serde_json::to_vec(&marked(1)).expect("json");
    for data in [
        &plain[..],
        b"hello\nworld\n",
        b"easydkim-snapshot format_version=x length=1 sha256=00\n{",
        b"easydkim-snapshot format_version=1 length=2\n{}",
        b"\n",
    ] {
        std::fs::write(store.path(), data).expect("write");
        match store.load() {
            Err(e @ StoreError::NotASnapshot { .. }) => assert!(e.is_corruption()),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(data)),
        }
    }
    // Right checksum, but not a snapshot inside.
    write_raw(store.path(), SNAPSHOT_VERSION, b"{\"region\": 5}\n");
    assert!(matches!(
        store.load(),
        Err(StoreError::Invalid {
            category: "data",
            ..
        })
    ));
    write_raw(store.path(), SNAPSHOT_VERSION, b"{\"region\": ");
    assert!(matches!(store.load(), Err(StoreError::Invalid { .. })));
}

#[test]
fn falls_back_to_previous_only_when_asked() {
    let dir = temp_dir("fallback");
    let store = FileStore::new(dir.join("s.json"));
    store.save(&marked(1)).expect("save");
    store.save(&marked(2)).expect("save");
    let mut bad = std::fs::read(store.path()).expect("read");
    let last = bad.len() - 3;
    bad[last] ^= 0x20;
    std::fs::write(store.path(), &bad).expect("write");

    // `load` never returns half a state, nor silently the old one.
    assert!(matches!(
        store.load(),
        Err(StoreError::ChecksumMismatch { .. })
    ));
    let r = store
        .load_or_previous()
        .expect("falls back")
        .expect("prev exists");
    assert!(r.from_previous);
    assert!(matches!(
        r.current_error,
        Some(StoreError::ChecksumMismatch { .. })
    ));
    assert_eq!(marker_of(&r.snapshot), 1);

    // Main file missing: `.prev` is used, with no error to report.
    std::fs::remove_file(store.path()).expect("remove");
    let r = store.load_or_previous().expect("load").expect("prev");
    assert!(r.from_previous && r.current_error.is_none());

    // Both unusable: the main file's error.
    std::fs::write(store.path(), &bad).expect("write");
    std::fs::write(store.previous_path(), b"garbage").expect("write");
    assert!(matches!(
        store.load_or_previous(),
        Err(StoreError::ChecksumMismatch { .. })
    ));

    // A save over a corrupt file works and rotates it to `.prev`.
    store.save(&marked(3)).expect("save");
    assert_eq!(marker_of(&store.load().expect("load").expect("file")), 3);
    assert!(store.load_previous().is_err());
}

#[test]
fn io_errors_are_typed() {
    let dir = temp_dir("io");
    let store = FileStore::new(dir.join("missing-dir").join("s.json"));
    match store.save(&marked(1)) {
        Err(e @ StoreError::Io { .. }) => {
            assert!(!e.is_corruption());
            assert!(e.to_string().contains("missing-dir"), "{e}");
            assert!(std::error::Error::source(&e).is_some());
        }
        other => panic!("{other:?}"),
    }
    // A directory where the file should be.
    let store = FileStore::new(dir.to_path_buf());
    assert!(matches!(store.load(), Err(StoreError::Io { .. })));
}

#[cfg(unix)]
#[test]
fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;

    let dir = temp_dir("mode");
    let store = FileStore::new(dir.join("s.json"));
    store
        .save(&populated().to_snapshot().expect("snapshot"))
        .expect("save");
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(store.path()), 0o600);

    // A pre-existing world-readable file is replaced by a private one, and its `.prev`
    // copy is private too.
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    store.save(&marked(2)).expect("save");
    assert_eq!(mode(store.path()), 0o600);
    assert_eq!(mode(store.previous_path()), 0o600);
}

#[test]
fn concurrent_saves_through_one_store_never_mix() {
    let dir = temp_dir("threads");
    let store = std::sync::Arc::new(FileStore::new(dir.join("s.json")));
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    store.save(&marked(t * 100 + i)).expect("save");
                    let m = marker_of(&store.load().expect("load").expect("file"));
                    assert!(m % 100 < 10);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    marker_of(&store.load().expect("load").expect("file"));
    marker_of(&store.load_previous().expect("load").expect("prev"));
    no_temp_files(&dir);
}

/// Env var that turns [`crash_child_saver`] into the looping child of [`crash_test`].
const CRASH_DIR_ENV: &str = "EASYDKIM_STORE_CRASH_DIR";

/// The child of [`crash_test`]: when `EASYDKIM_STORE_CRASH_DIR` is set, saves
/// `marked(m)`, `marked(m + 1)`, ... forever, starting after the marker on file. Without
/// the variable (a normal test run) it does nothing.
#[test]
fn crash_child_saver() {
    let Some(dir) = std::env::var_os(CRASH_DIR_ENV) else {
        return;
    };
    let store = FileStore::new(PathBuf::from(dir).join("s.json"));
    let mut m = match store.load() {
        Ok(Some(s)) => marker_of(&s) + 1,
        Ok(None) => 1,
        Err(e) => panic!("child found an unloadable file: {e}"),
    };
    loop {
        store.save(&marked(m)).expect("save");
        m += 1;
    }
}

/// xorshift64*: random kill points without a dependency.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn crash_test() {
    let dir = temp_dir("crash");
    let store = FileStore::new(dir.join("s.json"));
    let exe = std::env::current_exe().expect("current exe");
    let mut rng = u64::from(std::process::id()) | 1 << 40;
    let mut last_marker = 0;
    let mut rounds_with_file = 0;
    let started = Instant::now();
    for round in 0..25 {
        let mut child = Command::new(&exe)
            .args([
                "store::crash_child_saver",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_DIR_ENV, dir.as_os_str())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child");
        // Let the child start up and save for a random while, then SIGKILL it.
        let delay = 20 + next_random(&mut rng) % 80;
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().expect("kill");
        let out = child.wait_with_output().expect("wait");
        assert!(
            !out.status.success(),
            "round {round}: the child exited by itself: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "round {round}: {stderr}");

        // Whatever the kill interrupted, the file is a whole saved state, never older than
        // the one seen before, and `.prev` is a whole earlier state.
        match store.load() {
            Ok(Some(s)) => {
                let m = marker_of(&s);
                assert!(
                    m >= last_marker,
                    "round {round}: went back from {last_marker} to {m}"
                );
                last_marker = m;
                rounds_with_file += 1;
                if let Some(p) = store.load_previous().expect("prev loads") {
                    assert!(marker_of(&p) <= m, "round {round}");
                }
            }
            Ok(None) => assert_eq!(last_marker, 0, "round {round}: the file disappeared"),
            Err(e) => panic!("round {round}: unloadable file after SIGKILL: {e}"),
        }
    }
    assert!(
        rounds_with_file >= 20,
        "only {rounds_with_file} rounds saved anything"
    );
    assert!(last_marker > 25, "only {last_marker} saves in all");
    eprintln!(
        "crash test: 25 kills, {last_marker} saves, {:?}",
        started.elapsed()
    );
}
