//! Integration tests of `easydkim`, compiled as one test binary (`cargo test --test it`).
//!
//! Each submodule is one area; the helpers below load the shared fixtures in `tests/data`.

mod backends;
mod chunking;
mod cli;
#[cfg(feature = "postgres")]
mod cluster;
mod errors;
mod interop;
mod lifecycle;
mod limits;
mod model;
mod precedence;
mod properties;
mod real_dns;
mod records;
mod refresh_scale;
mod regions;
mod registry_sign;
mod replication;
mod rfc6376;
mod rfc8463;
mod rotation;
#[cfg(feature = "serde")]
mod shared_store;
#[cfg(feature = "lettre")]
mod smtp;
#[cfg(feature = "serde")]
mod store;
mod streaming;
mod stress;
mod test_email;
mod verify;

use std::path::{Path, PathBuf};

use easydkim::SigningKey;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Every `tests/data/messages/*.eml` as `(file name, bytes)`, sorted by name.
pub fn messages() -> Vec<(String, Vec<u8>)> {
    let dir = data_dir().join("messages");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| {
            let name = p
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let bytes =
                std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (name, bytes)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A test key from `tests/data/keys/<name>` (`rsa1024.pem`, `rsa2048.pem`, `ed25519.pem`,
/// `ed25519.seed.b64`).
pub fn key(name: &str) -> SigningKey {
    let path = data_dir().join("keys").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    SigningKey::load(&bytes).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

/// An RFC test vector from `tests/data/rfc/<name>` (see the README there for its source).
pub fn rfc(name: &str) -> Vec<u8> {
    let path = data_dir().join("rfc").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
