//! The Easy DKIM CNAMEs, and the operator-zone key each one points at.

use crate::dns::DnsError;

use super::*;
use crate::registry::records::DnsRecord;
use crate::registry::rules::{record_has_key, same_name};

impl Diagnosis<'_> {
    /// One Easy DKIM CNAME; returns whether `refresh` would accept it.
    pub(super) async fn cname(
        &self,
        record: &DnsRecord,
        operator: Option<&DnsRecord>,
        expected_p: &str,
        out: &mut Vec<Finding>,
    ) -> bool {
        let name = record.name.as_str();
        let target = record.value.as_str();
        let finding = |kind, found, fix| Finding::about(record, kind, found, fix);
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
        let finding = |kind, found, fix| Finding::about(op, kind, found, fix);
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
}
