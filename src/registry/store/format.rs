//! The snapshot file format: header, checksum, payload, and reading one file back.

use super::*;

pub(super) fn load_file(path: &Path) -> Result<Option<Snapshot>, StoreError> {
    let data = match fs::read(path) {
        Ok(d) => Zeroizing::new(d),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "read snapshot file")(e)),
    };
    decode(path, &data).map(Some)
}

/// The parsed header line.
struct Header {
    version: u32,
    length: u64,
    sha256: [u8; 32],
}

fn parse_header(path: &Path, line: &[u8]) -> Result<Header, StoreError> {
    let bad = |detail: &str| StoreError::NotASnapshot {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    };
    let line = std::str::from_utf8(line).map_err(|_| bad("header line is not text"))?;
    let mut words = line.split(' ');
    if words.next() != Some(FILE_MAGIC) {
        return Err(bad("header line does not start with `easydkim-snapshot`"));
    }
    let mut field = |name: &str| {
        words
            .next()
            .and_then(|w| w.strip_prefix(name))
            .and_then(|w| w.strip_prefix('='))
            .ok_or_else(|| bad(&format!("header line has no `{name}=`")))
    };
    let version = field("format_version")?;
    let length = field("length")?;
    let sha = field("sha256")?;
    let number = |s: &str, what: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(&format!("header {what} is not a number")));
        }
        s.parse::<u64>()
            .map_err(|_| bad(&format!("header {what} is too large")))
    };
    let version = u32::try_from(number(version, "format_version")?)
        .map_err(|_| bad("header format_version is too large"))?;
    let length = number(length, "length")?;
    let sha256 = unhex(sha).ok_or_else(|| bad("header sha256 is not 64 hex digits"))?;
    if words.next().is_some() {
        return Err(bad("header line has extra fields"));
    }
    Ok(Header {
        version,
        length,
        sha256,
    })
}

fn decode(path: &Path, data: &[u8]) -> Result<Snapshot, StoreError> {
    let Some(nl) = data.iter().position(|&b| b == b'\n') else {
        // No complete header line: an empty file, a file cut inside its header, or not a
        // snapshot at all.
        if FILE_MAGIC.as_bytes().starts_with(data) || data.starts_with(FILE_MAGIC.as_bytes()) {
            return Err(StoreError::Truncated {
                path: path.to_path_buf(),
                expected: None,
                found: data.len() as u64,
            });
        }
        return Err(StoreError::NotASnapshot {
            path: path.to_path_buf(),
            detail: "no header line".into(),
        });
    };
    let header = parse_header(path, &data[..nl])?;
    if header.version > SNAPSHOT_VERSION {
        return Err(StoreError::NewerVersion {
            path: path.to_path_buf(),
            found: header.version,
            supported: SNAPSHOT_VERSION,
        });
    }
    let payload = &data[nl + 1..];
    let found = payload.len() as u64;
    if found < header.length {
        return Err(StoreError::Truncated {
            path: path.to_path_buf(),
            expected: Some(header.length),
            found,
        });
    }
    if found > header.length {
        return Err(StoreError::TrailingData {
            path: path.to_path_buf(),
            expected: header.length,
            found,
        });
    }
    let digest: [u8; 32] = Sha256::digest(payload).into();
    if digest != header.sha256 {
        return Err(StoreError::ChecksumMismatch {
            path: path.to_path_buf(),
        });
    }
    let snapshot: Snapshot = serde_json::from_slice(payload).map_err(|e| StoreError::Invalid {
        path: path.to_path_buf(),
        category: json_category(&e),
        line: e.line(),
        column: e.column(),
    })?;
    if snapshot.format_version > SNAPSHOT_VERSION {
        return Err(StoreError::NewerVersion {
            path: path.to_path_buf(),
            found: snapshot.format_version,
            supported: SNAPSHOT_VERSION,
        });
    }
    if snapshot.format_version != header.version {
        return Err(StoreError::Invalid {
            path: path.to_path_buf(),
            category: "version",
            line: 0,
            column: 0,
        });
    }
    Ok(snapshot)
}

pub(super) fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// 64 hex digits (either case) as 32 bytes.
pub(super) fn unhex(s: &str) -> Option<[u8; 32]> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(s.as_bytes())
        .ok()?
        .try_into()
        .ok()
}
