//! The records an identity needs, as the tenant downloads them (CSV), as zone-file lines,
//! and with names relative to a zone (the guide page `docs::dns_setup`). Tokens are fixed
//! (`EasyDkimWith`) and the verification token comes from a counting `TokenSource`, so
//! every byte is asserted literally.

use easydkim::{
    DnsRecord, DomainName, DomainSetup, EasyKey, IdentityRegistry, Publisher, Purpose, RecordType,
    Selector, SigningKey, StaticDns, Status, Token, Verifier, VerifyOptions,
};

use crate::key;
use crate::precedence::{message_from, new_signatures, refresh, registry, statuses, tag, H, T0};
use crate::support::{block_on, publish};

const T1: &str = "abcdefghijklmnopqrstuvwxyz234567";
const T2: &str = "bcdefghijklmnopqrstuvwxyz234567a";
const T3: &str = "cdefghijklmnopqrstuvwxyz234567ab";

/// Base64 of 32 bytes of 0x01: the first token the counting source gives.
const VERIFY_1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
/// Base64 of 32 bytes of 0x02: the second.
const VERIFY_2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

/// `p=` of tests/data/keys/ed25519.pem (raw 32-byte key), computed with OpenSSL.
const ED25519_P: &str = "kEG256UQuQ/Hd9fQWXgBlNaTbFuNpjImwIsekxHQq7c=";
/// `p=` of tests/data/keys/rsa1024.pem (SubjectPublicKeyInfo), computed with OpenSSL.
const RSA1024_P: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDGfeQtrAKPC7Bg2ffIjG3r5hcxwFUc+94wYMkR6iC8OOnX0xI4dNGVxWV4cR3mVHWuT+9gNoerSWGDi2pFiN0dqXbhfJAwZRq/bg3Vx1BK+YqbL0RzYRHeP69LJdllJk7xKf0bEvwfDlI6RHV8xjvi04QkZ1QYYEFCrPnpx0ZPoQIDAQAB";

fn tok(s: &str) -> Token {
    Token::parse(s).expect("token")
}

/// Tokens T1, T2, T3 with the Ed25519, RSA-1024 and Ed25519 test keys.
fn fixed_keys() -> Vec<EasyKey> {
    let ed = key("ed25519.pem");
    vec![
        EasyKey {
            token: tok(T1),
            key: ed.clone(),
        },
        EasyKey {
            token: tok(T2),
            key: key("rsa1024.pem"),
        },
        EasyKey {
            token: tok(T3),
            key: ed,
        },
    ]
}

fn known_identity() -> (IdentityRegistry, Vec<DnsRecord>, Vec<DnsRecord>) {
    let reg = registry();
    let id = reg
        .create_domain_with("example.com", DomainSetup::EasyDkimWith(fixed_keys()), T0)
        .expect("create");
    let tenant = reg.tenant_records(&id);
    let operator = reg.operator_records(&id);
    (reg, tenant, operator)
}

fn zone(s: &str) -> DomainName {
    DomainName::parse(s).expect("zone")
}

#[test]
fn tenant_records_as_data() {
    let (_, tenant, operator) = known_identity();
    let shape: Vec<(RecordType, Publisher, Purpose)> = tenant
        .iter()
        .chain(&operator)
        .map(|r| (r.record_type, r.publisher, r.purpose))
        .collect();
    use Publisher::{Operator, Tenant};
    use RecordType::{Cname, Txt};
    assert_eq!(
        shape,
        [
            (Txt, Tenant, Purpose::Verification),
            (Cname, Tenant, Purpose::DkimDelegation),
            (Cname, Tenant, Purpose::DkimDelegation),
            (Cname, Tenant, Purpose::DkimDelegation),
            (Txt, Operator, Purpose::DkimKey),
            (Txt, Operator, Purpose::DkimKey),
            (Txt, Operator, Purpose::DkimKey),
        ]
    );
}

#[test]
fn tenant_csv_is_exact() {
    let (_, tenant, _) = known_identity();
    let expected = format!(
        "Type,Name,Value\r\n\
         TXT,_easydkim.example.com,{VERIFY_1}\r\n\
         CNAME,{T1}._domainkey.example.com,{T1}.dkim.mail.example.net\r\n\
         CNAME,{T2}._domainkey.example.com,{T2}.dkim.mail.example.net\r\n\
         CNAME,{T3}._domainkey.example.com,{T3}.dkim.mail.example.net\r\n"
    );
    assert_eq!(DnsRecord::to_csv(&tenant), expected);
}

