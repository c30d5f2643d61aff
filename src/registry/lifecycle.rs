//! Creating identities and moving them through their life: create, add DKIM, confirm an
//! email address, enable or disable signing, restart, delete.

use super::identity::DkimSetup;
use super::identity::EasyKey;
use super::identity::Identity;
use super::identity::Token;
use super::secs;
use super::status::Check;
use super::status::Event;
use super::status::IdentityName;
use super::status::VerificationInfo;
use super::status::VerificationStatus;
use super::Change;
use super::DomainSetup;
use super::IdentityRegistry;
use super::RegistryError;
use crate::key::SigningKey;
use crate::names::DomainName;
use crate::names::EmailAddress;
use base64::Engine;
use std::sync::Arc;

impl IdentityRegistry {
    pub(crate) fn random_token(&self) -> Token {
        let mut b = [0u8; 20];
        self.config.token_source.fill(&mut b);
        Token::from_random(&b)
    }

    fn random_b64(&self, n: usize) -> String {
        let mut b = vec![0u8; n];
        self.config.token_source.fill(&mut b);
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    pub(crate) fn new_easy_keys(&self) -> Result<[EasyKey; 3], RegistryError> {
        let key = || -> Result<EasyKey, RegistryError> {
            Ok(EasyKey {
                token: self.random_token(),
                key: SigningKey::generate(self.config.key_spec)?,
            })
        };
        Ok([key()?, key()?, key()?])
    }

    pub(crate) fn new_easy_setup(&self, keys: [EasyKey; 3], now: u64) -> DkimSetup {
        DkimSetup::easy(
            keys,
            self.config.signing_zone.clone(),
            self.config.key_spec,
            now,
        )
    }

    fn dkim_from_setup(
        &self,
        setup: DomainSetup,
        now: u64,
    ) -> Result<Option<DkimSetup>, RegistryError> {
        Ok(match setup {
            DomainSetup::EasyDkim => Some(self.new_easy_setup(self.new_easy_keys()?, now)),
            DomainSetup::EasyDkimWith(keys) => {
                let keys: [EasyKey; 3] = keys
                    .try_into()
                    .map_err(|k: Vec<EasyKey>| RegistryError::WrongEasyKeyCount { got: k.len() })?;
                Some(self.new_easy_setup(keys, now))
            }
            DomainSetup::BringYourOwnKey { selector, key } => {
                Some(DkimSetup::Byo { selector, key })
            }
            DomainSetup::None => None,
        })
    }

    /// Creates a domain identity with Easy DKIM (three tokens, a key per token).
    ///
    /// This generates three keys of [`RegistryConfig::key_spec`](crate::RegistryConfig::key_spec): CPU-bound work that takes
    /// tens of milliseconds for RSA-2048 in an optimised build (several seconds for RSA in
    /// an unoptimised one; see [`SigningKey::generate`](crate::SigningKey::generate)). From
    /// async code, call it where blocking is allowed, for example inside
    /// `tokio::task::spawn_blocking`, not on an executor thread.
    pub fn create_domain(&self, domain: &str, now: u64) -> Result<Arc<Identity>, RegistryError> {
        self.create_domain_with(domain, DomainSetup::EasyDkim, now)
    }

    /// Creates a domain identity with the given DKIM setup.
    pub fn create_domain_with(
        &self,
        domain: &str,
        setup: DomainSetup,
        now: u64,
    ) -> Result<Arc<Identity>, RegistryError> {
        let domain = DomainName::parse(domain)?;
        let name = IdentityName::Domain(domain);
        if self.snapshot().identities.contains_key(&name) {
            return Err(RegistryError::IdentityExists(name));
        }
        let dkim = self.dkim_from_setup(setup, now)?;
        let dkim_status = if dkim.is_some() {
            VerificationStatus::Pending
        } else {
            VerificationStatus::NotStarted
        };
        self.insert_new(Identity {
            name,
            verification: VerificationInfo::new(VerificationStatus::Pending, now),
            verification_token: Some(self.random_b64(32)),
            confirmation: None,
            dkim,
            dkim_verification: VerificationInfo::new(dkim_status, now),
            signing_enabled: true,
            created_at: now,
            version: 1,
        })
    }

    /// Adds a DKIM setup to an existing domain identity that has none.
    pub fn add_dkim(
        &self,
        domain: &str,
        setup: DomainSetup,
        now: u64,
    ) -> Result<Arc<Identity>, RegistryError> {
        let name = IdentityName::Domain(DomainName::parse(domain)?);
        let dkim = self.dkim_from_setup(setup, now)?;
        self.update(&name, |cur| {
            if cur.dkim.is_some() {
                return Err(RegistryError::DkimAlreadySetUp(name.clone()));
            }
            let mut next = cur.clone();
            next.dkim = dkim;
            next.dkim_verification = VerificationInfo::new(VerificationStatus::Pending, now);
            Ok((next, ()))
        })?;
        self.get(&name).ok_or(RegistryError::UnknownIdentity(name))
    }

    /// Creates an email identity; returns it and the confirmation token to mail to the
    /// address (confirm with [`confirm_email`](Self::confirm_email) within the lifetime).
    pub fn create_email(
        &self,
        address: &str,
        now: u64,
    ) -> Result<(Arc<Identity>, String), RegistryError> {
        let address = EmailAddress::parse(address)?;
        let token = self.random_b64(24).replace(['+', '/'], "-");
        let expires = now + secs(self.config.email_confirmation_lifetime);
        let identity = self.insert_new(Identity {
            name: IdentityName::Email(address),
            verification: VerificationInfo::new(VerificationStatus::Pending, now),
            verification_token: None,
            confirmation: Some((token.clone(), expires)),
            dkim: None,
            dkim_verification: VerificationInfo::new(VerificationStatus::NotStarted, now),
            signing_enabled: true,
            created_at: now,
            version: 1,
        })?;
        Ok((identity, token))
    }

    /// Confirms an email identity with the token mailed to it.
    pub fn confirm_email(
        &self,
        address: &str,
        token: &str,
        now: u64,
    ) -> Result<Event, RegistryError> {
        let name = IdentityName::Email(EmailAddress::parse(address)?);
        let region = self.config.region.clone();
        let event = self.update(&name, |cur| {
            let (expected, expires) = cur
                .confirmation
                .as_ref()
                .ok_or_else(|| RegistryError::NotAnEmail(name.clone()))?;
            let expired = RegistryError::ConfirmationExpired {
                identity: name.clone(),
                expired_at: *expires,
            };
            match cur.verification.status {
                // Also once `refresh` has marked it Failed for that: say so, not "not pending".
                VerificationStatus::Pending | VerificationStatus::Failed if now >= *expires => {
                    return Err(expired)
                }
                VerificationStatus::Pending => {}
                status => {
                    return Err(RegistryError::NotPending {
                        identity: name.clone(),
                        status,
                    })
                }
            }
            if !constant_time_eq(expected.as_bytes(), token.as_bytes()) {
                return Err(RegistryError::WrongToken(name.clone()));
            }
            let mut next = cur.clone();
            next.verification.status = VerificationStatus::Success;
            next.verification.last_checked = Some(now);
            next.verification.last_success = Some(now);
            next.verification.last_error = None;
            let event = Event {
                region,
                identity: name.clone(),
                check: Check::Identity,
                from: VerificationStatus::Pending,
                to: VerificationStatus::Success,
                at: now,
                last_error: None,
            };
            Ok((next, event))
        })?;
        self.queue(vec![event.clone()]);
        Ok(event)
    }

    pub(crate) fn queue(&self, events: Vec<Event>) {
        events.iter().for_each(super::observe::transition);
        crate::sync::lock(&self.queued).extend(events);
    }

    /// Hands the transitions made by synchronous calls ([`confirm_email`](Self::confirm_email),
    /// [`restart`](Self::restart)) to the notifier now; `refresh` does it too.
    pub async fn flush_notifications(&self) {
        let events = std::mem::take(&mut *crate::sync::lock(&self.queued));
        let notifier = crate::sync::read(&self.notifier).clone();
        if let Some(n) = notifier {
            for e in &events {
                n.notify(e).await;
            }
        }
    }

    /// Turns DKIM signing on or off for an identity (it stops the precedence walk when off).
    pub fn set_signing_enabled(&self, identity: &str, enabled: bool) -> Result<(), RegistryError> {
        let name = IdentityName::parse(identity)?;
        self.update(&name, |cur| {
            let mut next = cur.clone();
            next.signing_enabled = enabled;
            Ok((next, ()))
        })
    }

    /// Restarts a Failed verification (identity and/or DKIM): same tokens, new window.
    /// Returns the Failed -> Pending transitions (also queued for the notifier).
    pub fn restart(&self, identity: &str, now: u64) -> Result<Vec<Event>, RegistryError> {
        let name = IdentityName::parse(identity)?;
        let region = self.config.region.clone();
        let events = self.update(&name, |cur| {
            let failed = |i: &VerificationInfo| i.status == VerificationStatus::Failed;
            if !failed(&cur.verification) && !failed(&cur.dkim_verification) {
                return Err(RegistryError::NotFailed {
                    identity: name.clone(),
                    status: cur.verification.status,
                });
            }
            let mut next = cur.clone();
            if failed(&cur.verification) {
                next.verification = VerificationInfo::new(VerificationStatus::Pending, now);
                if let Some((_, expires)) = next.confirmation.as_mut() {
                    *expires = now + secs(self.config.email_confirmation_lifetime);
                }
            }
            if failed(&cur.dkim_verification) {
                next.dkim_verification = VerificationInfo::new(VerificationStatus::Pending, now);
                if let Some(DkimSetup::Easy { state, .. }) = next.dkim.as_mut() {
                    if let Some(dual) = state.dual.as_mut().filter(|d| failed(&d.verification)) {
                        dual.verification = VerificationInfo::new(VerificationStatus::Pending, now);
                    }
                }
            }
            let mut events = Vec::new();
            for (check, before) in [
                (Check::Identity, &cur.verification),
                (Check::Dkim, &cur.dkim_verification),
            ] {
                if failed(before) {
                    events.push(Event {
                        region: region.clone(),
                        identity: name.clone(),
                        check,
                        from: VerificationStatus::Failed,
                        to: VerificationStatus::Pending,
                        at: now,
                        last_error: None,
                    });
                }
            }
            Ok((next, events))
        })?;
        self.queue(events.clone());
        Ok(events)
    }

    /// Deletes an identity.
    pub fn delete(&self, identity: &str) -> Result<(), RegistryError> {
        let name = IdentityName::parse(identity)?;
        let mut guard = crate::sync::write(&self.state);
        if !guard.identities.contains_key(&name) {
            return Err(RegistryError::UnknownIdentity(name));
        }
        self.apply_change(Arc::make_mut(&mut guard), Change::Delete(name));
        Ok(())
    }
}

/// Compares two tokens in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
