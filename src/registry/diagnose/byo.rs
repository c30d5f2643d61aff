//! A bring-your-own-key TXT at `<selector>._domainkey.<domain>`.

use crate::dns::DnsError;

use super::*;
use crate::registry::records::DnsRecord;
use crate::registry::rules::record_has_key;

impl Diagnosis<'_> {
    /// A bring-your-own-key TXT.
    pub(super) async fn byo(&self, record: &DnsRecord, expected_p: &str, out: &mut Vec<Finding>) {
        let name = record.name.as_str();
        let finding = |kind, found, fix| Finding::about(record, kind, found, fix);
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
}
