//! Integration tests of `easydkim`, compiled as one test binary (`cargo test --test it`).
//!
//! Each submodule is one area; the helpers below load the shared fixtures in `tests/data`.

mod backends;
mod chunking;
mod cli;
#[cfg(feature = "postgres")]
mod cluster;
mod errors;
mod fixtures;
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

/// `tests/data`, for [`fixtures`].
const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

pub use fixtures::{data_dir, key, messages, rfc};
