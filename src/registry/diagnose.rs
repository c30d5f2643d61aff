//! Setup diagnostics: what a tenant (or the operator) got wrong in DNS, and how to fix it.

use std::fmt;

use crate::dns::{DnsError, DnsVerifier};
use crate::key_record::KeyRecord;
use crate::names::DomainName;

use super::records::{DnsRecord, Publisher, Purpose, RecordType};
use super::rules::{holds_token, record_has_key, same_name};
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
        let cx = Cx {
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

struct Cx<'a> {
    dns: &'a dyn DnsVerifier,
    config: &'a RegistryConfig,
    domain: &'a DomainName,
}

impl Cx<'_> {
    /// The verification TXT (at `<label>.<d>` or at `<d>`).
    async fn verification(&self, record: &DnsRecord, cnames_ok: bool, out: &mut Vec<Finding>) {
        let token = record.value.as_str();
        let finding = |kind, found: String, fix: String| Finding {
            kind,
            record: Some(record.clone()),
            expected: expected_of(record),
            found,
            fix,
        };
        let labelled = self.dns.txt(&record.name).await;
        let apex = self.dns.txt(self.domain.as_str()).await;
        let mut transient = None;
        for (name, result) in [(&record.name, &labelled), (&self.domain.to_string(), &apex)] {
            match result {
                Ok(values) => {
                    if let Some(v) = values.iter().find(|v| holds_token(self.config, v, token)) {
                        if v.trim() != v.as_str() {
                            out.push(finding(
                                FindingKind::ExtraQuotesOrWhitespace,
                                format!("TXT {name} = {}", show(v)),
                                format!(
                                    "Edit the TXT record at {name} so that its value is exactly \
                                     {token} with no spaces around it (easydkim tolerates them, \
                                     other checks may not)."
                                ),
                            ));
                        }
                        return;
                    }
                    if let Some(v) = values
                        .iter()
                        .find(|v| holds_token(self.config, &loosen(v), token))
                    {
                        out.push(finding(
                            FindingKind::ExtraQuotesOrWhitespace,
                            format!("TXT {name} = {}", show(v)),
                            format!(
                                "Edit the TXT record at {name} so that its value is exactly \
                                 {token}: remove the quotes and spaces around it (if your DNS \
                                 host adds quotes itself, enter the value without any)."
                            ),
                        ));
                        return;
                    }
                }
                Err(e @ DnsError::Transient(_)) => transient = Some(e.clone()),
                Err(_) => {}
            }
        }

        // Not at the right names: look where panels put it by mistake.
        let label = self.config.verification_label.as_str();
        let mut misplaced: Vec<(String, FindingKind, String)> = Vec::new();
        for (name, zone) in appended_names(&record.name, self.domain)
            .into_iter()
            .chain(appended_names(self.domain.as_str(), self.domain))
        {
            let rel = relative(&record.name, &zone);
            misplaced.push((
                name.clone(),
                FindingKind::ZoneAppendedTwice,
                format!(
                    "Your DNS host adds {zone} to the names you enter: delete the TXT record at \
                     {name} and create it with the name {rel} instead of the full name."
                ),
            ));
        }
        let bare = label.trim_start_matches('_');
        if bare != label && !bare.is_empty() {
            let name = format!("{bare}.{}", self.domain);
            misplaced.push((
                name.clone(),
                FindingKind::VerificationRecordMisplaced,
                format!(
                    "The TXT record is at {name}, without the leading underscore: move it to \
                     {}. If your DNS host refuses underscores, publish the same value at {} \
                     itself, which is accepted too.",
                    record.name, self.domain
                ),
            ));
        }
        for parent in self.domain.ancestors().skip(1) {
            let name = format!("{label}.{parent}");
            misplaced.push((
                name.clone(),
                FindingKind::VerificationRecordMisplaced,
                format!(
                    "The TXT record is at {name}, under the parent domain {parent}: move it to \
                     {} (each domain is verified on its own name).",
                    record.name
                ),
            ));
        }
        for (name, kind, fix) in misplaced {
            if let Ok(values) = self.dns.txt(&name).await {
                if let Some(v) = values
                    .iter()
                    .find(|v| holds_token(self.config, &loosen(v), token))
                {
                    out.push(finding(kind, format!("TXT {name} = {}", show(v)), fix));
                    return;
                }
            }
        }

        // A CNAME where the TXT belongs?
        if let Some(targets) = self
            .dns
            .cname(&record.name)
            .await
            .ok()
            .filter(|t| !t.is_empty())
        {
            out.push(finding(
                FindingKind::WrongRecordType,
                format!("CNAME {} -> {}", record.name, targets.join(", ")),
                format!(
                    "Delete the CNAME record at {} and create a TXT record there with the \
                     value {token}.",
                    record.name
                ),
            ));
            return;
        }
        match labelled {
            Ok(values) => out.push(finding(
                FindingKind::WrongValue,
                format!("TXT {} = {}", record.name, show_values(&values)),
                format!(
                    "Replace the value of the TXT record at {} with {token} (the value there \
                     is from another or an earlier setup).",
                    record.name
                ),
            )),
            Err(_) if transient.is_some() => {
                let e = transient.unwrap_or(DnsError::NoRecords);
                out.push(finding(
                    FindingKind::DnsServerError,
                    dns_error_text(&e),
                    "The domain's DNS servers did not answer; check that they work, then try \
                     again."
                        .into(),
                ));
            }
            // Verified through the Easy DKIM CNAMEs: the TXT is optional.
            Err(_) if cnames_ok => {}
            Err(e) => out.push(finding(
                FindingKind::Missing,
                dns_error_text(&e),
                format!("Publish the TXT record: {}", record.zone_line()),
            )),
        }
    }

    /// One Easy DKIM CNAME; returns whether `refresh` would accept it.
    async fn cname(
        &self,
        record: &DnsRecord,
        operator: Option<&DnsRecord>,
        expected_p: &str,
        out: &mut Vec<Finding>,
    ) -> bool {
        let name = record.name.as_str();
        let target = record.value.as_str();
        let finding = |kind, found: String, fix: String| Finding {
            kind,
            record: Some(record.clone()),
            expected: expected_of(record),
            found,
            fix,
        };
        let answer = match self.dns.cname(name).await {
            // An implementation that answers "no targets" means NODATA.
            Ok(targets) if targets.is_empty() => Err(DnsError::NoRecords),
            other => other,
        };
        match answer {
            Ok(targets) if targets.iter().any(|t| same_name(t, target)) => {
                self.operator_key(record, operator, expected_p, out).await;
                true
            }
            Ok(targets) => {
                let found_target = targets
                    .first()
                    .map(|t| t.trim_end_matches('.').to_ascii_lowercase())
                    .unwrap_or_default();
                let found = format!("CNAME {name} -> {}", targets.join(", "));
                let token = target.split('.').next().unwrap_or("");
                let (found_first, found_zone) =
                    found_target.split_once('.').unwrap_or((&found_target, ""));
                if found_target.starts_with(&format!("{}.", target.to_ascii_lowercase())) {
                    out.push(finding(
                        FindingKind::ZoneAppendedTwice,
                        found,
                        format!(
                            "Your DNS host completed the CNAME target with your own zone: \
                             enter the target as {target}. (with the trailing dot) so that the \
                             CNAME points at {target} exactly."
                        ),
                    ));
                } else if found_first.eq_ignore_ascii_case(token) {
                    out.push(finding(
                        FindingKind::CnameOtherZone,
                        found,
                        format!(
                            "The CNAME at {name} points at another zone ({found_zone}, for \
                             example another region's setup): change its target to {target}."
                        ),
                    ));
                } else {
                    out.push(finding(
                        FindingKind::CnameTargetMisspelt,
                        found,
                        format!(
                            "Change the target of the CNAME at {name} to {target} (it points \
                             at {found_target}; copy the value rather than typing it)."
                        ),
                    ));
                }
                false
            }
            Err(DnsError::NoRecords) => match self.dns.txt(name).await {
                // A DNS host that flattens the CNAME: fine when the key is the right one.
                Ok(values) if values.iter().any(|v| record_has_key(v, expected_p)) => true,
                Ok(values) => {
                    out.push(finding(
                        FindingKind::WrongRecordType,
                        format!("TXT {name} = {}", show_values(&values)),
                        format!(
                            "Delete the TXT record at {name} and create a CNAME record {name} \
                             pointing at {target}: with a CNAME, key rotations need no change \
                             on your side."
                        ),
                    ));
                    false
                }
                Err(e @ DnsError::Transient(_)) => {
                    out.push(self.server_error(record, &e));
                    false
                }
                Err(e) => {
                    out.push(finding(
                        FindingKind::Missing,
                        format!("{name} has no CNAME (and no TXT): {}", dns_error_text(&e)),
                        format!("Publish the CNAME record: {}", record.zone_line()),
                    ));
                    false
                }
            },
            Err(DnsError::NoSuchName) => {
                for (wrong, zone) in appended_names(name, self.domain) {
                    if let Some(targets) =
                        self.dns.cname(&wrong).await.ok().filter(|t| !t.is_empty())
                    {
                        let rel = relative(name, &zone);
                        out.push(finding(
                            FindingKind::ZoneAppendedTwice,
                            format!("CNAME {wrong} -> {}", targets.join(", ")),
                            format!(
                                "Your DNS host adds {zone} to the names you enter: delete the \
                                 CNAME at {wrong} and create it with the name {rel} instead of \
                                 the full name."
                            ),
                        ));
                        return false;
                    }
                }
                out.push(finding(
                    FindingKind::Missing,
                    dns_error_text(&DnsError::NoSuchName),
                    format!("Publish the CNAME record: {}", record.zone_line()),
                ));
                false
            }
            Err(e) => {
                out.push(self.server_error(record, &e));
                false
            }
        }
    }

    /// The operator-zone key behind a correct CNAME.
    async fn operator_key(
        &self,
        tenant: &DnsRecord,
        operator: Option<&DnsRecord>,
        expected_p: &str,
        out: &mut Vec<Finding>,
    ) {
        let Some(op) = operator else { return };
        let finding = |kind, found: String, fix: String| Finding {
            kind,
            record: Some(op.clone()),
            expected: expected_of(op),
            found,
            fix,
        };
        let publish = format!(
            "The CNAME {} is correct; the operator must publish its key record in the signing \
             zone (operator_records for this identity): {}",
            tenant.name,
            op.zone_line()
        );
        match self.dns.txt(&op.name).await {
            Ok(values) if values.iter().any(|v| record_has_key(v, expected_p)) => {}
            Ok(values)
                if values
                    .iter()
                    .any(|v| record_has_key(&loosen(v), expected_p)) =>
            {
                out.push(finding(
                    FindingKind::ExtraQuotesOrWhitespace,
                    format!("TXT {} = {}", op.name, show_values(&values)),
                    format!(
                        "The operator's key record at {} is wrapped in quotes; republish it \
                         exactly as: {}",
                        op.name,
                        op.zone_line()
                    ),
                ));
            }
            Ok(values) => out.push(finding(
                FindingKind::StaleOperatorKey,
                format!(
                    "TXT {} = {} (another key than the one on file)",
                    op.name,
                    show_values(&values)
                ),
                publish,
            )),
            Err(e @ DnsError::Transient(_)) => out.push(self.server_error(op, &e)),
            Err(e) => out.push(finding(
                FindingKind::StaleOperatorKey,
                format!("no key record at {}: {}", op.name, dns_error_text(&e)),
                publish,
            )),
        }
    }

    /// A bring-your-own-key TXT.
    async fn byo(&self, record: &DnsRecord, expected_p: &str, out: &mut Vec<Finding>) {
        let name = record.name.as_str();
        let finding = |kind, found: String, fix: String| Finding {
            kind,
            record: Some(record.clone()),
            expected: expected_of(record),
            found,
            fix,
        };
        match self.dns.txt(name).await {
            Ok(values) if values.iter().any(|v| record_has_key(v, expected_p)) => {}
            Ok(values)
                if values
                    .iter()
                    .any(|v| record_has_key(&loosen(v), expected_p)) =>
            {
                out.push(finding(
                    FindingKind::ExtraQuotesOrWhitespace,
                    format!("TXT {name} = {}", show_values(&values)),
                    format!(
                        "Edit the TXT record at {name}: remove the quotes typed into the value \
                         (if your DNS host adds quotes itself, enter the value without any): {}",
                        record.value
                    ),
                ));
            }
            Ok(values) => {
                let via = match self.dns.cname(name).await {
                    Ok(t) => format!(" (through CNAME -> {})", t.join(", ")),
                    Err(_) => String::new(),
                };
                let keys: Vec<String> = values
                    .iter()
                    .map(|v| match KeyRecord::parse(v) {
                        Ok(KeyRecord { key: Some(k), .. }) => format!("p={}", show(&k.to_base64())),
                        Ok(_) => "an empty (revoked) p=".to_string(),
                        Err(_) => show(v),
                    })
                    .collect();
                out.push(finding(
                    FindingKind::ByoKeyMismatch,
                    format!("TXT {name}{via}: {}", keys.join(", ")),
                    format!(
                        "The published key is not the public half of the private key on file \
                         (an old or another key). Replace the TXT record at {name} with: {}",
                        record.value
                    ),
                ));
            }
            Err(e @ DnsError::Transient(_)) => out.push(self.server_error(record, &e)),
            Err(e) => {
                if let Some(targets) = self.dns.cname(name).await.ok().filter(|t| !t.is_empty()) {
                    out.push(finding(
                        FindingKind::WrongRecordType,
                        format!("CNAME {name} -> {} (no key there)", targets.join(", ")),
                        format!(
                            "Delete the CNAME record at {name} and create a TXT record with \
                             the value: {}",
                            record.value
                        ),
                    ));
                    return;
                }
                for (wrong, zone) in appended_names(name, self.domain) {
                    if let Ok(values) = self.dns.txt(&wrong).await {
                        if values
                            .iter()
                            .any(|v| record_has_key(&loosen(v), expected_p))
                        {
                            let rel = relative(name, &zone);
                            out.push(finding(
                                FindingKind::ZoneAppendedTwice,
                                format!("TXT {wrong} = {}", show_values(&values)),
                                format!(
                                    "Your DNS host adds {zone} to the names you enter: delete \
                                     the TXT record at {wrong} and create it with the name \
                                     {rel} instead of the full name."
                                ),
                            ));
                            return;
                        }
                    }
                }
                out.push(finding(
                    FindingKind::Missing,
                    dns_error_text(&e),
                    format!("Publish the TXT record: {}", record.zone_line()),
                ));
            }
        }
    }

    fn server_error(&self, record: &DnsRecord, e: &DnsError) -> Finding {
        Finding {
            kind: FindingKind::DnsServerError,
            record: Some(record.clone()),
            expected: expected_of(record),
            found: dns_error_text(e),
            fix: format!(
                "The DNS servers did not answer for {}; check that the zone's name servers \
                 work, then try again.",
                record.name
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::StaticDns;
    use crate::key::{KeySpec, SigningKey};
    use crate::names::Selector;
    use crate::registry::{DomainSetup, Identity, RegistryConfig};
    use std::sync::Arc;

    const ZONE: &str = "dkim.mail.example.net";

    fn registry() -> IdentityRegistry {
        let mut config = RegistryConfig::new("eu-west-1", ZONE).unwrap();
        config.key_spec = KeySpec::Ed25519;
        IdentityRegistry::new(config)
    }

    fn publish(dns: &StaticDns, records: &[DnsRecord]) {
        for r in records {
            match r.record_type {
                RecordType::Txt => dns.add_txt(&r.name, &r.value),
                RecordType::Cname => dns.add_cname(&r.name, &r.value),
            }
        }
    }

    /// An Easy DKIM identity for `domain` with every record published correctly.
    fn easy(domain: &str) -> (IdentityRegistry, Arc<Identity>, StaticDns) {
        let reg = registry();
        let id = reg.create_domain(domain, 0).unwrap();
        let dns = StaticDns::new();
        publish(&dns, &reg.tenant_records(&id));
        publish(&dns, &reg.operator_records(&id));
        (reg, id, dns)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn diagnose(reg: &IdentityRegistry, id: &Identity, dns: &StaticDns) -> Vec<Finding> {
        block_on(reg.diagnose(&id.name, dns)).unwrap()
    }

    fn kinds(findings: &[Finding]) -> Vec<FindingKind> {
        findings.iter().map(|f| f.kind).collect()
    }

    fn record(reg: &IdentityRegistry, id: &Identity, purpose: Purpose, n: usize) -> DnsRecord {
        reg.tenant_records(id)
            .into_iter()
            .filter(|r| r.purpose == purpose)
            .nth(n)
            .unwrap()
    }

    #[test]
    fn diagnose_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let (reg, id, dns) = easy("example.com");
        let fut = reg.diagnose(&id.name, &dns);
        assert_send(&fut);
        assert_eq!(block_on(fut), Ok(vec![]));
    }

    #[test]
    fn diagnose_correct_setup_has_no_findings() {
        let (reg, id, dns) = easy("example.com");
        assert_eq!(diagnose(&reg, &id, &dns), vec![]);
        // Verified through the CNAMEs alone: the TXT is optional.
        dns.remove(&record(&reg, &id, Purpose::Verification, 0).name);
        assert_eq!(diagnose(&reg, &id, &dns), vec![]);
        // Flattened CNAMEs carrying the right key are fine too.
        let (reg, id, dns) = easy("example.org");
        for (t, o) in reg
            .tenant_records(&id)
            .iter()
            .skip(1)
            .zip(reg.operator_records(&id))
        {
            dns.remove(&t.name);
            dns.add_txt(&t.name, &o.value);
        }
        assert_eq!(diagnose(&reg, &id, &dns), vec![]);
        // Email identities have no records; unknown identities are an error.
        let (_, _) = reg.create_email("alice@example.org", 0).unwrap();
        let email = IdentityName::parse("alice@example.org").unwrap();
        assert_eq!(block_on(reg.diagnose(&email, &dns)).unwrap(), vec![]);
        let unknown = IdentityName::parse("nowhere.example").unwrap();
        assert!(matches!(
            block_on(reg.diagnose(&unknown, &dns)),
            Err(RegistryError::UnknownIdentity(_))
        ));
    }

    #[test]
    fn diagnose_zone_appended_twice() {
        let (reg, id, dns) = easy("example.com");
        dns.clear();
        publish(&dns, &reg.operator_records(&id));
        for r in reg.tenant_records(&id) {
            let wrong = DnsRecord {
                name: format!("{}.example.com", r.name),
                ..r
            };
            publish(&dns, &[wrong]);
        }
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(kinds(&f), vec![FindingKind::ZoneAppendedTwice; 4]);
        assert!(f[0].found.contains("_easydkim.example.com.example.com"));
        assert!(f[0].fix.contains("_easydkim"), "{}", f[0].fix);
        assert_eq!(f[0].record.as_ref().unwrap().purpose, Purpose::Verification);
        let cname = record(&reg, &id, Purpose::DkimDelegation, 0);
        assert!(f[1].fix.contains(&cname.name.replace(".example.com", "")));

        // The CNAME target completed with the tenant's zone.
        let (reg, id, dns) = easy("example.com");
        let cname = record(&reg, &id, Purpose::DkimDelegation, 1);
        dns.add_cname(&cname.name, &format!("{}.example.com", cname.value));
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(kinds(&f), vec![FindingKind::ZoneAppendedTwice]);
        assert!(f[0].fix.contains(&format!("{}.", cname.value)));

        // Subdomain identity in the parent's zone: news.example.com.example.com.
        let reg = registry();
        let id = reg
            .create_domain_with("news.example.com", DomainSetup::None, 0)
            .unwrap();
        let dns = StaticDns::new();
        let v = record(&reg, &id, Purpose::Verification, 0);
        dns.add_txt(&format!("{}.example.com", v.name), &v.value);
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(kinds(&f), vec![FindingKind::ZoneAppendedTwice]);
        assert!(f[0].fix.contains("_easydkim.news"), "{}", f[0].fix);
    }

    #[test]
    fn diagnose_wrong_record_type() {
        // TXT (wrong key) where a CNAME is expected.
        let (reg, id, dns) = easy("example.com");
        let cname = record(&reg, &id, Purpose::DkimDelegation, 0);
        dns.remove(&cname.name);
        let other = SigningKey::generate(KeySpec::Ed25519).unwrap();
        dns.add_txt(&cname.name, &other.dns_record());
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(kinds(&f), vec![FindingKind::WrongRecordType]);
        assert!(f[0].found.starts_with("TXT "));
        assert!(f[0].fix.contains("CNAME"));

        // CNAME where the verification TXT is expected.
        let reg = registry();
        let id = reg
            .create_domain_with("example.org", DomainSetup::None, 0)
            .unwrap();
        let dns = StaticDns::new();
        let v = record(&reg, &id, Purpose::Verification, 0);
        dns.add_cname(&v.name, "verify.dnshost.example");
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(kinds(&f), vec![FindingKind::WrongRecordType]);
        assert!(f[0].found.starts_with("CNAME "));

        // CNAME where the bring-your-own-key TXT is expected.
        let key = SigningKey::generate(KeySpec::Ed25519).unwrap();
        let id = reg
            .create_domain_with(
                "example.net",
                DomainSetup::BringYourOwnKey {
                    selector: Selector::parse("s1").unwrap(),
                    key,
                },
                0,
            )
            .unwrap();
        let v = record(&reg, &id, Purpose::Verification, 0);
        dns.add_txt(&v.name, &v.value);
        dns.add_cname("s1._domainkey.example.net", "s1.keys.dnshost.example");
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(kinds(&f), vec![FindingKind::WrongRecordType]);
    }

    #[test]
    fn diagnose_cname_misspelt_or_other_zone() {
        let (reg, id, dns) = easy("example.com");
        let c0 = record(&reg, &id, Purpose::DkimDelegation, 0);
        let c1 = record(&reg, &id, Purpose::DkimDelegation, 1);
        let token0 = c0.value.split('.').next().unwrap().to_string();
        let mut typo = token0.clone();
        typo.replace_range(0..1, if typo.starts_with('a') { "b" } else { "a" });
        dns.add_cname(&c0.name, &format!("{typo}.{ZONE}"));
        let token1 = c1.value.split('.').next().unwrap();
        dns.add_cname(&c1.name, &format!("{token1}.dkim.us-east-1.example.net"));
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(
            kinds(&f),
            vec![
                FindingKind::CnameTargetMisspelt,
                FindingKind::CnameOtherZone
            ]
        );
        assert!(f[0].fix.contains(&c0.value));
        assert!(f[1].fix.contains("another zone"));
        assert!(f[1].fix.contains("dkim.us-east-1.example.net"));
    }

    #[test]
    fn diagnose_verification_misplaced() {
        let reg = registry();
        let id = reg
            .create_domain_with("example.com", DomainSetup::None, 0)
            .unwrap();
        let v = record(&reg, &id, Purpose::Verification, 0);
        let dns = StaticDns::new();
        dns.add_txt("easydkim.example.com", &v.value);
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(kinds(&f), vec![FindingKind::VerificationRecordMisplaced]);
        assert!(f[0].fix.contains("underscore"));

        // A subdomain's token published at the parent domain.
        let id = reg
            .create_domain_with("news.example.com", DomainSetup::None, 0)
            .unwrap();
        let v = record(&reg, &id, Purpose::Verification, 0);
        dns.add_txt("_easydkim.example.com", &v.value);
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(kinds(&f), vec![FindingKind::VerificationRecordMisplaced]);
        assert!(f[0].fix.contains("parent"));

        // The apex form (for hosts refusing underscores) and the prefix are accepted.
        let id = reg
            .create_domain_with("example.org", DomainSetup::None, 0)
            .unwrap();
        let v = record(&reg, &id, Purpose::Verification, 0);
        dns.add_txt("example.org", "v=spf1 -all");
        dns.add_txt("example.org", &format!("easydkim:{}", v.value));
        assert_eq!(diagnose(&reg, &id, &dns), vec![]);
    }

    #[test]
    fn diagnose_quotes_and_whitespace() {
        let reg = registry();
        let id = reg
            .create_domain_with("example.com", DomainSetup::None, 0)
            .unwrap();
        let v = record(&reg, &id, Purpose::Verification, 0);
        let dns = StaticDns::new();
        dns.add_txt(&v.name, &format!("\"{}\"", v.value));
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(kinds(&f), vec![FindingKind::ExtraQuotesOrWhitespace]);
        assert!(f[0].fix.contains("quotes"));

        dns.clear();
        dns.add_txt(&v.name, &format!(" {} ", v.value));
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(kinds(&f), vec![FindingKind::ExtraQuotesOrWhitespace]);

        // A quoted BYO key record.
        let key = SigningKey::generate(KeySpec::Ed25519).unwrap();
        let rec = key.dns_record();
        let id = reg
            .create_domain_with(
                "example.net",
                DomainSetup::BringYourOwnKey {
                    selector: Selector::parse("s1").unwrap(),
                    key,
                },
                0,
            )
            .unwrap();
        let v = record(&reg, &id, Purpose::Verification, 0);
        dns.add_txt(&v.name, &v.value);
        dns.add_txt("s1._domainkey.example.net", &format!("\\\"{rec}\\\""));
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(kinds(&f), vec![FindingKind::ExtraQuotesOrWhitespace]);
    }

    #[test]
    fn diagnose_stale_operator_key() {
        // Missing behind a correct CNAME.
        let (reg, id, dns) = easy("example.com");
        let ops = reg.operator_records(&id);
        dns.remove(&ops[0].name);
        // A different key behind another.
        dns.remove(&ops[2].name);
        let other = SigningKey::generate(KeySpec::Ed25519).unwrap();
        dns.add_txt(&ops[2].name, &other.dns_record());
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(
            kinds(&f),
            vec![FindingKind::StaleOperatorKey, FindingKind::StaleOperatorKey]
        );
        assert_eq!(f[0].record.as_ref(), Some(&ops[0]));
        assert_eq!(f[1].record.as_ref(), Some(&ops[2]));
        assert!(f[0].fix.contains("operator_records"));
        assert!(f[1].found.contains("another key"));
    }

    #[test]
    fn diagnose_byo_key_mismatch() {
        let reg = registry();
        let key = SigningKey::generate(KeySpec::Ed25519).unwrap();
        let id = reg
            .create_domain_with(
                "example.com",
                DomainSetup::BringYourOwnKey {
                    selector: Selector::parse("s1").unwrap(),
                    key,
                },
                0,
            )
            .unwrap();
        let dns = StaticDns::new();
        let v = record(&reg, &id, Purpose::Verification, 0);
        dns.add_txt(&v.name, &v.value);
        let old = SigningKey::generate(KeySpec::Ed25519).unwrap();
        dns.add_txt("s1._domainkey.example.com", &old.dns_record());
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(kinds(&f), vec![FindingKind::ByoKeyMismatch]);
        assert!(f[0].found.contains(&old.public_key().to_base64()[..10]));
        assert!(f[0]
            .fix
            .contains(&record(&reg, &id, Purpose::DkimKey, 0).value));
    }

    #[test]
    fn diagnose_missing_wrong_value_and_server_errors() {
        let (reg, id, dns) = easy("example.com");
        let v = record(&reg, &id, Purpose::Verification, 0);
        let c0 = record(&reg, &id, Purpose::DkimDelegation, 0);
        dns.remove(&c0.name);
        dns.remove(&v.name);
        dns.add_txt(&v.name, "an-old-token");
        let c2 = record(&reg, &id, Purpose::DkimDelegation, 2);
        dns.set_failure(&c2.name, DnsError::Transient("SERVFAIL".into()));
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(
            kinds(&f),
            vec![
                FindingKind::WrongValue,
                FindingKind::Missing,
                FindingKind::DnsServerError
            ]
        );
        // Nothing at all: the TXT is reported missing too (the CNAMEs do not verify).
        dns.clear();
        let f = diagnose(&reg, &id, &dns);
        assert_eq!(kinds(&f), vec![FindingKind::Missing; 4]);
        assert!(f.iter().all(|f| !f.to_string().is_empty()));
    }
}
