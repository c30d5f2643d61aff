//! easydkim::signature::parse_tag_list on arbitrary text: never panics, and every tag's
//! value span points at its value in the input.
#![no_main]

use easydkim::signature::parse_tag_list;
use libfuzzer_sys::fuzz_target;

fn is_fws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let Ok(tags) = parse_tag_list(&input) else {
        return;
    };
    for (i, tag) in tags.iter().enumerate() {
        assert!(!tag.name.is_empty());
        let raw = input
            .get(tag.value_span.clone())
            .expect("value span is inside the input, on char boundaries");
        assert_eq!(raw.trim_matches(is_fws), tag.value, "span of {}", tag.name);
        assert!(
            tags[..i].iter().all(|t| t.name != tag.name),
            "duplicate tag {} accepted",
            tag.name
        );
    }
});