#[test]
fn operator_csv_is_exact() {
    let (_, _, operator) = known_identity();
    let expected = format!(
        "Type,Name,Value\r\n\
         TXT,{T1}.dkim.mail.example.net,v=DKIM1; k=ed25519; p={ED25519_P}\r\n\
         TXT,{T2}.dkim.mail.example.net,v=DKIM1; k=rsa; p={RSA1024_P}\r\n\
         TXT,{T3}.dkim.mail.example.net,v=DKIM1; k=ed25519; p={ED25519_P}\r\n"
    );
    assert_eq!(DnsRecord::to_csv(&operator), expected);
}

#[test]
fn empty_csv_is_just_the_header() {
    assert_eq!(DnsRecord::to_csv(&[]), "Type,Name,Value\r\n");
    assert_eq!(DnsRecord::to_zone(&[]), "");
}

#[test]
fn zone_lines_are_exact_and_fully_qualified() {
    let (_, tenant, operator) = known_identity();
    let expected_tenant = format!(
        "_easydkim.example.com. IN TXT \"{VERIFY_1}\"\n\
         {T1}._domainkey.example.com. IN CNAME {T1}.dkim.mail.example.net.\n\
         {T2}._domainkey.example.com. IN CNAME {T2}.dkim.mail.example.net.\n\
         {T3}._domainkey.example.com. IN CNAME {T3}.dkim.mail.example.net.\n"
    );
    assert_eq!(DnsRecord::to_zone(&tenant), expected_tenant);
    let expected_operator = format!(
        "{T1}.dkim.mail.example.net. IN TXT \"v=DKIM1; k=ed25519; p={ED25519_P}\"\n\
         {T2}.dkim.mail.example.net. IN TXT \"v=DKIM1; k=rsa; p={RSA1024_P}\"\n\
         {T3}.dkim.mail.example.net. IN TXT \"v=DKIM1; k=ed25519; p={ED25519_P}\"\n"
    );
    assert_eq!(DnsRecord::to_zone(&operator), expected_operator);
    assert_eq!(
        tenant[1].zone_line(),
        format!("{T1}._domainkey.example.com. IN CNAME {T1}.dkim.mail.example.net.")
    );
}

#[test]
fn second_identity_gets_the_next_verification_token_and_its_own_names() {
    let (reg, _, _) = known_identity();
    let keys: Vec<EasyKey> = ["newsa", "newsb", "newsc"]
        .iter()
        .map(|t| EasyKey {
            token: tok(&format!("{t:q<32}")),
            key: key("ed25519.pem"),
        })
        .collect();
    let id = reg
        .create_domain_with("news.example.com", DomainSetup::EasyDkimWith(keys), T0)
        .expect("create");
    let n = |t: &str| format!("{t:q<32}");
    let (a, b, c) = (n("newsa"), n("newsb"), n("newsc"));
    assert_eq!(
        DnsRecord::to_csv(&reg.tenant_records(&id)),
        format!(
            "Type,Name,Value\r\n\
             TXT,_easydkim.news.example.com,{VERIFY_2}\r\n\
             CNAME,{a}._domainkey.news.example.com,{a}.dkim.mail.example.net\r\n\
             CNAME,{b}._domainkey.news.example.com,{b}.dkim.mail.example.net\r\n\
             CNAME,{c}._domainkey.news.example.com,{c}.dkim.mail.example.net\r\n"
        )
    );
}

