//! The rules that the checks, the diagnostics and the record lists share: where each
//! record lives, what counts as the verification token, and when a key record holds a
//! key. Each is written once here, so that what `refresh` accepts, what `diagnose`
//! explains and what the tenant is told to publish cannot drift apart.

use crate::key_record::KeyRecord;
use crate::names::DomainName;

use super::RegistryConfig;

/// `<label>.<domain>`: where the tenant publishes the verification TXT.
pub(crate) fn verification_name(config: &RegistryConfig, domain: &DomainName) -> String {
    format!("{}.{domain}", config.verification_label)
}

/// `<selector>._domainkey.<domain>`: an Easy DKIM CNAME (the selector is the token) or a
/// bring-your-own-key TXT.
pub(crate) fn domainkey_name(selector: &str, domain: &DomainName) -> String {
    format!("{selector}._domainkey.{domain}")
}

/// `<token>.<zone>`: the operator's key TXT, which is also the target of the tenant's
/// CNAME.
pub(crate) fn key_name(token: &str, zone: &DomainName) -> String {
    format!("{token}.{zone}")
}

/// Whether two DNS names are the same: case-insensitive, a trailing dot ignored.
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// Whether a TXT value is the verification token: the token alone or after the configured
/// prefix (`easydkim:<token>`), surrounding whitespace ignored.
pub(crate) fn holds_token(config: &RegistryConfig, value: &str, token: &str) -> bool {
    let v = value.trim();
    v == token
        || v.strip_prefix(config.verification_prefix.as_str())
            .is_some_and(|rest| rest.trim() == token)
}

/// Whether a TXT value is a key record that publishes the key whose base64 `p=` is
/// `expected_p` (never true for an empty `expected_p`, which no key has).
pub(crate) fn record_has_key(txt: &str, expected_p: &str) -> bool {
    !expected_p.is_empty()
        && KeyRecord::parse(txt)
            .ok()
            .and_then(|r| r.key)
            .is_some_and(|k| k.to_base64() == expected_p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tokens_and_keys() {
        let config = RegistryConfig::new("eu-west-1", "dkim.example.net").unwrap();
        let d = DomainName::parse("example.com").unwrap();
        assert_eq!(verification_name(&config, &d), "_easydkim.example.com");
        assert_eq!(domainkey_name("t1", &d), "t1._domainkey.example.com");
        assert_eq!(key_name("t1", &d), "t1.example.com");
        assert!(same_name("A.Example.COM.", "a.example.com"));
        assert!(!same_name("a.example.com", "b.example.com"));
        assert!(holds_token(&config, " tok ", "tok"));
        assert!(holds_token(&config, "easydkim: tok", "tok"));
        assert!(!holds_token(&config, "other:tok", "tok"));
        assert!(!record_has_key("v=DKIM1; p=", ""));
    }
}
