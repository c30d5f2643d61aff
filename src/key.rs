//! Signing keys: generation, import, public-key records.
//!
//! A [`SigningKey`] is cheap to clone (it shares its material) and never shows private
//! material in `Debug` or `Display`; the material is zeroized when the last clone drops
//! (the `rsa` and `ed25519-dalek` key types wipe themselves on drop, and every intermediate
//! buffer holding key bytes here is [`Zeroizing`]).
//!
//! The signer only ever calls [`SigningKey::sign_digest`], so another crypto backend can be
//! added inside this module without touching the signer.

use std::sync::Arc;

use base64::Engine;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{ErrorCause, KeyError};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// OID of rsaEncryption (PKCS#1).
const OID_RSA: &str = "1.2.840.113549.1.1.1";
/// OID of id-Ed25519 (RFC 8410).
const OID_ED25519: &str = "1.3.101.112";

/// A DKIM signing algorithm (`a=` tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `rsa-sha256` (RFC 6376).
    RsaSha256,
    /// `ed25519-sha256` (RFC 8463).
    Ed25519Sha256,
    /// `rsa-sha1`: historic; never used to sign (RFC 8301), verifiable only on request.
    RsaSha1,
}

impl Algorithm {
    /// The `a=` tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 => "rsa-sha256",
            Algorithm::Ed25519Sha256 => "ed25519-sha256",
            Algorithm::RsaSha1 => "rsa-sha1",
        }
    }

    /// Parses an `a=` tag value (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        [
            Algorithm::RsaSha256,
            Algorithm::Ed25519Sha256,
            Algorithm::RsaSha1,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// The key type (`k=` tag) this algorithm needs.
    pub fn key_type(self) -> KeyType {
        match self {
            Algorithm::RsaSha256 | Algorithm::RsaSha1 => KeyType::Rsa,
            Algorithm::Ed25519Sha256 => KeyType::Ed25519,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key type, the `k=` tag of a key record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `k=rsa`.
    Rsa,
    /// `k=ed25519`.
    Ed25519,
}

impl KeyType {
    /// The `k=` tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
        }
    }
}

/// What kind of key to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KeySpec {
    /// RSA, 1024 bits (the original Easy DKIM size; still accepted everywhere).
    Rsa1024,
    /// RSA, 2048 bits: the default.
    #[default]
    Rsa2048,
    /// RSA, 3072 bits.
    Rsa3072,
    /// RSA, 4096 bits (its TXT record needs several strings; see the records module).
    Rsa4096,
    /// Ed25519 (RFC 8463). Not every receiver verifies it yet: pair it with an RSA key.
    Ed25519,
}

impl KeySpec {
    /// The algorithm keys of this spec sign with.
    pub fn algorithm(self) -> Algorithm {
        match self {
            KeySpec::Ed25519 => Algorithm::Ed25519Sha256,
            _ => Algorithm::RsaSha256,
        }
    }

    fn rsa_bits(self) -> Option<usize> {
        match self {
            KeySpec::Rsa1024 => Some(1024),
            KeySpec::Rsa2048 => Some(2048),
            KeySpec::Rsa3072 => Some(3072),
            KeySpec::Rsa4096 => Some(4096),
            KeySpec::Ed25519 => None,
        }
    }
}

impl std::fmt::Display for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rsa_bits() {
            Some(bits) => write!(f, "RSA-{bits}"),
            None => f.write_str("Ed25519"),
        }
    }
}

/// The size of an RSA key's modulus in bits.
fn rsa_bits(key: &impl PublicKeyParts) -> usize {
    key.n().bit_width() as usize
}

/// Decodes an RSA public key from a SubjectPublicKeyInfo or a bare PKCS#1 RSAPublicKey.
/// The size is checked here, before any arithmetic: over [`MAX_RSA_BITS`] is refused
/// ([`KeyError::RsaSize`]); a small key decodes, so that the verifier can say it is too small
/// (RFC 8301) rather than malformed.
fn rsa_public_key(bytes: &[u8]) -> Result<rsa::PublicKey, KeyError> {
    use rsa::pkcs1::der::Decode;
    let malformed = |e: rsa::pkcs1::der::Error| KeyError::Malformed {
        format: "RSA public",
        source: ErrorCause::new(e),
    };
    let pkcs1 = match rsa::pkcs8::SubjectPublicKeyInfoRef::from_der(bytes) {
        Ok(spki) => {
            if spki.algorithm.oid.to_string() != OID_RSA {
                return Err(KeyError::Unsupported {
                    format: "RSA public",
                    reason: format!("algorithm OID {} is not RSA", spki.algorithm.oid),
                });
            }
            spki.subject_public_key.raw_bytes()
        }
        Err(_) => bytes,
    };
    let key = rsa::pkcs1::RsaPublicKeyRef::from_der(pkcs1).map_err(malformed)?;
    // Copying the modulus in is cheap at any size; the Montgomery set-up below is not.
    let n = rsa::BoxedUint::from_be_slice_vartime(key.modulus.as_bytes());
    let bits = n.bit_width() as usize;
    if bits > MAX_RSA_BITS {
        return Err(KeyError::RsaSize {
            bits,
            reason: "larger than the 4096-bit maximum",
        });
    }
    let e = rsa::BoxedUint::from_be_slice_vartime(key.public_exponent.as_bytes());
    rsa::PublicKey::new_with_size_limits(n, e, 1..=MAX_RSA_BITS).map_err(|e| KeyError::Malformed {
        format: "RSA public",
        source: ErrorCause::new(e),
    })
}

