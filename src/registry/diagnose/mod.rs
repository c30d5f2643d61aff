//! Setup diagnostics: what a tenant (or the operator) got wrong in DNS, and how to fix it.

use std::fmt;

use crate::dns::{DnsError, DnsVerifier};
use crate::key_record::KeyRecord;
use crate::names::DomainName;

use super::records::{DnsRecord, Publisher, Purpose, RecordType};
use super::rules::same_name;
use super::{DkimSetup, IdentityName, IdentityRegistry, RegistryConfig, RegistryError};

/// What kind of problem a [`Finding`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FindingKind {
    /// The DNS host appended the tenant's zone to a name entered in full: the record sits at
    /// `…example.com.example.com`, or a CNAME target got the zone added
    /// (`<token>.<signing zone>.example.com`).
    ZoneAppendedTwice,
    /// A TXT record where a CNAME is expected, or a CNAME where a TXT is expected.
    WrongRecordType,
    /// The Easy DKIM CNAME points at a wrong name (a misspelt or swapped token).
    CnameTargetMisspelt,
    /// The Easy DKIM CNAME has the right token but points at another zone (for example
    /// another region's signing zone).
    CnameOtherZone,
    /// The verification TXT is published at a wrong name: without the underscore
    /// (`easydkim.<domain>`) or at a parent domain.
    VerificationRecordMisplaced,
    /// The value is wrapped in extra quotes or whitespace (`"\"token\""`, `" token "`).
    ExtraQuotesOrWhitespace,
    /// The tenant's CNAME is right, but the operator-zone key record behind it is missing or
    /// carries another key than the one on file: the operator must publish
    /// [`operator_records`](IdentityRegistry::operator_records).
    StaleOperatorKey,
    /// The bring-your-own-key TXT carries a `p=` that does not match the private key on
    /// file.
    ByoKeyMismatch,
    /// A record of the right type is there, but with another value (e.g. a token from an
    /// earlier setup).
    WrongValue,
    /// The record is not published (nothing at the name, or no record of that type).
    Missing,
    /// The DNS servers could not answer (SERVFAIL, timeout): nothing could be concluded.
    DnsServerError,
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FindingKind::ZoneAppendedTwice => "zone appended twice",
            FindingKind::WrongRecordType => "wrong record type",
            FindingKind::CnameTargetMisspelt => "CNAME target misspelt",
            FindingKind::CnameOtherZone => "CNAME points at another zone",
            FindingKind::VerificationRecordMisplaced => "verification record at a wrong name",
            FindingKind::ExtraQuotesOrWhitespace => "extra quotes or whitespace",
            FindingKind::StaleOperatorKey => "operator key record missing or stale",
            FindingKind::ByoKeyMismatch => "published key does not match the key on file",
            FindingKind::WrongValue => "wrong value",
            FindingKind::Missing => "record missing",
            FindingKind::DnsServerError => "DNS server error",
        })
    }
}

/// One problem found by [`IdentityRegistry::diagnose`].
///
/// [`IdentityRegistry::diagnose`] looks up an identity's records through a
/// [`DnsVerifier`] and, where a record is not right, makes extra lookups to find out *why*:
/// the classic mistakes of DNS hosting panels (the zone appended twice, the underscore
/// dropped, a TXT instead of a CNAME, quotes typed into the value, …), CNAMEs that point at
/// the wrong place, and key records that do not match the key on file. Each problem is one
/// [`Finding`] with what was expected, what was found and a fix in plain words, ready to
/// show to the tenant. A correct setup gives no findings.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use easydkim::{
///     FindingKind, IdentityName, IdentityRegistry, KeySpec, RecordType, RegistryConfig,
///     StaticDns,
/// };
///
/// let mut config = RegistryConfig::new("eu-west-1", "dkim.mail.example.net").unwrap();
/// config.key_spec = KeySpec::Ed25519;
/// let registry = IdentityRegistry::new(config);
/// let identity = registry.create_domain("example.com", 0).unwrap();
///
/// // The tenant typed the full names into a DNS panel that appends the zone itself.
/// let dns = StaticDns::new();
/// for r in registry.tenant_records(&identity) {
///     let name = format!("{}.example.com", r.name);
///     match r.record_type {
///         RecordType::Txt => dns.add_txt(&name, &r.value),
///         RecordType::Cname => dns.add_cname(&name, &r.value),
///     }
/// }
/// let name = IdentityName::parse("example.com").unwrap();
/// let findings = registry.diagnose(&name, &dns).await.unwrap();
/// assert!(findings.iter().all(|f| f.kind == FindingKind::ZoneAppendedTwice));
/// println!("{}", findings[0].fix);
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// What kind of problem.
    pub kind: FindingKind,
    /// The record that should be published (a tenant record, or an operator record for
    /// [`FindingKind::StaleOperatorKey`]), when the finding is about one.
    pub record: Option<DnsRecord>,
    /// What was expected, e.g. `CNAME abc._domainkey.example.com -> abc.dkim.example.net`.
    pub expected: String,
    /// What DNS showed instead.
    pub found: String,
    /// How to fix it, in words for the person who edits the zone.
    pub fix: String,
}

impl Finding {
    /// A finding about `record`: what was expected is the record itself.
    fn about(record: &DnsRecord, kind: FindingKind, found: String, fix: String) -> Finding {
        Finding {
            kind,
            record: Some(record.clone()),
            expected: expected_of(record),
            found,
            fix,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}; found {}. Fix: {}",
            self.kind, self.expected, self.found, self.fix
        )
    }
}