#[test]
fn relative_names_for_hosts_that_append_the_zone() {
    let (reg, tenant, operator) = known_identity();
    let example = zone("example.com");
    let rel: Vec<Option<String>> = tenant.iter().map(|r| r.relative_name(&example)).collect();
    assert_eq!(
        rel,
        [
            Some("_easydkim".to_string()),
            Some(format!("{T1}._domainkey")),
            Some(format!("{T2}._domainkey")),
            Some(format!("{T3}._domainkey")),
        ]
    );
    // Operator records, relative to the signing zone; not inside the tenant's zone.
    let signing = zone("dkim.mail.example.net");
    let rel: Vec<Option<String>> = operator.iter().map(|r| r.relative_name(&signing)).collect();
    assert_eq!(
        rel,
        [
            Some(T1.to_string()),
            Some(T2.to_string()),
            Some(T3.to_string())
        ]
    );
    assert!(operator.iter().all(|r| r.relative_name(&example).is_none()));
    assert!(tenant
        .iter()
        .all(|r| r.relative_name(&zone("ample.com")).is_none()));

    // The apex (the verification TXT for hosts that refuse underscores).
    let apex = DnsRecord::new(
        RecordType::Txt,
        "example.com",
        format!("easydkim:{VERIFY_1}"),
        Publisher::Tenant,
        Purpose::Verification,
    );
    assert_eq!(apex.relative_name(&example).as_deref(), Some("@"));

    // A subdomain identity inside the tenant's zone.
    let keys: Vec<EasyKey> = ["sub", "suc", "sud"]
        .iter()
        .map(|t| EasyKey {
            token: tok(&format!("{t:q<32}")),
            key: key("ed25519.pem"),
        })
        .collect();
    let news = reg
        .create_domain_with("news.example.com", DomainSetup::EasyDkimWith(keys), T0)
        .expect("create");
    let records = reg.tenant_records(&news);
    let rel: Vec<String> = records
        .iter()
        .map(|r| r.relative_name(&example).expect("inside example.com"))
        .collect();
    let t = |s: &str| format!("{s:q<32}");
    assert_eq!(
        rel,
        [
            "_easydkim.news".to_string(),
            format!("{}._domainkey.news", t("sub")),
            format!("{}._domainkey.news", t("suc")),
            format!("{}._domainkey.news", t("sud")),
        ]
    );
    // Relative to its own zone, when the subdomain is delegated.
    assert_eq!(
        records[1].relative_name(&zone("news.example.com")),
        Some(format!("{}._domainkey", t("sub")))
    );
}

#[test]
fn bring_your_own_key_and_email_identities() {
    let reg = registry();
    let k = key("rsa1024.pem");
    let id = reg
        .create_domain_with(
            "example.org",
            DomainSetup::BringYourOwnKey {
                selector: Selector::parse("s2024").expect("selector"),
                key: k,
            },
            T0,
        )
        .expect("create");
    assert_eq!(
        DnsRecord::to_csv(&reg.tenant_records(&id)),
        format!(
            "Type,Name,Value\r\n\
             TXT,_easydkim.example.org,{VERIFY_1}\r\n\
             TXT,s2024._domainkey.example.org,v=DKIM1; k=rsa; p={RSA1024_P}\r\n"
        )
    );
    assert_eq!(reg.tenant_records(&id)[1].purpose, Purpose::DkimKey);
    assert_eq!(reg.operator_records(&id), vec![]);

    let (email, _) = reg.create_email("alice@example.org", T0).expect("email");
    assert_eq!(reg.tenant_records(&email), vec![]);
    assert_eq!(reg.operator_records(&email), vec![]);

    let plain = reg
        .create_domain_with("plain.example", DomainSetup::None, T0)
        .expect("create");
    let records = reg.tenant_records(&plain);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].name, "_easydkim.plain.example");
}

#[test]
fn internationalised_domain_records_use_a_labels() {
    let reg = registry();
    let id = reg
        .create_domain_with(
            "Bücher.example",
            DomainSetup::EasyDkimWith(fixed_keys()),
            T0,
        )
        .expect("create");
    let names: Vec<String> = reg
        .tenant_records(&id)
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(
        names,
        [
            "_easydkim.xn--bcher-kva.example".to_string(),
            format!("{T1}._domainkey.xn--bcher-kva.example"),
            format!("{T2}._domainkey.xn--bcher-kva.example"),
            format!("{T3}._domainkey.xn--bcher-kva.example"),
        ]
    );
}

/// The quoted character-strings of a zone-file TXT line, unescaped.
fn zone_strings(line: &str) -> Vec<String> {
    let (_, rest) = line.split_once(" IN TXT ").expect("TXT line");
    let mut out = Vec::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next().expect("closing quote") {
                        '"' => break,
                        '\\' => s.push(chars.next().expect("escaped char")),
                        c => s.push(c),
                    }
                }
                out.push(s);
            }
            ' ' => {}
            other => panic!("unexpected {other:?} in {line}"),
        }
    }
    out
}