/// RSASSA-PKCS1-v1_5 verification of a SHA-256 digest by AWS-LC (a public-key operation:
/// no secret, so the fast backend's speed is safe to take). Keys from 1024 bits up (the
/// verifier refuses smaller and larger keys before this).
#[cfg(feature = "aws-lc-rs")]
fn rsa_verify_aws_lc(key: &rsa::PublicKey, digest: &[u8; 32], signature: &[u8]) -> bool {
    use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY};
    use rsa::pkcs1::EncodeRsaPublicKey;
    let Ok(der) = key.to_pkcs1_der() else {
        return false;
    };
    let Ok(digest) =
        aws_lc_rs::digest::Digest::import_less_safe(digest, &aws_lc_rs::digest::SHA256)
    else {
        return false;
    };
    UnparsedPublicKey::new(
        &RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        der.as_bytes(),
    )
    .verify_digest(&digest, signature)
    .is_ok()
}

/// Smallest RSA modulus accepted for signing or verifying (RFC 8301 3.2).
pub const MIN_RSA_BITS: usize = 1024;
/// Largest RSA modulus accepted (bounds the cost of hostile keys).
pub const MAX_RSA_BITS: usize = 4096;

enum KeyMaterial {
    Rsa(rsa::PrivateKey),
    Ed25519(ed25519_dalek::SigningKey),
}

/// The crypto implementation that performs a key's private-key operation.
///
/// Every backend is compiled in only with its cargo feature; naming one that is not (or
/// that refuses the key) is never an error: the key signs with the backend it would get by
/// default ([`SigningKey::backend`] tells which). Every backend blinds RSA private-key
/// operations, and all produce byte-identical signatures (RSASSA-PKCS1-v1_5 and Ed25519
/// are deterministic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// Pure Rust: the `rsa` crate (constant-time arithmetic, blinded) and `ed25519-dalek`.
    /// Always available.
    RustCrypto,
    /// OpenSSL (feature `openssl`): RSA of every size (blinded by OpenSSL) and Ed25519.
    OpenSsl,
    /// aws-lc-rs (feature `aws-lc-rs`): Ed25519 (about twice ed25519-dalek's rate) and RSA
    /// of 2048 bits or more (blinded by AWS-LC). AWS-LC refuses 1024-bit RSA keys: those go
    /// to the next backend.
    AwsLc,
}

impl Backend {
    /// The backends compiled in, fastest for RSA first; a key one backend refuses goes to
    /// the next. By default RSA keys sign with the first that accepts them; Ed25519 keys
    /// with [`Backend::AwsLc`] when compiled in, otherwise [`Backend::RustCrypto`]
    /// (ed25519-dalek outruns OpenSSL's Ed25519). [`SigningKey::with_backend`] picks another.
    ///
    /// With both fast backends, AWS-LC comes first: it signs RSA-4096 about three times as
    /// fast as OpenSSL 3.0 on CPUs with AVX-512 IFMA (1.5 vs 4.5 ms here) and RSA-2048 at
    /// the same rate; 1024-bit keys, which AWS-LC refuses, go to OpenSSL.
    pub fn available() -> &'static [Backend] {
        &[
            #[cfg(feature = "aws-lc-rs")]
            Backend::AwsLc,
            #[cfg(feature = "openssl")]
            Backend::OpenSsl,
            Backend::RustCrypto,
        ]
    }
}

/// A private key for DKIM signing. Cloning shares the key.
#[derive(Clone)]
pub struct SigningKey {
    material: Arc<KeyMaterial>,
    /// The fast backend's handle to the same key, when one accepted it.
    fast: Option<Arc<fast::FastKey>>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private material: only what is public.
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .field("bits", &self.bits())
            .field("backend", &self.backend())
            .field("public_key", &self.public_key().to_base64())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Wraps key material, handing it to the fastest backend for its algorithm that accepts
    /// it (see [`Backend::available`]).
    fn from_material(material: KeyMaterial) -> Self {
        let fast = fast::FastKey::preferred(&material).map(Arc::new);
        SigningKey {
            material: Arc::new(material),
            fast,
        }
    }

    /// The backend that signs with this key.
    pub fn backend(&self) -> Backend {
        match &self.fast {
            Some(f) => f.backend(),
            None => Backend::RustCrypto,
        }
    }

    /// The same key, signing through `backend`. When `backend` is not compiled in or
    /// refuses the key (AWS-LC and 1024-bit RSA), the key signs with the backend it gets by
    /// default instead; [`backend`](Self::backend) tells which. Useful to compare backends.
    pub fn with_backend(&self, backend: Backend) -> Self {
        let fast = match backend {
            Backend::RustCrypto => None,
            _ => fast::FastKey::new(backend, &self.material)
                .or_else(|| fast::FastKey::preferred(&self.material))
                .map(Arc::new),
        };
        SigningKey {
            material: self.material.clone(),
            fast,
        }
    }

