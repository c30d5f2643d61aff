//! The DNS records an identity needs: as data, CSV, zone-file lines and relative names.

use crate::names::DomainName;

use super::identity::{DkimSetup, EasyKey, Identity};
use super::rules::{domainkey_name, key_name, verification_name};
use super::RegistryConfig;

/// A DNS record type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// TXT.
    Txt,
    /// CNAME.
    Cname,
}

impl RecordType {
    /// `TXT` or `CNAME`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Txt => "TXT",
            RecordType::Cname => "CNAME",
        }
    }
}

/// Who publishes a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Publisher {
    /// The tenant, in its own zone.
    Tenant,
    /// The operator, in its signing zone.
    Operator,
}

/// What a record is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// The domain-ownership TXT token.
    Verification,
    /// An Easy DKIM CNAME delegating a selector to the operator's zone.
    DkimDelegation,
    /// A DKIM public-key TXT record.
    DkimKey,
}

/// One DNS record. `name` and CNAME values are fully qualified, without the trailing dot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DnsRecord {
    /// TXT or CNAME.
    pub record_type: RecordType,
    /// The owner name.
    pub name: String,
    /// The TXT text (unsplit) or the CNAME target.
    pub value: String,
    /// Who publishes it.
    pub publisher: Publisher,
    /// What it is for.
    pub purpose: Purpose,
}

impl DnsRecord {
    /// A record. `name` and a CNAME's `value` are fully qualified names without the
    /// trailing dot; a TXT `value` is the text, unsplit.
    pub fn new(
        record_type: RecordType,
        name: impl Into<String>,
        value: impl Into<String>,
        publisher: Publisher,
        purpose: Purpose,
    ) -> DnsRecord {
        DnsRecord {
            record_type,
            name: name.into(),
            value: value.into(),
            publisher,
            purpose,
        }
    }

    /// The records as CSV, `Type,Name,Value` with a header row and CRLF line ends (RFC 4180),
    /// the file a tenant downloads.
    pub fn to_csv(records: &[DnsRecord]) -> String {
        let mut out = String::from("Type,Name,Value\r\n");
        for r in records {
            out.push_str(&format!(
                "{},{},{}\r\n",
                r.record_type.as_str(),
                csv_field(&r.name),
                csv_field(&r.value)
            ));
        }
        out
    }

    /// The records as zone-file lines, one per line (each is [`zone_line`](Self::zone_line)).
    pub fn to_zone(records: &[DnsRecord]) -> String {
        records.iter().map(|r| r.zone_line() + "\n").collect()
    }

    /// Splits a TXT value into character-strings of at most 255 bytes (RFC 1035 3.3), on
    /// char boundaries (DKIM records are ASCII, so this is exact).
    pub fn split_txt(value: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut rest = value;
        while rest.len() > 255 {
            let mut cut = 255;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push(&rest[..cut]);
            rest = &rest[cut..];
        }
        out.push(rest);
        out
    }

    /// The owner name relative to `zone` (`_easydkim` for `_easydkim.example.com` in
    /// `example.com`), for DNS hosts that append the zone themselves; `@` for the apex.
    /// None when the name is not inside `zone`.
    pub fn relative_name(&self, zone: &DomainName) -> Option<String> {
        let name = self.name.to_ascii_lowercase();
        let zone = zone.as_str();
        if name == zone {
            return Some("@".to_string());
        }
        name.strip_suffix(zone)
            .and_then(|rest| rest.strip_suffix('.'))
            .map(str::to_string)
    }

    /// One zone-file line: `name. IN TXT "…" "…"` (TXT split into strings of at most 255
    /// bytes, `"` and `\` escaped) or `name. IN CNAME target.`.
    pub fn zone_line(&self) -> String {
        match self.record_type {
            RecordType::Txt => {
                let strings: Vec<String> = Self::split_txt(&self.value)
                    .iter()
                    .map(|s| format!("\"{}\"", escape_zone(s)))
                    .collect();
                format!("{}. IN TXT {}", self.name, strings.join(" "))
            }
            RecordType::Cname => format!("{}. IN CNAME {}.", self.name, self.value),
        }
    }
}

/// A change to the operator's zone that a registry operation asks for (key rotation, dual
/// signing, switching methods). Apply each by record name: the name holds exactly the
/// record given afterwards (or nothing, for `Remove`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordChange {
    /// Make sure this record is published (a new record, or one an operation waits for).
    Publish(DnsRecord),
    /// Replace the record at `old.name` (same name) with `new`.
    Replace {
        /// What is published now.
        old: DnsRecord,
        /// What is to be published instead.
        new: DnsRecord,
    },
    /// Leave this record published as it is.
    Keep(DnsRecord),
    /// Remove this record (it is no longer used to sign; keep it a little longer if mail
    /// signed with it may still be in flight).
    Remove(DnsRecord),
}