impl IdentityRegistry {
    /// Looks up the records of `identity` through `dns` and explains what is wrong with
    /// them (see [`Finding`]). A correct setup gives no findings; an
    /// email identity has no records and gives none either. An identity verified through
    /// its Easy DKIM CNAMEs needs no verification TXT, so a missing TXT is then not a
    /// finding (a wrong one still is).
    ///
    /// This makes more DNS queries than [`refresh`](Self::refresh) and changes no status.
    pub async fn diagnose(
        &self,
        identity: &IdentityName,
        dns: &dyn DnsVerifier,
    ) -> Result<Vec<Finding>, RegistryError> {
        let ident = self
            .get(identity)
            .ok_or_else(|| RegistryError::UnknownIdentity(identity.clone()))?;
        let Some(domain) = ident.domain() else {
            return Ok(Vec::new());
        };
        let cx = Diagnosis {
            dns,
            config: self.config(),
            domain,
        };
        let tenant = self.tenant_records(&ident);
        let operator = self.operator_records(&ident);

        let mut dkim_findings = Vec::new();
        let mut cnames_ok = matches!(ident.dkim, Some(DkimSetup::Easy { .. }));
        for record in &tenant {
            match record.purpose {
                Purpose::DkimDelegation => {
                    let op = operator.iter().find(|o| same_name(&o.name, &record.value));
                    // The key behind this CNAME: found by its token (the first label of the
                    // target), among the three keys and the dual-signing Ed25519 key, so
                    // replicas (parent's zone) and dual CNAMEs are checked too.
                    let token = record.value.split('.').next().unwrap_or("");
                    let expected_p = match &ident.dkim {
                        Some(DkimSetup::Easy { keys, state }) => keys
                            .iter()
                            .chain(state.dual.as_ref().map(|d| &d.key))
                            .find(|k| k.token.as_str().eq_ignore_ascii_case(token))
                            .map(|k| k.key.public_key().to_base64()),
                        _ => None,
                    };
                    let ok = cx
                        .cname(
                            record,
                            op,
                            expected_p.as_deref().unwrap_or(""),
                            &mut dkim_findings,
                        )
                        .await;
                    cnames_ok &= ok;
                }
                Purpose::DkimKey => {
                    if let Some(DkimSetup::Byo { key, .. }) = &ident.dkim {
                        let p = key.public_key().to_base64();
                        cx.byo(record, &p, &mut dkim_findings).await;
                    }
                }
                Purpose::Verification => {}
            }
        }

        let mut findings = Vec::new();
        if let Some(record) = tenant.iter().find(|r| r.purpose == Purpose::Verification) {
            cx.verification(record, cnames_ok, &mut findings).await;
        }
        findings.extend(dkim_findings);
        Ok(findings)
    }
}

/// The value without any `"` or `\` and without surrounding whitespace: what the tenant
/// meant when a DNS panel kept the quotes they typed.
fn loosen(value: &str) -> String {
    value
        .chars()
        .filter(|c| *c != '"' && *c != '\\')
        .collect::<String>()
        .trim()
        .to_string()
}

/// A value for display, shortened when very long (keys).
fn show(value: &str) -> String {
    const MAX: usize = 100;
    if value.len() <= MAX {
        format!("{value:?}")
    } else {
        let mut cut = MAX - 20;
        while !value.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{:?}… ({} characters)", &value[..cut], value.len())
    }
}

fn show_values(values: &[String]) -> String {
    values
        .iter()
        .map(|v| show(v))
        .collect::<Vec<_>>()
        .join(", ")
}

fn expected_of(record: &DnsRecord) -> String {
    match record.record_type {
        RecordType::Txt => format!("TXT {} = {}", record.name, show(&record.value)),
        RecordType::Cname => format!("CNAME {} -> {}", record.name, record.value),
    }
}

fn dns_error_text(e: &DnsError) -> String {
    match e {
        DnsError::NoSuchName => "nothing at that name (NXDOMAIN)".into(),
        DnsError::NoRecords => "the name exists but has no record of that type".into(),
        DnsError::Transient(t) => format!("no answer ({t})"),
    }
}

/// The zones a DNS panel might have appended: the domain and each parent (never a TLD).
fn appended_names(name: &str, domain: &DomainName) -> Vec<(String, DomainName)> {
    domain
        .ancestors()
        .map(|zone| (format!("{name}.{zone}"), zone))
        .collect()
}

/// `name` relative to `zone` (`@` for the apex), as a DNS panel wants it.
fn relative(name: &str, zone: &DomainName) -> String {
    let probe = DnsRecord {
        record_type: RecordType::Txt,
        name: name.to_string(),
        value: String::new(),
        publisher: Publisher::Tenant,
        purpose: Purpose::Verification,
    };
    probe
        .relative_name(zone)
        .unwrap_or_else(|| name.to_string())
}

/// What a diagnosis looks at: one domain's records, through the caller's resolver. Its
/// methods, one file per record kind, each add the findings of one record.
struct Diagnosis<'a> {
    dns: &'a dyn DnsVerifier,
    config: &'a RegistryConfig,
    domain: &'a DomainName,
}

impl Diagnosis<'_> {
    fn server_error(&self, record: &DnsRecord, e: &DnsError) -> Finding {
        Finding::about(
            record,
            FindingKind::DnsServerError,
            dns_error_text(e),
            format!(
                "The DNS servers did not answer for {}; check that the zone's name servers \
                 work, then try again.",
                record.name
            ),
        )
    }
}

mod byo;
mod delegation;
#[cfg(test)]
mod tests;
mod verification;