    /// Generates a new key from the operating system's CSPRNG.
    ///
    /// CPU-bound: an RSA-2048 key takes tens to hundreds of milliseconds (prime search has a
    /// large variance) in an optimised build, and ten seconds or more when the big-integer crates are compiled
    /// without optimisation, as in a default `cargo build` of an application. Add
    /// `[profile.dev.package."*"] opt-level = 3` (or the same for `crypto-bigint` and
    /// `rsa`) to the application's Cargo.toml, and from async code call this where
    /// blocking is allowed (e.g. `tokio::task::spawn_blocking`). Ed25519 keys are instant.
    pub fn generate(spec: KeySpec) -> Result<Self, KeyError> {
        let material = match spec.rsa_bits() {
            Some(bits) => {
                KeyMaterial::Rsa(rsa::PrivateKey::new(&mut getrandom::SysRng, bits).map_err(
                    |e| KeyError::Generation {
                        source: ErrorCause::new(e),
                    },
                )?)
            }
            None => {
                let mut seed = Zeroizing::new([0u8; 32]);
                getrandom::fill(&mut seed[..]).map_err(|e| KeyError::Generation {
                    source: ErrorCause::new(e),
                })?;
                KeyMaterial::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
        };
        Ok(SigningKey::from_material(material))
    }

    /// Loads a key in any format we read, detected from the bytes: PEM (`RSA PRIVATE KEY`
    /// for PKCS#1, `PRIVATE KEY` for PKCS#8 RSA or Ed25519), DER (PKCS#8 or PKCS#1), or the
    /// base64 32-byte Ed25519 seed that dkimpy and others write. As with OpenSSL, text
    /// around a PEM block (explanatory lines, RFC 7468 5.2) is ignored.
    pub fn load(input: &[u8]) -> Result<Self, KeyError> {
        let text = std::str::from_utf8(input).ok().map(str::trim);
        match text {
            Some(t) if t.contains("-----BEGIN ") => Self::from_pem(t),
            Some(t) if !t.is_empty() && t.bytes().all(is_base64_byte) => {
                Self::from_ed25519_seed_base64(t)
            }
            _ if input.first() == Some(&0x30) => Self::from_der(input),
            Some("") => Err(KeyError::UnrecognisedFormat {
                detail: "empty input".into(),
            }),
            _ => Err(KeyError::UnrecognisedFormat {
                detail: "neither PEM, DER nor a base64 Ed25519 seed".into(),
            }),
        }
    }

    /// Loads a PEM key: PKCS#1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let pem = pem.find("-----BEGIN ").map_or(pem, |i| &pem[i..]);
        let label = pem
            .strip_prefix("-----BEGIN ")
            .and_then(|r| r.split_once("-----"))
            .map(|(l, _)| l)
            .ok_or_else(|| KeyError::UnrecognisedFormat {
                detail: "no PEM `-----BEGIN ...-----` line".into(),
            })?;
        match label {
            "RSA PRIVATE KEY" => {
                let der = pem_body(pem, label, "PKCS#1 PEM")?;
                Self::from_pkcs1_der(&der, "PKCS#1 PEM")
            }
            "PRIVATE KEY" => {
                let der = pem_body(pem, label, "PKCS#8 PEM")?;
                Self::from_pkcs8_der(&der, "PKCS#8 PEM")
            }
            "ENCRYPTED PRIVATE KEY" => Err(KeyError::Unsupported {
                format: "encrypted PKCS#8 PEM",
                reason: "decrypt it first (openssl pkcs8 -in key.pem -out plain.pem)".into(),
            }),
            "OPENSSH PRIVATE KEY" => Err(KeyError::Unsupported {
                format: "OpenSSH PEM",
                reason: "convert it to PKCS#8 (ssh-keygen -p -m PKCS8)".into(),
            }),
            "EC PRIVATE KEY" => Err(KeyError::Unsupported {
                format: "SEC1 EC PEM",
                reason: "DKIM signs with RSA or Ed25519 only".into(),
            }),
            "PUBLIC KEY" | "RSA PUBLIC KEY" => Err(KeyError::Unsupported {
                format: "public-key PEM",
                reason: "a public key cannot sign; give the private key".into(),
            }),
            other => Err(KeyError::UnrecognisedFormat {
                detail: format!("PEM label `{other}`"),
            }),
        }
    }

