#!/usr/bin/python3
"""Print the zone-file line (NAME<TAB>TXT) publishing the public half of a key.

usage: zone_record.py KEYFILE DOMAIN SELECTOR >> ZONE

KEYFILE: RSA PEM (PKCS#1 or PKCS#8), Ed25519 PKCS#8 PEM, or base64 Ed25519 seed.
Output:  SELECTOR._domainkey.DOMAIN<TAB>v=DKIM1; k=rsa|ed25519; p=BASE64
Needs openssl (RSA) and python3-nacl (Ed25519 seed).
"""

import base64
import re
import subprocess
import sys

ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


def ed25519_pub(seed):
    import nacl.signing
    return nacl.signing.SigningKey(seed).verify_key.encode()


def main(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: zone_record.py KEYFILE DOMAIN SELECTOR >> ZONE\n")
        return 2
    path, domain, selector = argv[1:]
    with open(path, "rb") as f:
        data = f.read()
    if b"-----BEGIN" in data:
        m = re.search(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END", data, re.S)
        der = base64.b64decode(b"".join(m.group(2).split()))
        if der.startswith(ED25519_PKCS8_PREFIX) and len(der) == 48:
            k, p = "ed25519", base64.b64encode(ed25519_pub(der[16:]))
        else:
            spki = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                                  check=True, capture_output=True).stdout
            k, p = "rsa", base64.b64encode(spki)
    else:
        k, p = "ed25519", base64.b64encode(ed25519_pub(base64.b64decode(b"".join(data.split()))))
    print("%s._domainkey.%s\tv=DKIM1; k=%s; p=%s" % (selector, domain.rstrip("."), k, p.decode()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
