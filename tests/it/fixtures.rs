//! The fixtures in `tests/data`, loaded for the library's tests and for the mail-auth
//! cross-checks in `benches/tests/mail_auth.rs` (which include this file). The including
//! crate defines `DATA_DIR`, the path of `tests/data` from its manifest.

#![allow(dead_code)]

use std::path::PathBuf;

use easydkim::SigningKey;

/// `tests/data`.
pub fn data_dir() -> PathBuf {
    PathBuf::from(super::DATA_DIR)
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