#[test]
fn rsa4096_key_record_is_split_into_255_byte_strings_that_verify() {
    let big = key("rsa4096.pem");
    assert_eq!(big.bits(), 4096);
    let reg = registry();
    let keys = [T1, T2, T3]
        .iter()
        .map(|t| EasyKey {
            token: tok(t),
            key: big.clone(),
        })
        .collect();
    let id = reg
        .create_domain_with("example.com", DomainSetup::EasyDkimWith(keys), T0)
        .expect("create");
    let operator = reg.operator_records(&id);
    let record = &operator[0];
    assert!(
        record
            .value
            .starts_with("v=DKIM1; k=rsa; p=MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEA"),
        "{}",
        record.value
    );
    assert!(record.value.len() > 2 * 255, "{}", record.value.len());

    let line = record.zone_line();
    assert!(line.starts_with(&format!("{T1}.dkim.mail.example.net. IN TXT \"")));
    let strings = zone_strings(&line);
    assert_eq!(strings.len(), record.value.len().div_ceil(255));
    assert!(strings.iter().all(|s| s.len() <= 255));
    assert!(strings[..strings.len() - 1].iter().all(|s| s.len() == 255));
    assert_eq!(strings.concat(), record.value);
    assert_eq!(DnsRecord::split_txt(&record.value).concat(), record.value);
    let zone_text = DnsRecord::to_zone(&operator);
    assert_eq!(zone_text.lines().count(), 3);
    assert!(zone_text.ends_with('\n'));

    // Published as a resolver would join the strings: the registry verifies the setup and
    // its signatures verify with the key from that record.
    let dns = StaticDns::new();
    publish(&dns, &reg.tenant_records(&id));
    for r in &operator {
        dns.add_txt(&r.name, &zone_strings(&r.zone_line()).concat());
    }
    refresh(&reg, &dns, T0 + H);
    assert_eq!(
        statuses(&reg, "example.com"),
        (
            easydkim::VerificationStatus::Success,
            easydkim::VerificationStatus::Success
        )
    );
    let input = message_from("alice@example.com");
    let out = reg.sign_at(&input, T0 + H).expect("sign");
    let sigs = new_signatures(&out.message, &input);
    assert_eq!(sigs.len(), 1);
    assert_eq!(tag(&sigs[0], "s"), T1);
    assert_eq!(tag(&sigs[0], "a"), "rsa-sha256");
    let verifier = Verifier::new(VerifyOptions::default().with_now(Some(T0 + H)));
    let results = block_on(verifier.verify(&dns, &out.message)).expect("verify");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].status, Status::Pass, "{results:?}");
}