    /// Loads a DER key: PKCS#8 (RSA or Ed25519) or PKCS#1 RSA.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        match rsa::pkcs8::PrivateKeyInfoRef::try_from(der) {
            Ok(_) => Self::from_pkcs8_der(der, "PKCS#8 DER"),
            Err(_) => match rsa::pkcs1::RsaPrivateKeyRef::try_from(der) {
                Ok(_) => Self::from_pkcs1_der(der, "PKCS#1 DER"),
                Err(e) => Err(KeyError::Malformed {
                    format: "DER",
                    source: ErrorCause::new(e),
                }),
            },
        }
    }

    /// Loads the base64 of a raw 32-byte Ed25519 private key (seed), as in RFC 8463
    /// Appendix A and dkimpy's key files.
    pub fn from_ed25519_seed_base64(b64: &str) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(B64.decode(b64.trim()).map_err(|e| KeyError::Malformed {
            format: "base64 Ed25519 seed",
            source: ErrorCause::new(e),
        })?);
        let seed: Zeroizing<[u8; 32]> = match bytes.len() {
            32 => Zeroizing::new(bytes[..].try_into().expect("length checked")),
            n => {
                return Err(KeyError::Malformed {
                    format: "base64 Ed25519 seed",
                    source: ErrorCause::reason(format!("decodes to {n} bytes, expected 32")),
                })
            }
        };
        Ok(SigningKey::from_material(KeyMaterial::Ed25519(
            ed25519_dalek::SigningKey::from_bytes(&seed),
        )))
    }

    fn from_pkcs1_der(der: &[u8], format: &'static str) -> Result<Self, KeyError> {
        let key = rsa::PrivateKey::from_pkcs1_der(der).map_err(|e| KeyError::Malformed {
            format,
            source: ErrorCause::new(e),
        })?;
        Self::from_rsa(key)
    }

    fn from_pkcs8_der(der: &[u8], format: &'static str) -> Result<Self, KeyError> {
        let info =
            rsa::pkcs8::PrivateKeyInfoRef::try_from(der).map_err(|e| KeyError::Malformed {
                format,
                source: ErrorCause::new(e),
            })?;
        let oid = info.algorithm.oid.to_string();
        match oid.as_str() {
            OID_RSA => {
                let key =
                    rsa::PrivateKey::from_pkcs8_der(der).map_err(|e| KeyError::Malformed {
                        format,
                        source: ErrorCause::new(e),
                    })?;
                Self::from_rsa(key)
            }
            OID_ED25519 => {
                let key = <ed25519_dalek::SigningKey as ed25519_dalek::pkcs8::DecodePrivateKey>::from_pkcs8_der(der)
                    .map_err(|e| KeyError::Malformed {
                        format,
                        source: ErrorCause::new(e),
                    })?;
                Ok(SigningKey::from_material(KeyMaterial::Ed25519(key)))
            }
            other => Err(KeyError::Unsupported {
                format,
                reason: format!("algorithm OID {other} is neither RSA nor Ed25519"),
            }),
        }
    }

    /// Wraps an `rsa` crate key, checking its size (1024 to 4096 bits).
    pub fn from_rsa(key: rsa::PrivateKey) -> Result<Self, KeyError> {
        check_rsa_bits(rsa_bits(&key))?;
        Ok(SigningKey::from_material(KeyMaterial::Rsa(key)))
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match &*self.material {
            KeyMaterial::Rsa(_) => Algorithm::RsaSha256,
            KeyMaterial::Ed25519(_) => Algorithm::Ed25519Sha256,
        }
    }

    /// The key size in bits (256 for Ed25519).
    pub fn bits(&self) -> usize {
        match &*self.material {
            KeyMaterial::Rsa(k) => rsa_bits(k),
            KeyMaterial::Ed25519(_) => 256,
        }
    }

    /// The spec of this key, if it is one we generate.
    pub fn spec(&self) -> Option<KeySpec> {
        match &*self.material {
            KeyMaterial::Ed25519(_) => Some(KeySpec::Ed25519),
            KeyMaterial::Rsa(k) => match rsa_bits(k) {
                1024 => Some(KeySpec::Rsa1024),
                2048 => Some(KeySpec::Rsa2048),
                3072 => Some(KeySpec::Rsa3072),
                4096 => Some(KeySpec::Rsa4096),
                _ => None,
            },
        }
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        match &*self.material {
            KeyMaterial::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
            KeyMaterial::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    /// The TXT record value to publish at `<selector>._domainkey.<domain>`:
    /// `v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo>` or `v=DKIM1; k=ed25519; p=<raw key>`.
    pub fn dns_record(&self) -> String {
        self.public_key().dns_record()
    }

    /// The private key as PKCS#8 DER (for storage; the buffer is wiped on drop).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        fn err<E: std::error::Error + Send + Sync + 'static>(e: E) -> KeyError {
            KeyError::Malformed {
                format: "PKCS#8 DER",
                source: ErrorCause::new(e),
            }
        }
        // The two key crates use different versions of the `der` crate: copy out each way.
        Ok(Zeroizing::new(match &*self.material {
            KeyMaterial::Rsa(k) => k.to_pkcs8_der().map_err(err)?.as_bytes().to_vec(),
            KeyMaterial::Ed25519(k) => ed25519_dalek::pkcs8::EncodePrivateKey::to_pkcs8_der(k)
                .map_err(err)?
                .as_bytes()
                .to_vec(),
        }))
    }

    /// The private key as PKCS#8 PEM (for storage; the buffer is wiped on drop).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let der = self.to_pkcs8_der()?;
        let b64 = Zeroizing::new(B64.encode(&der[..]));
        let mut pem = String::with_capacity(b64.len() + 80);
        pem.push_str("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        Ok(Zeroizing::new(pem))
    }

    /// Signs a SHA-256 digest of the canonical header data: RSASSA-PKCS1-v1_5 (blinded)
    /// for RSA, and for Ed25519 the PureEdDSA signature of the 32 digest bytes (RFC 8463 3).
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, KeyError> {
        self.sign_digest_with(digest, <[u8]>::to_vec)
    }

    /// [`sign_digest`](Self::sign_digest), the signature handed to `f` where the backend
    /// made it (on the stack for the fast backends): the signer encodes it at once, with
    /// no vector to allocate and copy into per message.
    pub(crate) fn sign_digest_with<R>(
        &self,
        digest: &[u8; 32],
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, KeyError> {
        if let Some(fast) = &self.fast {
            return fast.sign_digest_with(digest, f);
        }
        match &*self.material {
            // RSASSA-PKCS1-v1_5 by `rsa` itself: constant-time arithmetic (crypto-bigint),
            // blinded with the OS random source.
            KeyMaterial::Rsa(k) => k
                .pkcs1v15_sign_prehash::<Sha256>(digest)
                .map(|sig| f(&sig))
                .map_err(|e| KeyError::Signing {
                    source: ErrorCause::new(e),
                }),
            KeyMaterial::Ed25519(k) => {
                use ed25519_dalek::Signer as _;
                Ok(f(&k.sign(digest).to_bytes()))
            }
        }
    }
}

/// Fast backends. Each takes the key material once, at load, and keeps its own handle; a
/// backend that is not compiled in has no variant, so with no fast feature `FastKey` is
/// empty and every key signs with the pure-Rust implementation.
mod fast {
    use super::{Backend, KeyError, KeyMaterial};

    pub(super) enum FastKey {
        #[cfg(feature = "openssl")]
        OpenSsl(ossl::Key),
        #[cfg(feature = "aws-lc-rs")]
        AwsLc(awslc::Key),
    }

    impl FastKey {
        /// A handle in `backend`, if it is compiled in and accepts the key.
        pub(super) fn new(backend: Backend, material: &KeyMaterial) -> Option<FastKey> {
            let _ = material;
            match backend {
                #[cfg(feature = "openssl")]
                Backend::OpenSsl => ossl::Key::new(material).map(FastKey::OpenSsl),
                #[cfg(feature = "aws-lc-rs")]
                Backend::AwsLc => awslc::Key::new(material).map(FastKey::AwsLc),
                _ => None,
            }
        }

        /// The handle in the fastest backend for this key that accepts it: for RSA the
        /// first of [`Backend::available`]; for Ed25519 AWS-LC only (OpenSSL's Ed25519 is
        /// slower than ed25519-dalek).
        pub(super) fn preferred(material: &KeyMaterial) -> Option<FastKey> {
            let order: &[Backend] = match material {
                KeyMaterial::Rsa(_) => Backend::available(),
                KeyMaterial::Ed25519(_) => &[
                    #[cfg(feature = "aws-lc-rs")]
                    Backend::AwsLc,
                ],
            };
            order.iter().find_map(|&b| FastKey::new(b, material))
        }

        pub(super) fn backend(&self) -> Backend {
            match *self {
                #[cfg(feature = "openssl")]
                FastKey::OpenSsl(_) => Backend::OpenSsl,
                #[cfg(feature = "aws-lc-rs")]
                FastKey::AwsLc(_) => Backend::AwsLc,
            }
        }

