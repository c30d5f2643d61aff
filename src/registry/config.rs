//! A region's settings: [`RegistryConfig`], and where token randomness comes from.

use super::RegistryError;
use crate::key::KeySpec;
use crate::names::DomainName;
use crate::signer::Profile;
use crate::signer::Signer;
use std::sync::Arc;
use std::time::Duration;

/// Where random bytes for tokens come from (the OS CSPRNG by default; inject a fixed
/// source to get reproducible tokens in tests).
pub trait TokenSource: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's CSPRNG.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsTokenSource;

impl TokenSource for OsTokenSource {
    fn fill(&self, buf: &mut [u8]) {
        // The OS random source failing is not recoverable: no token may be made without it.
        getrandom::fill(buf).expect("the operating system's random source");
    }
}

/// Settings of one region's registry. Build with [`RegistryConfig::new`] and adjust fields.
///
/// New Easy DKIM keys are RSA-2048 by default (today's SES default; RFC 8301 asks for at
/// least 1024 and recommends 2048). The original Easy DKIM setup, 1024-bit keys, is one
/// line:
///
/// ```
/// use easydkim::{KeySpec, RegistryConfig};
///
/// let mut config = RegistryConfig::new("eu-west-1", "dkim.mail.example.net")?;
/// config.key_spec = KeySpec::Rsa1024; // the original Easy DKIM: 1024-bit RSA keys
/// # Ok::<(), easydkim::RegistryError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// Region name, e.g. `eu-west-1` (validated by [`RegistryConfig::new`]; read with
    /// [`RegistryConfig::region`]).
    pub(crate) region: String,
    /// The operator's zone for key records, e.g. `dkim.mail.example.net`.
    pub signing_zone: DomainName,
    /// Label of the verification TXT (default `_easydkim`; see
    /// [`RegistryConfig::with_verification_record`]).
    pub(crate) verification_label: String,
    /// Prefix accepted on the verification TXT value (default `easydkim:`).
    pub(crate) verification_prefix: String,
    /// Spec of new Easy DKIM keys (default RSA-2048; RSA-1024 as in the original Easy DKIM).
    /// Each identity starts with it as its `next_key_spec`, which
    /// [`set_next_key_spec`](crate::IdentityRegistry::set_next_key_spec) changes.
    pub key_spec: KeySpec,
    /// How long records may take to appear before a setup fails (default 72 h).
    pub detection_window: Duration,
    /// How long signing continues after records vanish (default 72 h).
    pub grace_period: Duration,
    /// How long an email confirmation token is valid (default 24 h).
    pub email_confirmation_lifetime: Duration,
    /// Shape of tenant signatures (default [`Profile::Standard`]). With
    /// [`Profile::SesCompatible`] the operator signature takes SES's own shape too
    /// ([`Profile::SesOperator`]: the tenant's `h=` plus `Feedback-ID`).
    pub profile: Profile,
    /// A signature in the operator's own domain added to every message (like SES's
    /// `d=amazonses.com`), with whatever options the signer carries (its shape follows
    /// `profile` when that is `SesCompatible`).
    pub operator_signer: Option<Signer>,
    /// Source of randomness for tokens.
    pub token_source: Arc<dyn TokenSource>,
    /// How many identities `refresh` checks at once (default 64; each check makes up to
    /// five lookups, themselves concurrent).
    pub refresh_concurrency: usize,
    /// Time budget for one identity's checks (default 30 s); past it the check counts as a
    /// transient DNS error, which never fails a setup by itself.
    pub check_budget: Duration,
    /// With `auto_rotate`, `refresh` starts a key rotation once the active key has been
    /// signing this long (default 180 days).
    pub rotation_age: Duration,
    /// How long the former active key stays published, unchanged, after a switch before
    /// the freed token gets a fresh key (default 7 days).
    pub rotation_overlap: Duration,
    /// Whether `refresh` starts rotations by age and advances started ones (default true).
    /// Without it, only [`rotate`](crate::IdentityRegistry::rotate) moves a rotation.
    pub auto_rotate: bool,
}

impl std::fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryConfig")
            .field("region", &self.region)
            .field("signing_zone", &self.signing_zone)
            .field("verification_label", &self.verification_label)
            .field("verification_prefix", &self.verification_prefix)
            .field("key_spec", &self.key_spec)
            .field("detection_window", &self.detection_window)
            .field("grace_period", &self.grace_period)
            .field(
                "email_confirmation_lifetime",
                &self.email_confirmation_lifetime,
            )
            .field("profile", &self.profile)
            .field("operator_signer", &self.operator_signer)
            .field("refresh_concurrency", &self.refresh_concurrency)
            .field("check_budget", &self.check_budget)
            .field("rotation_age", &self.rotation_age)
            .field("rotation_overlap", &self.rotation_overlap)
            .field("auto_rotate", &self.auto_rotate)
            .finish_non_exhaustive()
    }
}

impl RegistryConfig {
    /// Defaults for a region and signing zone. The region is a name of 1 to 64 ASCII
    /// letters, digits, `-` and `_` (it names the registry in events, snapshots and the
    /// shared store); the zone a domain name.
    pub fn new(region: &str, signing_zone: &str) -> Result<Self, RegistryError> {
        let valid_region = !region.is_empty()
            && region.len() <= 64
            && region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_region {
            return Err(RegistryError::InvalidRegion(region.to_string()));
        }
        Ok(RegistryConfig {
            region: region.to_string(),
            signing_zone: DomainName::parse(signing_zone)?,
            verification_label: "_easydkim".into(),
            verification_prefix: "easydkim:".into(),
            key_spec: KeySpec::Rsa2048,
            detection_window: Duration::from_secs(72 * 3600),
            grace_period: Duration::from_secs(72 * 3600),
            email_confirmation_lifetime: Duration::from_secs(24 * 3600),
            profile: Profile::Standard,
            operator_signer: None,
            token_source: Arc::new(OsTokenSource),
            refresh_concurrency: 64,
            check_budget: Duration::from_secs(30),
            rotation_age: Duration::from_secs(180 * 24 * 3600),
            rotation_overlap: Duration::from_secs(7 * 24 * 3600),
            auto_rotate: true,
        })
    }

    /// The region name.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The label of the verification TXT (`<label>.<domain>`) and the prefix of its value.
    pub fn verification_record(&self) -> (&str, &str) {
        (&self.verification_label, &self.verification_prefix)
    }

    /// Sets the verification TXT's label (default `_easydkim`) and value prefix (default
    /// `easydkim:`), e.g. `_amazonses` and `""` for SES's own record shape. The label must
    /// be one DNS label (1 to 63 letters, digits, `-`, `_`), the prefix printable ASCII
    /// without `"`, `\` or `;`; otherwise [`RegistryError::InvalidVerificationRecord`].
    pub fn with_verification_record(
        mut self,
        label: &str,
        prefix: &str,
    ) -> Result<Self, RegistryError> {
        let label_ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let prefix_ok = prefix
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b'\\' | b';'));
        if !label_ok || !prefix_ok {
            return Err(RegistryError::InvalidVerificationRecord {
                label: label.to_string(),
                prefix: prefix.to_string(),
            });
        }
        self.verification_label = label.to_string();
        self.verification_prefix = prefix.to_string();
        Ok(self)
    }
}
