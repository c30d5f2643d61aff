#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ (git-ignored) from the test fixtures: the messages in
# tests/data/messages and the RFC vectors in tests/data/rfc, the same messages signed with the test keys (for verify_message;
# needs the `easydkim` command (feature cli), skipped if it does not build), the test keys and their DNS
# records, and a few names and tag lists. Idempotent: files are named after their content.
set -euo pipefail
cd "$(dirname "$0")"
root=..
data="$root/tests/data"
targets=(sign_message canon_chunks tag_list key_record key_load names verify_message zone)
for t in "${targets[@]}"; do mkdir -p "corpus/$t"; done

# add TARGET NAME: stores stdin as corpus/TARGET/NAME-<sha1 prefix>.
add() {
    local tmp sum
    tmp=$(mktemp)
    cat >"$tmp"
    sum=$(sha1sum "$tmp" | cut -c1-12)
    mv "$tmp" "corpus/$1/$2-$sum"
}

for m in "$data"/messages/*.eml; do
    base=$(basename "$m" .eml)
    for t in sign_message verify_message; do add "$t" "$base" <"$m"; done
    # canon_chunks: two little-endian u16 cut points, then the body.
    { printf '\x10\x00\x40\x00'; cat "$m"; } | add canon_chunks "$base"
done

for k in "$data"/keys/*.pem "$data"/keys/*.b64 "$data"/rfc/*.pem "$data"/rfc/*.b64; do
    add key_load "$(basename "$k")" <"$k"
done

# The RFC vectors (tests/data/rfc): their messages, signed and unsigned, and key records.
for m in "$data"/rfc/*.eml; do
    base=$(basename "$m" .eml)
    for t in sign_message verify_message; do add "$t" "$base" <"$m"; done
done
while IFS=$'\t' read -r name value; do
    case "$name" in '#'* | '') continue ;; esac
    printf '%s' "$value" | add key_record "rfc-${name%%.*}"
done <"$data/rfc/dns.txt"
add zone rfc-dns <"$data/rfc/dns.txt"
printf '%s\n' '$ORIGIN example.com.' '$TTL 300' '@ IN SOA ns1 host ( 1 2 3' ' 4 5 ) ; soa' \
    'sel._domainkey 3600 IN TXT "v=DKIM1; k=ed25519; " "p=abc\"\\\065"' \
    '  IN TXT "second"' 'x1._domainkey IN CNAME x1.dkim.example.net.' | add zone standard

for n in example.com EXAMPLE.com. news.example.com Bücher.example xn--bcher-kva.example \
    a-b.c-d.example 192.0.2.1 '*.example.com' com alice@example.com alice+news@example.com \
    '"john doe"@example.com' 'a..b@example.com' sel1 Mail_2024.eu _domainkey.example.com; do
    printf '%s' "$n" | add names name
done

for r in 'v=DKIM1; k=rsa; p=' 'v=DKIM1; k=ed25519; t=y:s; h=sha256; s=email; p=AAAA' \
    'k=rsa; n=notes; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ'; do
    printf '%s' "$r" | add key_record record
    printf '%s' "$r" | add tag_list record
done
printf '%s' 'v=1; a=rsa-sha256; c=relaxed/simple; d=example.com; s=sel; t=1700000000; h=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA' \
    | add tag_list signature

# Signed copies of the messages (selector `sel` = Ed25519, `rsa` = RSA-1024, at the time the
# verify_message target verifies at), and the key records.
NOW=1700000000
if (cd "$root" && cargo build -q --features cli --bin easydkim) 2>/dev/null; then
    bin="${CARGO_TARGET_DIR:-$root/target}/debug/easydkim"
    sign() { "$bin" sign "$@"; }
    sign --key "$data/keys/ed25519.pem" --print-record | tr -d '\n' | add key_record ed25519
    sign --key "$data/keys/rsa1024.pem" --print-record | tr -d '\n' | add key_record rsa1024
    sign --key "$data/keys/rsa2048.pem" --print-record | tr -d '\n' | add key_record rsa2048
    i=0
    for m in "$data"/messages/*.eml; do
        base=$(basename "$m" .eml)
        canons=(simple/simple simple/relaxed relaxed/simple relaxed/relaxed)
        canon=${canons[$((i % 4))]}
        i=$((i + 1))
        sign --key "$data/keys/ed25519.pem" --domain example.com --selector sel \
            --canon "$canon" --time "$NOW" <"$m" 2>/dev/null >"corpus/.signed" || continue
        add verify_message "$base-ed25519" <"corpus/.signed"
        sign --key "$data/keys/rsa1024.pem" --domain example.com --selector rsa \
            --canon "$canon" --time "$NOW" <"corpus/.signed" 2>/dev/null | add verify_message "$base-both"
        # The signature header's value, unfolded, for tag_list.
        awk 'NR==1 { sub(/^DKIM-Signature:/, ""); v = $0; next }
             /^[ \t]/ { v = v $0; next } { print v; exit }' "corpus/.signed" | tr -d '\r\n' \
            | add tag_list "$base"
    done
    rm -f corpus/.signed
else
    echo "seed.sh: the easydkim command did not build; verify_message gets unsigned seeds only" >&2
fi

for t in "${targets[@]}"; do
    echo "seed.sh: corpus/$t: $(find "corpus/$t" -type f | wc -l) files"
done