        pub(super) fn sign_digest_with<R>(
            &self,
            digest: &[u8; 32],
            f: impl FnOnce(&[u8]) -> R,
        ) -> Result<R, KeyError> {
            let _ = (digest, &f);
            match *self {
                #[cfg(feature = "openssl")]
                FastKey::OpenSsl(ref k) => k.sign_digest_with(digest, f),
                #[cfg(feature = "aws-lc-rs")]
                FastKey::AwsLc(ref k) => k.sign_digest_with(digest, f),
            }
        }
    }

    /// OpenSSL: RSA of every size and Ed25519.
    #[cfg(feature = "openssl")]
    mod ossl {
        use super::{KeyError, KeyMaterial};
        use openssl::pkey::{Id, PKey, Private};
        use zeroize::Zeroizing;

        pub(in super::super) struct Key {
            pkey: PKey<Private>,
            ed25519: bool,
        }

        impl Key {
            pub(super) fn new(material: &KeyMaterial) -> Option<Key> {
                use rsa::pkcs1::EncodeRsaPrivateKey;
                match material {
                    KeyMaterial::Rsa(k) => {
                        // The DER is a `SecretDocument`, wiped on drop.
                        let der = k.to_pkcs1_der().ok()?;
                        let rsa = openssl::rsa::Rsa::private_key_from_der(der.as_bytes()).ok()?;
                        Some(Key {
                            pkey: PKey::from_rsa(rsa).ok()?,
                            ed25519: false,
                        })
                    }
                    KeyMaterial::Ed25519(k) => {
                        let seed = Zeroizing::new(k.to_bytes());
                        Some(Key {
                            pkey: PKey::private_key_from_raw_bytes(&seed[..], Id::ED25519).ok()?,
                            ed25519: true,
                        })
                    }
                }
            }

            pub(super) fn sign_digest_with<R>(
                &self,
                digest: &[u8; 32],
                f: impl FnOnce(&[u8]) -> R,
            ) -> Result<R, KeyError> {
                let err = |e: openssl::error::ErrorStack| KeyError::Signing {
                    source: crate::error::ErrorCause::new(e),
                };
                // Room for the largest signature a loaded key makes.
                let mut out = [0u8; crate::key::MAX_RSA_BITS / 8];
                if self.ed25519 {
                    let mut signer =
                        openssl::sign::Signer::new_without_digest(&self.pkey).map_err(err)?;
                    let n = signer.sign_oneshot(&mut out, digest).map_err(err)?;
                    return Ok(f(&out[..n]));
                }
                // RSASSA-PKCS1-v1_5 over a precomputed SHA-256 (DigestInfo added by
                // OpenSSL); OpenSSL blinds RSA private-key operations by default.
                let mut ctx = openssl::pkey_ctx::PkeyCtx::new(&self.pkey).map_err(err)?;
                ctx.sign_init().map_err(err)?;
                ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1)
                    .map_err(err)?;
                ctx.set_signature_md(openssl::md::Md::sha256())
                    .map_err(err)?;
                let n = ctx.sign(digest, Some(&mut out)).map_err(err)?;
                Ok(f(&out[..n]))
            }
        }
    }

    /// aws-lc-rs: Ed25519 and RSA of 2048 to 8192 bits (it refuses smaller keys).
    #[cfg(feature = "aws-lc-rs")]
    mod awslc {
        use super::{KeyError, KeyMaterial};
        use aws_lc_rs::signature::{Ed25519KeyPair, RsaKeyPair};
        use zeroize::Zeroizing;

        /// Smallest RSA modulus AWS-LC signs with.
        const MIN_BITS: usize = 2048;

        pub(in super::super) enum Key {
            Rsa(RsaKeyPair),
            Ed25519(Ed25519KeyPair),
        }

        impl Key {
            pub(super) fn new(material: &KeyMaterial) -> Option<Key> {
                use rsa::pkcs1::EncodeRsaPrivateKey;
                match material {
                    KeyMaterial::Rsa(k) => {
                        if super::super::rsa_bits(k) < MIN_BITS {
                            return None;
                        }
                        // The DER is a `SecretDocument`, wiped on drop.
                        let der = k.to_pkcs1_der().ok()?;
                        RsaKeyPair::from_der(der.as_bytes()).ok().map(Key::Rsa)
                    }
                    KeyMaterial::Ed25519(k) => {
                        let seed = Zeroizing::new(k.to_bytes());
                        let public = k.verifying_key().to_bytes();
                        Ed25519KeyPair::from_seed_and_public_key(&seed[..], &public)
                            .ok()
                            .map(Key::Ed25519)
                    }
                }
            }

            pub(super) fn sign_digest_with<R>(
                &self,
                digest: &[u8; 32],
                f: impl FnOnce(&[u8]) -> R,
            ) -> Result<R, KeyError> {
                // aws-lc-rs errors carry no key material (they are unit-like).
                let err = |what: &str| KeyError::Signing {
                    source: crate::error::ErrorCause::reason(format!("AWS-LC: {what} failed")),
                };
                match self {
                    Key::Rsa(k) => {
                        // RSASSA-PKCS1-v1_5 over a precomputed SHA-256; AWS-LC blinds RSA
                        // private-key operations.
                        let digest = aws_lc_rs::digest::Digest::import_less_safe(
                            digest,
                            &aws_lc_rs::digest::SHA256,
                        )
                        .map_err(|_| err("digest import"))?;
                        let mut buf = [0u8; crate::key::MAX_RSA_BITS / 8];
                        let out = buf
                            .get_mut(..k.public_modulus_len())
                            .ok_or_else(|| err("RSA signing (modulus too long)"))?;
                        k.sign_digest(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &digest, out)
                            .map_err(|_| err("RSA signing"))?;
                        Ok(f(out))
                    }
                    // `try_sign`, not `sign`: the latter panics where AWS-LC reports a
                    // failure, and a failure here is a typed error like every backend's.
                    // Matched in place: `Signature` holds a 4.6 KB array, and passing it on
                    // by value (`Result::map`) copied it once more per signature.
                    Key::Ed25519(k) => match &k.try_sign(digest) {
                        Ok(s) => Ok(f(s.as_ref())),
                        Err(_) => Err(err("Ed25519 signing")),
                    },
                }
            }
        }
    }
}

