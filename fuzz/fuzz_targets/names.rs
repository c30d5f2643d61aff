//! DomainName::parse, EmailAddress::parse and Selector::parse on arbitrary text: never
//! panic, and a parsed name is canonical (parsing its text form gives it back).
#![no_main]

use easydkim::{DomainName, EmailAddress, Selector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);

    if let Ok(d) = DomainName::parse(&input) {
        assert!(d.as_str().len() <= 253, "{d} is too long");
        assert_eq!(
            DomainName::parse(d.as_str()).as_ref(),
            Ok(&d),
            "domain canonical"
        );
        assert_eq!(DomainName::parse(&d.fqdn()).as_ref(), Ok(&d), "fqdn parses");
        let _ = d.to_unicode();
        for a in d.ancestors() {
            assert!(d.is_subdomain_of(&a), "{d} under {a}");
        }
        if let Some(p) = d.parent() {
            assert!(d.is_subdomain_of(&p));
        }
        let _ = d.prepend("_domainkey");
    }

    if let Ok(e) = EmailAddress::parse(&input) {
        let text = e.to_string();
        assert_eq!(
            EmailAddress::parse(&text).as_ref(),
            Ok(&e),
            "address canonical"
        );
        if let Some(base) = e.without_tag() {
            assert_eq!(base.domain(), e.domain());
            assert!(e.local_part().starts_with(base.local_part()));
        }
    }

    if let Ok(s) = Selector::parse(&input) {
        assert_eq!(s.as_str(), input, "selector kept as given");
        let _ = DomainName::parse("example.com")
            .expect("valid")
            .prepend(s.as_str());
    }
});