impl RecordChange {
    /// The record the name holds after the change (None for `Remove`).
    pub fn target(&self) -> Option<&DnsRecord> {
        match self {
            RecordChange::Publish(r) | RecordChange::Keep(r) => Some(r),
            RecordChange::Replace { new, .. } => Some(new),
            RecordChange::Remove(_) => None,
        }
    }

    /// The owner name the change concerns.
    pub fn name(&self) -> &str {
        match self {
            RecordChange::Publish(r) | RecordChange::Keep(r) | RecordChange::Remove(r) => &r.name,
            RecordChange::Replace { new, .. } => &new.name,
        }
    }

    /// Whether the operator has something to do (anything but `Keep`).
    pub fn is_action(&self) -> bool {
        !matches!(self, RecordChange::Keep(_))
    }
}

/// The records the tenant publishes for an identity (see
/// [`IdentityRegistry::tenant_records`](super::IdentityRegistry::tenant_records)).
pub(crate) fn tenant_records_of(config: &RegistryConfig, identity: &Identity) -> Vec<DnsRecord> {
    let Some(domain) = identity.domain() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(token) = &identity.verification_token {
        out.push(DnsRecord::new(
            RecordType::Txt,
            verification_name(config, domain),
            token.clone(),
            Publisher::Tenant,
            Purpose::Verification,
        ));
    }
    match &identity.dkim {
        Some(DkimSetup::Easy { keys, state }) => {
            for k in keys.iter().chain(state.dual.as_ref().map(|d| &d.key)) {
                out.push(DnsRecord::new(
                    RecordType::Cname,
                    domainkey_name(k.token.as_str(), domain),
                    key_name(k.token.as_str(), &state.signing_zone),
                    Publisher::Tenant,
                    Purpose::DkimDelegation,
                ));
            }
        }
        Some(DkimSetup::Byo { selector, key }) => out.push(DnsRecord::new(
            RecordType::Txt,
            domainkey_name(selector.as_str(), domain),
            key.dns_record(),
            Publisher::Tenant,
            Purpose::DkimKey,
        )),
        None => {}
    }
    out
}

/// The operator-zone key TXT of one Easy DKIM token.
pub(crate) fn key_record(zone: &DomainName, k: &EasyKey) -> DnsRecord {
    DnsRecord::new(
        RecordType::Txt,
        key_name(k.token.as_str(), zone),
        k.key.dns_record(),
        Publisher::Operator,
        Purpose::DkimKey,
    )
}

/// The operator-zone records of a setup: the three keys, then the dual-signing key.
pub(crate) fn operator_records_of(setup: &DkimSetup) -> Vec<DnsRecord> {
    match setup {
        DkimSetup::Easy { keys, state } => keys
            .iter()
            .chain(state.dual.as_ref().map(|d| &d.key))
            .map(|k| key_record(&state.signing_zone, k))
            .collect(),
        DkimSetup::Byo { .. } => Vec::new(),
    }
}

fn escape_zone(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// RFC 4180 field quoting: quote when the field holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(name: &str, value: &str) -> DnsRecord {
        DnsRecord {
            record_type: RecordType::Txt,
            name: name.into(),
            value: value.into(),
            publisher: Publisher::Tenant,
            purpose: Purpose::Verification,
        }
    }

    #[test]
    fn csv_quotes_per_rfc4180() {
        let csv = DnsRecord::to_csv(&[txt("a.example.com", "x,\"y\"")]);
        assert_eq!(
            csv,
            "Type,Name,Value\r\nTXT,a.example.com,\"x,\"\"y\"\"\"\r\n"
        );
    }

    #[test]
    fn zone_splits_long_txt() {
        let v = "p=".to_string() + &"A".repeat(600);
        let line = txt("k.example.com", &v).zone_line();
        let parts: Vec<&str> = line
            .split('"')
            .filter(|s| s.starts_with('A') || s.starts_with("p="))
            .collect();
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.len() <= 255));
        assert_eq!(parts.concat(), v);
    }

    #[test]
    fn relative_names() {
        let zone = DomainName::parse("example.com").unwrap();
        assert_eq!(
            txt("_easydkim.example.com", "")
                .relative_name(&zone)
                .as_deref(),
            Some("_easydkim")
        );
        assert_eq!(
            txt("example.com", "").relative_name(&zone).as_deref(),
            Some("@")
        );
        assert_eq!(txt("example.org", "").relative_name(&zone), None);
        assert_eq!(txt("badexample.com", "").relative_name(&zone), None);
    }
}