fn check_rsa_bits(bits: usize) -> Result<(), KeyError> {
    if bits < MIN_RSA_BITS {
        Err(KeyError::RsaSize {
            bits,
            reason: "RFC 8301 requires at least 1024 bits",
        })
    } else if bits > MAX_RSA_BITS {
        Err(KeyError::RsaSize {
            bits,
            reason: "larger than the 4096-bit maximum",
        })
    } else {
        Ok(())
    }
}

fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

/// Extracts and decodes the base64 body of a PEM block with the given label.
fn pem_body(pem: &str, label: &str, format: &'static str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = pem
        .strip_prefix(&begin)
        .and_then(|r| r.split_once(&end))
        .map(|(b, _)| b)
        .ok_or_else(|| KeyError::Malformed {
            format,
            source: ErrorCause::reason(format!("no `{end}` line")),
        })?;
    if body.contains(':') {
        return Err(KeyError::Unsupported {
            format,
            reason: "PEM with headers (Proc-Type/DEK-Info) is encrypted; decrypt it first".into(),
        });
    }
    let b64: Zeroizing<String> =
        Zeroizing::new(body.chars().filter(|c| !c.is_whitespace()).collect());
    B64.decode(b64.as_bytes())
        .map(Zeroizing::new)
        .map_err(|e| KeyError::Malformed {
            format,
            source: ErrorCause::new(e),
        })
}

/// A public key, as published in DNS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// An RSA public key.
    Rsa(rsa::PublicKey),
    /// An Ed25519 public key.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// The key type.
    pub fn key_type(&self) -> KeyType {
        match self {
            PublicKey::Rsa(_) => KeyType::Rsa,
            PublicKey::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// Key size in bits (256 for Ed25519).
    pub fn bits(&self) -> usize {
        match self {
            PublicKey::Rsa(k) => rsa_bits(k),
            PublicKey::Ed25519(_) => 256,
        }
    }

    /// The bytes of the `p=` tag: DER SubjectPublicKeyInfo for RSA, the raw 32-byte key for
    /// Ed25519 (RFC 8463 4.2).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::Rsa(k) => k
                .to_public_key_der()
                .map(|d| d.as_bytes().to_vec())
                .unwrap_or_default(),
            PublicKey::Ed25519(k) => k.to_bytes().to_vec(),
        }
    }

    /// The `p=` value, base64.
    pub fn to_base64(&self) -> String {
        B64.encode(self.to_bytes())
    }

    /// The DNS TXT record value for this key.
    pub fn dns_record(&self) -> String {
        format!(
            "v=DKIM1; k={}; p={}",
            self.key_type().as_str(),
            self.to_base64()
        )
    }

    /// Decodes a `p=` value of the given key type: for RSA, a SubjectPublicKeyInfo or a bare
    /// PKCS#1 RSAPublicKey (both are found in the wild); for Ed25519, 32 raw bytes.
    pub fn from_bytes(key_type: KeyType, bytes: &[u8]) -> Result<Self, KeyError> {
        match key_type {
            KeyType::Rsa => rsa_public_key(bytes).map(PublicKey::Rsa),
            KeyType::Ed25519 => {
                let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Malformed {
                    format: "Ed25519 public",
                    source: ErrorCause::reason(format!("{} bytes, expected 32", bytes.len())),
                })?;
                ed25519_dalek::VerifyingKey::from_bytes(&arr)
                    .map(PublicKey::Ed25519)
                    .map_err(|e| KeyError::Malformed {
                        format: "Ed25519 public",
                        source: ErrorCause::new(e),
                    })
            }
        }
    }

    /// Checks a signature over a SHA-256 digest (the counterpart of
    /// [`SigningKey::sign_digest`]).
    pub fn verify_digest(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        !self.is_weak() && self.verify_digest_not_weak(digest, signature)
    }

    /// Whether the key can never verify: an Ed25519 key of small order (which
    /// `verify_strict` refuses). Costs a point multiplication, so the verifier asks once per
    /// key record it keeps.
    pub(crate) fn is_weak(&self) -> bool {
        match self {
            PublicKey::Rsa(_) => false,
            PublicKey::Ed25519(k) => k.is_weak(),
        }
    }

    /// [`verify_digest`](Self::verify_digest) for a key known not to be weak.
    pub(crate) fn verify_digest_not_weak(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        match self {
            #[cfg(feature = "aws-lc-rs")]
            PublicKey::Rsa(k) => rsa_verify_aws_lc(k, digest, signature),
            #[cfg(not(feature = "aws-lc-rs"))]
            PublicKey::Rsa(k) => k
                .pkcs1v15_verify_prehash::<Sha256>(digest, signature)
                .is_ok(),
            PublicKey::Ed25519(k) => match ed25519_dalek::Signature::from_slice(signature) {
                Ok(sig) => ed25519_verify(k, digest, &sig),
                Err(_) => false,
            },
        }
    }
}

