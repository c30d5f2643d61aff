//! Switching an identity between Easy DKIM and bring-your-own-key.

use super::identity::DkimSetup;
use super::records::RecordChange;
use super::rotation::changes;
use super::status::Check;
use super::status::Event;
use super::status::IdentityName;
use super::status::VerificationInfo;
use super::status::VerificationStatus;
use super::IdentityRegistry;
use super::RegistryError;
use crate::key::SigningKey;
use crate::names::Selector;

impl IdentityRegistry {
    fn switch_method(
        &self,
        name: &IdentityName,
        setup: DkimSetup,
        now: u64,
    ) -> Result<Vec<RecordChange>, RegistryError> {
        let region = self.config.region.clone();
        let (out, event) = self.update(name, |cur| {
            if cur.domain().is_none() {
                return Err(RegistryError::NotADomain(name.clone()));
            }
            let Some(before) = &cur.dkim else {
                return Err(RegistryError::NoDkimSetup(name.clone()));
            };
            if std::mem::discriminant(before) == std::mem::discriminant(&setup) {
                return Err(RegistryError::SameMethod(name.clone()));
            }
            // A replica's records are its parent's: they stay.
            let before = before
                .easy_state()
                .map_or(Some(before), |s| s.replica_of.is_none().then_some(before));
            let out = changes(before, Some(&setup), None);
            let mut next = cur.clone();
            next.dkim = Some(setup);
            next.dkim_verification = VerificationInfo::new(VerificationStatus::Pending, now);
            let event = (cur.dkim_status() != VerificationStatus::Pending).then(|| Event {
                region,
                identity: name.clone(),
                check: Check::Dkim,
                from: cur.dkim_status(),
                to: VerificationStatus::Pending,
                at: now,
                last_error: None,
            });
            Ok((next, (out, event)))
        })?;
        self.queue(event.into_iter().collect());
        Ok(out)
    }

    /// Switches an Easy DKIM domain to bring-your-own-key. The new setup is Pending until
    /// `refresh` sees the tenant's TXT at `<selector>._domainkey.<domain>`; **in that gap
    /// mail is unsigned** and [`resolve`](Self::resolve) reports
    /// `DkimNotVerified { status: Pending }`. Returns the operator records to remove (none
    /// for a replica, whose records are its parent's; keep them while mail signed with
    /// them may be in flight). The DKIM transition is queued as an event.
    pub fn switch_to_byo(
        &self,
        identity: &str,
        selector: Selector,
        key: SigningKey,
        now: u64,
    ) -> Result<Vec<RecordChange>, RegistryError> {
        let name = IdentityName::parse(identity)?;
        self.switch_method(&name, DkimSetup::Byo { selector, key }, now)
    }

    /// Switches a bring-your-own-key domain to Easy DKIM with three new keys (of the
    /// configured spec). The tenant publishes the three CNAMEs of
    /// [`tenant_records`](Self::tenant_records), the operator the returned records. Pending
    /// until `refresh` sees the CNAMEs; **in that gap mail is unsigned** and
    /// [`resolve`](Self::resolve) reports `DkimNotVerified { status: Pending }`.
    pub fn switch_to_easy(
        &self,
        identity: &str,
        now: u64,
    ) -> Result<Vec<RecordChange>, RegistryError> {
        let name = IdentityName::parse(identity)?;
        // Check cheaply before generating keys.
        let current = self
            .get(&name)
            .ok_or_else(|| RegistryError::UnknownIdentity(name.clone()))?;
        match &current.dkim {
            _ if current.domain().is_none() => return Err(RegistryError::NotADomain(name)),
            None => return Err(RegistryError::NoDkimSetup(name)),
            Some(DkimSetup::Easy { .. }) => return Err(RegistryError::SameMethod(name)),
            Some(DkimSetup::Byo { .. }) => {}
        }
        let setup = self.new_easy_setup(self.new_easy_keys()?, now);
        self.switch_method(&name, setup, now)
    }
}