#[test]
fn generated_keys_publish_the_key_that_signs() {
    // Not fixed keys: the registry's own generation (RSA-1024 as in the original Easy DKIM).
    let mut c = crate::precedence::config();
    c.key_spec = easydkim::KeySpec::Rsa1024;
    let reg = IdentityRegistry::new(c);
    let id = reg.create_domain("example.net", T0).expect("create");
    let operator = reg.operator_records(&id);
    let setup = id.dkim().expect("setup");
    let tokens = setup.tokens();
    assert_eq!(tokens.len(), 3);
    for (t, r) in tokens.iter().zip(&operator) {
        assert!(t
            .as_str()
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7')));
        assert_eq!(t.as_str().len(), 32);
        assert_eq!(r.name, format!("{t}.dkim.mail.example.net"));
        assert!(
            r.value.starts_with("v=DKIM1; k=rsa; p=MIGfMA0G"),
            "{}",
            r.value
        );
    }
    let (selector, signing): (&str, &SigningKey) = setup.signing();
    assert_eq!(selector, tokens[0].as_str());
    assert_eq!(operator[0].value, signing.dns_record());
}

/// RSA-2048 by default; the original Easy DKIM setup (1024-bit keys) is the one line
/// documented on `RegistryConfig`, and then every key, record and signature is 1024-bit.
#[test]
fn default_keys_are_2048_bit_and_the_original_1024_bit_setup_is_one_line() {
    let config =
        easydkim::RegistryConfig::new("eu-west-1", "dkim.mail.example.net").expect("config");
    assert_eq!(config.key_spec, easydkim::KeySpec::Rsa2048);

    let mut config = config;
    config.key_spec = easydkim::KeySpec::Rsa1024; // the documented line
    let reg = IdentityRegistry::new(config);
    let id = reg.create_domain("example.net", T0).expect("create");
    assert_eq!(id.current_key_spec(), Some(easydkim::KeySpec::Rsa1024));
    assert_eq!(id.next_key_spec(), Some(easydkim::KeySpec::Rsa1024));
    let keys: Vec<usize> = match id.dkim().expect("setup") {
        easydkim::DkimSetup::Easy { keys, .. } => keys.iter().map(|k| k.key.bits()).collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(keys, [1024, 1024, 1024]);
    for r in reg.operator_records(&id) {
        // A 1024-bit RSA SubjectPublicKeyInfo is 162 bytes: 216 base64 characters.
        let p = r.value.rsplit("p=").next().expect("p=");
        assert_eq!(p.len(), 216, "{}", r.value);
    }
}

/// `EasyDkimWith` takes exactly three keys; anything else is a typed error naming the count.
#[test]
fn easy_dkim_with_needs_three_keys() {
    let reg = IdentityRegistry::new(crate::precedence::config());
    for n in [0, 2, 4] {
        let keys: Vec<_> = (0..n)
            .map(|i| easydkim::EasyKey {
                token: crate::precedence::token("wk", i % 3),
                key: SigningKey::generate(easydkim::KeySpec::Ed25519).expect("key"),
            })
            .collect();
        let err = reg
            .create_domain_with("example.com", DomainSetup::EasyDkimWith(keys), T0)
            .expect_err("refused");
        assert_eq!(err, easydkim::RegistryError::WrongEasyKeyCount { got: n });
        assert_eq!(
            err.to_string(),
            format!("Easy DKIM needs 3 tokens and keys, got {n}")
        );
    }
    assert!(reg.get_str("example.com").is_err(), "nothing was created");
}

/// What `DnsRecord::to_zone` prints is what `StaticDns::from_zone` reads: an RSA-4096
/// identity's tenant CNAMEs, verification TXT and 255-byte-split key records, written as
/// zone text and read back, resolve to the same values as the records published directly;
/// the registry verifies from them and its signature verifies.
#[test]
fn zone_text_round_trips_through_static_dns() {
    let big = key("rsa4096.pem");
    let reg = registry();
    let keys = [T1, T2, T3]
        .iter()
        .map(|t| EasyKey {
            token: tok(t),
            key: big.clone(),
        })
        .collect();
    let id = reg
        .create_domain_with("example.com", DomainSetup::EasyDkimWith(keys), T0)
        .expect("create");
    let mut records = reg.tenant_records(&id);
    records.extend(reg.operator_records(&id));
    let text = DnsRecord::to_zone(&records);
    let from_text = StaticDns::from_zone(&text).expect("our own zone text reads back");
    let direct = StaticDns::new();
    direct.publish(&records);
    for r in &records {
        let ask = |dns: &StaticDns| match r.record_type {
            RecordType::Txt => block_on(<StaticDns as easydkim::DnsVerifier>::txt(dns, &r.name)),
            RecordType::Cname => {
                block_on(<StaticDns as easydkim::DnsVerifier>::cname(dns, &r.name))
            }
        };
        assert_eq!(ask(&from_text), ask(&direct), "{}", r.zone_line());
        assert!(ask(&from_text).is_ok());
    }
    refresh(&reg, &from_text, T0 + H);
    assert_eq!(
        statuses(&reg, "example.com"),
        (
            easydkim::VerificationStatus::Success,
            easydkim::VerificationStatus::Success
        )
    );
    let input = message_from("alice@example.com");
    let out = reg.sign_at(&input, T0 + H).expect("sign");
    let verifier = Verifier::new(VerifyOptions::default().with_now(Some(T0 + H)));
    let results = block_on(verifier.verify(&from_text, &out.message)).expect("verify");
    assert_eq!(results[0].status, Status::Pass, "{results:?}");

    // A line that is not zone syntax is an error naming it, not a silently missing record.
    let broken = text.replacen(" IN TXT ", " ", 1);
    let err = StaticDns::from_zone(&broken).unwrap_err();
    let line = records
        .iter()
        .position(|r| r.record_type == RecordType::Txt)
        .unwrap()
        + 1;
    assert_eq!(err.line, line, "{err}");
    assert!(err.to_string().contains("no record type"), "{err}");
}