/// The canonical encodings of the eight points of small order (the 8-torsion subgroup of
/// edwards25519), as ed25519-dalek's `compress` writes them.
pub(crate) const SMALL_ORDER_ENCODINGS: [[u8; 32]; 8] = {
    const fn y(first: [u8; 31], last: u8) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut i = 0;
        while i < 31 {
            out[i] = first[i];
            i += 1;
        }
        out[31] = last;
        out
    }
    const ZERO: [u8; 31] = [0; 31];
    const ONE: [u8; 31] = {
        let mut b = [0; 31];
        b[0] = 1;
        b
    };
    const MINUS_ONE: [u8; 31] = {
        let mut b = [0xff; 31];
        b[0] = 0xec;
        b
    };
    const Y8: [u8; 31] = [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc,
    ];
    const MINUS_Y8: [u8; 31] = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03,
    ];
    [
        y(ONE, 0x00),       // the identity (order 1)
        y(MINUS_ONE, 0x7f), // (0, -1), order 2
        y(ZERO, 0x00),      // (sqrt(-1), 0) and its negation, order 4
        y(ZERO, 0x80),
        y(Y8, 0x05), // the four points of order 8
        y(Y8, 0x85),
        y(MINUS_Y8, 0x7a),
        y(MINUS_Y8, 0xfa),
    ]
};

/// Ed25519 verification for a key that is not weak, with exactly the answers of
/// ed25519-dalek's `verify_strict` (with [`PublicKey::is_weak`] in front of it, as
/// [`PublicKey::verify_digest`] has), one point decompression cheaper.
///
/// `verify_strict` is RFC 8032's check (`s` canonical, `R` equal to the canonical encoding
/// of `[s]B - [k]A`) plus the rejection of a small-order `A` or `R`, and finds out whether
/// `R` has small order by decompressing it. The comparison already requires `R` to be a
/// canonical encoding, so `R` has small order exactly when its bytes are one of the eight
/// canonical encodings of the 8-torsion points: a table lookup replaces the decompression
/// (a field exponentiation, about 3 us, 8 % of a verification). Whether `A` is weak
/// depends on the key alone: the verifier finds out once per key record it keeps.
fn ed25519_verify(
    key: &ed25519_dalek::VerifyingKey,
    digest: &[u8; 32],
    signature: &ed25519_dalek::Signature,
) -> bool {
    use ed25519_dalek::Verifier as _;
    // A weak key (small order) was refused by the caller.
    if is_small_order(signature.r_bytes()) {
        return false;
    }
    key.verify(digest, signature).is_ok()
}

/// Whether `r` is the encoding of a point of small order (a table lookup: a canonical
/// encoding is one of [`SMALL_ORDER_ENCODINGS`] exactly when its point has small order).
fn is_small_order(r: &[u8]) -> bool {
    SMALL_ORDER_ENCODINGS.iter().any(|o| o[..] == *r)
}

/// An Ed25519 public key prepared for checking many signatures: the multiples of the base
/// point `B` and of `-A` that the verification equation `[s]B + [k](-A) = R` needs,
/// precomputed as width-8 NAF tables (about 20 KB; building them costs about three
/// verifications). Each check then needs fewer point additions than ed25519-dalek's
/// `verify`, which builds a smaller table for `A` every time: about 7 % less time for the
/// check itself (30.6 against 33.0 µs on the machine of BENCHMARKS.md). The
/// answers are those of [`ed25519_verify`] (a test holds them together).
pub(crate) struct Ed25519Table {
    /// `A` as the key record encodes it (hashed into `k`).
    key: [u8; 32],
    multiples: curve25519_dalek::edwards::VartimeEdwardsPrecomputation,
}

impl Ed25519Table {
    pub(crate) fn new(key: &ed25519_dalek::VerifyingKey) -> Self {
        use curve25519_dalek::traits::VartimePrecomputedMultiscalarMul as _;
        Ed25519Table {
            key: key.to_bytes(),
            multiples: curve25519_dalek::edwards::VartimeEdwardsPrecomputation::new([
                curve25519_dalek::constants::ED25519_BASEPOINT_POINT,
                -key.to_edwards(),
            ]),
        }
    }

