#!/usr/bin/python3
"""A loopback SMTP sink for the end-to-end tests (tests/it/smtp.rs), on aiosmtpd.

usage: sink.py --dir DIR [--host 127.0.0.1] [--port 0] [--lifetime SECONDS]

Listens on HOST:PORT (loopback only; port 0 picks a free one) and prints one line
    PORT <n>
on stdout once it accepts connections. Every message it receives is stored in DIR as
    NNNN.json   {"mail_from": ..., "rcpt_tos": [...], "peer": ...}
    NNNN.eml    the DATA bytes exactly as received (after SMTP dot-unstuffing,
                RFC 5321 4.5.2; line endings untouched)
NNNN counts from 0001; the .eml appears last (written to a temporary name and renamed),
so its presence means the message is complete. The reply to DATA is
    250 OK stored NNNN
so a client can tell which file holds its message.

The sink stops when its standard input is closed (the test process ended), on SIGTERM or
SIGINT, or after --lifetime seconds (default 600), whichever comes first. It never
relays anything. Needs Debian python3-aiosmtpd (tests/smtp/install.sh).
"""

import argparse
import asyncio
import ipaddress
import json
import os
import signal
import sys
import threading

try:
    from aiosmtpd.smtp import SMTP
except ImportError:
    sys.stderr.write("sink.py: python3-aiosmtpd not installed (run tests/smtp/install.sh)\n")
    sys.exit(2)


class Store:
    """aiosmtpd handler: writes each message into a directory."""

    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.directory, "%04d" % self.count)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "peer": str(session.peer),
        }
        with open(base + ".json", "w") as f:
            json.dump(meta, f)
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".tmp", base + ".eml")
        return "250 OK stored %04d" % self.count


def main():
    ap = argparse.ArgumentParser(description="loopback SMTP sink")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--lifetime", type=float, default=600.0)
    args = ap.parse_args()

    if not ipaddress.ip_address(args.host).is_loopback:
        sys.stderr.write("sink.py: refusing to listen on non-loopback %s\n" % args.host)
        return 2
    os.makedirs(args.dir, exist_ok=True)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    store = Store(args.dir)

    def factory():
        # A fixed hostname: the default would look the machine's FQDN up in DNS.
        return SMTP(store, hostname="sink.localhost", ident="easydkim test sink",
                    decode_data=False, data_size_limit=64 * 1024 * 1024)

    server = loop.run_until_complete(loop.create_server(factory, host=args.host, port=args.port))
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write("PORT %d\n" % port)
    sys.stdout.flush()

    def stdin_watch():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except Exception:
            pass
        loop.call_soon_threadsafe(loop.stop)

    threading.Thread(target=stdin_watch, daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    loop.call_later(args.lifetime, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
