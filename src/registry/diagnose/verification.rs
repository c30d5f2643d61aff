//! The verification TXT: missing, misplaced by a DNS panel, quoted, of the wrong type or value.

use crate::dns::DnsError;

use super::*;
use crate::registry::records::DnsRecord;
use crate::registry::rules::holds_token;

impl Diagnosis<'_> {
    /// The verification TXT (at `<label>.<d>` or at `<d>`).
    pub(super) async fn verification(
        &self,
        record: &DnsRecord,
        cnames_ok: bool,
        out: &mut Vec<Finding>,
    ) {
        let token = record.value.as_str();
        let finding = |kind, found, fix| Finding::about(record, kind, found, fix);
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
}