    /// [`ed25519_verify`] for this key, known not to be weak: `R` not of small order, `s`
    /// canonical (below the group order), and `[s]B + [k](-A)` encoding to `R`'s bytes,
    /// with `k = SHA-512(R || A || digest)` reduced.
    pub(crate) fn verify_not_weak(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        use curve25519_dalek::traits::VartimePrecomputedMultiscalarMul as _;
        use curve25519_dalek::Scalar;
        use sha2::{Digest as _, Sha512};
        let Ok(signature) = <&[u8; 64]>::try_from(signature) else {
            return false;
        };
        let (r, s) = signature.split_at(32);
        if is_small_order(r) {
            return false;
        }
        let s: [u8; 32] = s.try_into().expect("32 bytes");
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)) else {
            return false;
        };
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(r)
                .chain_update(self.key)
                .chain_update(digest),
        );
        self.multiples
            .vartime_multiscalar_mul([s, k])
            .compress()
            .as_bytes()[..]
            == *r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order of the base point, little-endian.
    const GROUP_ORDER: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    /// The table holds the canonical encodings of the 8-torsion points, all eight.
    #[test]
    fn small_order_encodings_are_the_eight_torsion_points() {
        let mut expected: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .map(|p| p.compress().to_bytes())
            .collect();
        expected.sort();
        let mut table = SMALL_ORDER_ENCODINGS.to_vec();
        table.sort();
        assert_eq!(table, expected);
    }

    /// `PublicKey::verify_digest` answers as `verify_strict` does: good signatures,
    /// tampered ones, other digests, non-canonical `s`, and small-order `R` / weak keys.
    #[test]
    fn ed25519_verification_agrees_with_verify_strict() {
        use ed25519_dalek::Signer as _;
        let ed25519_verify =
            |k: &ed25519_dalek::VerifyingKey, d: &[u8; 32], s: &ed25519_dalek::Signature| {
                PublicKey::Ed25519(*k).verify_digest(d, &s.to_bytes())
            };
        let strict =
            |k: &ed25519_dalek::VerifyingKey, d: &[u8; 32], s: &ed25519_dalek::Signature| {
                k.verify_strict(d, s).is_ok()
            };
        for seed in 0u8..16 {
            let sk = ed25519_dalek::SigningKey::from_bytes(&[seed.wrapping_mul(37) ^ 0x5a; 32]);
            let vk = sk.verifying_key();
            let digest: [u8; 32] = {
                use sha2::Digest as _;
                Sha256::digest([seed]).into()
            };
            let good = sk.sign(&digest);
            let mut cases = vec![(digest, good)];
            let mut other = digest;
            other[0] ^= 1;
            cases.push((other, good));
            for i in [0usize, 17, 31, 32, 40, 63] {
                let mut b = good.to_bytes();
                b[i] ^= 0x10;
                cases.push((digest, ed25519_dalek::Signature::from_bytes(&b)));
            }
            // Small-order R with an arbitrary s.
            for r in SMALL_ORDER_ENCODINGS {
                let mut b = good.to_bytes();
                b[..32].copy_from_slice(&r);
                cases.push((digest, ed25519_dalek::Signature::from_bytes(&b)));
            }
            // s + l: the same scalar, not canonical.
            let mut b = good.to_bytes();
            let mut carry = 0u16;
            for (x, y) in b[32..].iter_mut().zip(GROUP_ORDER) {
                let sum = u16::from(*x) + u16::from(y) + carry;
                *x = sum as u8;
                carry = sum >> 8;
            }
            cases.push((digest, ed25519_dalek::Signature::from_bytes(&b)));
            let table = Ed25519Table::new(&vk);
            for (d, s) in &cases {
                assert_eq!(ed25519_verify(&vk, d, s), strict(&vk, d, s));
                assert_eq!(table.verify_not_weak(d, &s.to_bytes()), strict(&vk, d, s));
            }
            assert!(ed25519_verify(&vk, &digest, &good));
            assert!(table.verify_not_weak(&digest, &good.to_bytes()));
            assert!(!table.verify_not_weak(&digest, &good.to_bytes()[..63]));
        }
        // Weak keys: the identity as A with R the identity and s = 0 satisfies the equation,
        // and both refuse it.
        for a in SMALL_ORDER_ENCODINGS {
            let Ok(weak) = ed25519_dalek::VerifyingKey::from_bytes(&a) else {
                continue;
            };
            let mut b = [0u8; 64];
            b[..32].copy_from_slice(&SMALL_ORDER_ENCODINGS[0]);
            let sig = ed25519_dalek::Signature::from_bytes(&b);
            let d = [7u8; 32];
            assert!(!ed25519_verify(&weak, &d, &sig));
            assert_eq!(ed25519_verify(&weak, &d, &sig), strict(&weak, &d, &sig));
        }
    }

    /// With aws-lc-rs compiled in, RSA verification goes through AWS-LC: it must agree with
    /// the pure-Rust check on good signatures, tampered ones and other digests, at 1024
    /// and 2048 bits.
    #[cfg(feature = "aws-lc-rs")]
    #[test]
    fn aws_lc_rsa_verification_agrees_with_pure_rust() {
        for file in ["rsa1024.pem", "rsa2048.pem"] {
            let pem = std::fs::read(format!(
                "{}/tests/data/keys/{file}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let key = SigningKey::load(&pem).unwrap();
            let PublicKey::Rsa(public) = key.public_key() else {
                panic!("an RSA key")
            };
            let digest = [7u8; 32];
            let good = key.sign_digest(&digest).unwrap();
            let mut bad = good.clone();
            bad[10] ^= 1;
            for (sig, d, want) in [
                (&good, &digest, true),
                (&bad, &digest, false),
                (&good, &[8u8; 32], false),
                (&good[..good.len() - 1].to_vec(), &digest, false),
            ] {
                let pure = public.pkcs1v15_verify_prehash::<Sha256>(d, sig).is_ok();
                assert_eq!(pure, want, "{file}: pure Rust");
                assert_eq!(rsa_verify_aws_lc(&public, d, sig), want, "{file}: AWS-LC");
            }
        }
    }

    /// Pure-Rust RSA signing is blinded with fresh randomness each time, yet gives the one
    /// deterministic PKCS#1 v1.5 signature: the same bytes on every call and thread, and
    /// they verify.
    #[test]
    fn pure_rust_rsa_signatures_are_deterministic_and_verify() {
        let pem = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/keys/rsa1024.pem"
        ))
        .unwrap();
        let key = SigningKey::load(&pem)
            .unwrap()
            .with_backend(Backend::RustCrypto);
        assert_eq!(key.backend(), Backend::RustCrypto);
        let public = key.public_key();
        let first: Vec<Vec<u8>> = (0..8u8)
            .map(|i| key.sign_digest(&[i; 32]).unwrap())
            .collect();
        std::thread::scope(|sc| {
            for _ in 0..2 {
                let (key, first, public) = (&key, &first, &public);
                sc.spawn(move || {
                    for i in 0..8u8 {
                        let sig = key.sign_digest(&[i; 32]).unwrap();
                        assert_eq!(sig, first[usize::from(i)], "digest {i}");
                        assert!(public.verify_digest(&[i; 32], &sig));
                    }
                });
            }
        });
        assert!(!public.verify_digest(&[9; 32], &first[0]));
    }

    #[test]
    fn debug_hides_private_material() {
        let key = SigningKey::generate(KeySpec::Ed25519).unwrap();
        let KeyMaterial::Ed25519(k) = &*key.material else {
            panic!("generated an Ed25519 key")
        };
        let dbg = format!("{key:?}");
        let seed = k.to_bytes();
        assert!(!dbg.contains(&B64.encode(seed)));
        assert!(!dbg.contains(&format!("{seed:?}")));
        assert!(dbg.contains("Ed25519Sha256"));
    }

    #[test]
    fn pkcs8_round_trip_ed25519() {
        let key = SigningKey::generate(KeySpec::Ed25519).unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        let again = SigningKey::load(pem.as_bytes()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let der = key.to_pkcs8_der().unwrap();
        let again = SigningKey::load(&der).unwrap();
        assert_eq!(again.public_key(), key.public_key());
    }
}
