#!/usr/bin/env python3
"""Offline RustSec check: the advisories in ADVISORIES against the crate versions that
Cargo.lock resolves for easydkim (every feature) and for the whole workspace.

CI machines cannot fetch the RustSec database (GitHub), so this table is what CI checks;
`cargo deny check advisories` (deny.toml) checks the full database where the network
allows it. Each entry: id, crate, a predicate on the version that is true when affected.
A finding in easydkim's own graph fails; one only in the unpublished `benches/` member is
reported and passes only if deny.toml ignores it with a reason.

usage: .ci/advisories.py [Cargo.lock]
"""
import os
import re
import sys
import tomllib


def v(s):
    return tuple(int(x) for x in re.match(r"(\d+)\.(\d+)\.(\d+)", s).groups())


ADVISORIES = [
    # id, crate, affected(version), what
    ("RUSTSEC-2023-0071", "rsa", lambda x: x < (0, 10, 0),
     "Marvin attack: non-constant-time RSA private-key arithmetic (no fix in 0.9)"),
    ("RUSTSEC-2024-0421", "idna", lambda x: x < (1, 0, 0),
     "Punycode labels that decode to ASCII accepted"),
    ("RUSTSEC-2025-0009", "ring", lambda x: x < (0, 17, 12),
     "some AES functions may panic when overflow checking is enabled"),
    ("RUSTSEC-2024-0344", "curve25519-dalek", lambda x: x < (4, 1, 3),
     "timing variability in Scalar29::sub / Scalar52::sub"),
    ("RUSTSEC-2022-0093", "ed25519-dalek", lambda x: x < (2, 0, 0),
     "double public key signing function oracle"),
    ("RUSTSEC-2023-0044", "openssl", lambda x: x < (0, 10, 55),
     "X509VerifyParamRef::set_host buffer over-read"),
    ("RUSTSEC-2024-0357", "openssl", lambda x: x < (0, 10, 66),
     "MemBio::get_buf undefined behaviour with an empty buffer"),
    ("RUSTSEC-2025-0004", "openssl", lambda x: x < (0, 10, 70),
     "ssl::select_next_proto use after free"),
    ("RUSTSEC-2024-0336", "rustls", lambda x: (0, 23, 0) <= x < (0, 23, 5),
     "complete_io could fall into an infinite loop on network input"),
    ("RUSTSEC-2024-0436", "paste", lambda x: True,
     "unmaintained (archived); pulp 0.22 depends on it, so easydkim stays on pulp 0.21"),
]


def closure(packages, root):
    by_name = {}
    for p in packages:
        by_name.setdefault(p["name"], []).append(p)
    seen, todo = set(), [root]
    while todo:
        p = todo.pop()
        key = (p["name"], p["version"])
        if key in seen:
            continue
        seen.add(key)
        for d in p.get("dependencies", []):
            parts = d.split(" ")
            cands = by_name.get(parts[0], [])
            if len(parts) > 1:
                cands = [c for c in cands if c["version"] == parts[1]]
            todo.extend(cands)
    return seen


def ignored():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deny.toml"), "rb") as f:
        deny = tomllib.load(f)
    out = {}
    for e in deny.get("advisories", {}).get("ignore", []):
        if isinstance(e, dict) and e.get("reason"):
            out[e["id"]] = e["reason"]
    return out


def main():
    lock = sys.argv[1] if len(sys.argv) > 1 else "Cargo.lock"
    with open(lock, "rb") as f:
        packages = tomllib.load(f)["package"]
    root = next(p for p in packages if p["name"] == "easydkim" and "source" not in p)
    ours = closure(packages, root)
    everything = {(p["name"], p["version"]) for p in packages}
    allowed = ignored()
    failed = False
    for aid, crate, affected, what in ADVISORIES:
        for name, version in sorted(everything):
            if name != crate or not affected(v(version)):
                continue
            where = "easydkim" if (name, version) in ours else "workspace member only"
            if where == "easydkim":
                print(f"FAIL {aid} {name} {version} ({what}) in easydkim's graph")
                failed = True
            elif aid in allowed:
                print(f"ok   {aid} {name} {version}: ignored in deny.toml: {allowed[aid]}")
            else:
                print(f"FAIL {aid} {name} {version} ({what}) in the workspace, not ignored")
                failed = True
    print(f"advisories.py: {len(ADVISORIES)} advisories checked against {lock}: "
          + ("FAILED" if failed else "none affects easydkim"))
    sys.exit(1 if failed else 0)


main()
