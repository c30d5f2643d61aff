//! Key length: which spec the next generated key gets, and SES's rule on how often it
//! may change.

use super::identity::EasyState;
use super::rotation::easy_parts;
use super::rotation::easy_parts_mut;
use super::rotation::not_replica;
use super::status::IdentityName;
use super::IdentityRegistry;
use super::RegistryError;
use crate::key::KeySpec;

/// How often the next key spec may change (the first downgrade to RSA-1024 excepted).
pub const KEY_SPEC_CHANGE_INTERVAL: u64 = 24 * 3600;

impl IdentityRegistry {
    /// Sets the spec of the next key generated for an Easy DKIM domain, with Amazon SES's
    /// rules for changing the key length:
    ///
    /// - setting the spec already configured is refused
    ///   ([`RegistryError::KeySpecUnchanged`]; SES answers "invalid input");
    /// - a change is allowed at most once per [24 hours](KEY_SPEC_CHANGE_INTERVAL)
    ///   ([`RegistryError::KeySpecChangeTooSoon`] with the time to retry), except that the
    ///   first downgrade to RSA-1024 within any 24-hour period is always allowed (it still
    ///   counts as a change for the next one). Since leaving 1024 again takes 24 hours, every
    ///   downgrade to 1024 is the first of its period: a downgrade to 1024 is never refused
    ///   as too soon.
    ///
    /// # Timeline
    ///
    /// Nothing changes in DNS or in signing at the call: the spec applies to the next key
    /// *generated*, and signing moves to it one rotation later. With the defaults
    /// ([`RegistryConfig::rotation_age`](super::RegistryConfig::rotation_age) 180 days,
    /// [`RegistryConfig::rotation_overlap`](super::RegistryConfig::rotation_overlap)
    /// 7 days) and a spec set at `t`:
    ///
    /// 1. the next rotation step that switches keys (when the active key reaches the
    ///    rotation age, or a manual [`rotate`](Self::rotate)) makes the current next key
    ///    active; it still has the *old* spec, generated before `t`;
    /// 2. the old active key stays published as previous for the 7-day overlap, so mail in
    ///    flight verifies;
    /// 3. at the end of that overlap the freed token gets a fresh key of the *new* spec
    ///    ([`RotationStep::NextKeyGenerated`](crate::RotationStep::NextKeyGenerated) with `spec`; publish the returned record);
    /// 4. the rotation after that switches signing to it: the first mail signed with the
    ///    new spec is signed then.
    ///
    /// To sign with the new spec sooner, call `rotate` three times, publishing the
    /// returned changes each time: switch, then (after the overlap) generate, then switch
    /// once the new key's record is visible.
    pub fn set_next_key_spec(
        &self,
        identity: &str,
        spec: KeySpec,
        now: u64,
    ) -> Result<(), RegistryError> {
        let name = IdentityName::parse(identity)?;
        self.update_maybe(&name, |cur| {
            let (_, state) = easy_parts(cur)?;
            not_replica(cur, state)?;
            key_spec_change_allowed(&cur.name, state, spec, now)?;
            let mut next = cur.clone();
            if let Some((_, st)) = easy_parts_mut(&mut next) {
                st.next_key_spec = spec;
                st.key_spec_changed_at = Some(now);
            }
            Ok((Some(next), ()))
        })
    }
}

/// Whether two setups publish the same keys with the same roles and rotation state.
/// SES's key-length rules (see [`IdentityRegistry::set_next_key_spec`]).
fn key_spec_change_allowed(
    identity: &IdentityName,
    state: &EasyState,
    spec: KeySpec,
    now: u64,
) -> Result<(), RegistryError> {
    if spec == state.next_key_spec {
        return Err(RegistryError::KeySpecUnchanged {
            identity: identity.clone(),
            spec,
        });
    }
    // SES exempts the first downgrade to 1024 within a 24-hour period. A downgrade to 1024
    // is always the first of its period: after one, moving away from 1024 again is a
    // change that must wait 24 hours, so no second downgrade can follow within them.
    let exempt = spec == KeySpec::Rsa1024;
    match state.key_spec_changed_at {
        Some(at) if now < at.saturating_add(KEY_SPEC_CHANGE_INTERVAL) && !exempt => {
            Err(RegistryError::KeySpecChangeTooSoon {
                identity: identity.clone(),
                retry_at: at.saturating_add(KEY_SPEC_CHANGE_INTERVAL),
            })
        }
        _ => Ok(()),
    }
}
