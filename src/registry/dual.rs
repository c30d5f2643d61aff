//! Dual signing: an extra Ed25519 key with its own token, CNAME and operator record,
//! signing beside the RSA key once its CNAME is seen.

use super::identity::DualKey;
use super::identity::EasyKey;
use super::records::key_record;
use super::records::RecordChange;
use super::rotation::easy_parts;
use super::rotation::easy_parts_mut;
use super::rotation::not_replica;
use super::status::IdentityName;
use super::status::VerificationInfo;
use super::status::VerificationStatus;
use super::IdentityRegistry;
use super::RegistryError;
use crate::key::KeySpec;
use crate::key::SigningKey;

impl IdentityRegistry {
    /// Turns on dual signing for an Easy DKIM domain: a new Ed25519 key on its own extra
    /// token. The tenant adds one CNAME (see [`tenant_records`](Self::tenant_records)), the
    /// operator publishes the returned record. The Ed25519 signature is added (next to the
    /// RSA one, over the same body pass) once that CNAME has been seen by `refresh`; from
    /// then on the DKIM check requires it too. Calling it again changes nothing.
    pub fn enable_dual_signing(
        &self,
        identity: &str,
        now: u64,
    ) -> Result<Vec<RecordChange>, RegistryError> {
        let name = IdentityName::parse(identity)?;
        let token = self.random_token();
        let key = SigningKey::generate(KeySpec::Ed25519)?;
        self.update_maybe(&name, |cur| {
            let (_, state) = easy_parts(cur)?;
            not_replica(cur, state)?;
            if let Some(d) = &state.dual {
                return Ok((
                    None,
                    vec![RecordChange::Keep(key_record(&state.signing_zone, &d.key))],
                ));
            }
            let mut next = cur.clone();
            let mut out = Vec::new();
            if let Some((_, st)) = easy_parts_mut(&mut next) {
                let dual = DualKey {
                    key: EasyKey { token, key },
                    generated_at: now,
                    verification: VerificationInfo::new(VerificationStatus::Pending, now),
                };
                out.push(RecordChange::Publish(key_record(
                    &st.signing_zone,
                    &dual.key,
                )));
                st.dual = Some(dual);
            }
            Ok((Some(next), out))
        })
    }

    /// Turns dual signing off: the Ed25519 signature stops at once; the returned change
    /// removes its operator record (keep it a little while for mail in flight). The tenant
    /// may remove the extra CNAME.
    pub fn disable_dual_signing(
        &self,
        identity: &str,
        _now: u64,
    ) -> Result<Vec<RecordChange>, RegistryError> {
        let name = IdentityName::parse(identity)?;
        self.update_maybe(&name, |cur| {
            let (_, state) = easy_parts(cur)?;
            not_replica(cur, state)?;
            let Some(d) = &state.dual else {
                return Ok((None, Vec::new()));
            };
            let out = vec![RecordChange::Remove(key_record(
                &state.signing_zone,
                &d.key,
            ))];
            let mut next = cur.clone();
            if let Some((_, st)) = easy_parts_mut(&mut next) {
                st.dual = None;
            }
            Ok((Some(next), out))
        })
    }
}
