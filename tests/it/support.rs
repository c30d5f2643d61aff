//! Helpers shared by the integration tests (one definition each).

use std::net::{TcpListener, UdpSocket};

use easydkim::{DnsRecord, Event, StaticDns};

/// Runs a future to completion on a fresh current-thread runtime (I/O and timers on).
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// A port free for both UDP and TCP on 127.0.0.1 (free when we looked).
#[allow(dead_code)] // used by the feature-gated suites only
pub(crate) fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket on 127.0.0.1");
        let port = udp.local_addr().expect("local address").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The message as an MTA puts it on the wire: CRLF line ends, final CRLF.
#[allow(dead_code)] // not used by every feature combination
pub(crate) fn to_wire(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 64);
    for (i, &b) in msg.iter().enumerate() {
        if b == b'\n' && (i == 0 || msg[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Asserts `got` holds exactly the events of `expected`, each once, in any order.
#[allow(dead_code)] // not used by every feature combination
pub(crate) fn assert_same_events(got: &[Event], expected: &[Event], context: &str) {
    let mut missing: Vec<&Event> = expected.iter().collect();
    let mut unexpected = Vec::new();
    for e in got {
        match missing.iter().position(|m| *m == e) {
            Some(i) => {
                missing.swap_remove(i);
            }
            None => unexpected.push(e),
        }
    }
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{context}: missing {missing:#?}\nunexpected (or reported twice) {unexpected:#?}"
    );
}

/// Whether a suite's external tools are all there (`missing` is empty). Without
/// `EASYDKIM_INTEROP=1` a missing tool skips the test loudly; with it, the test fails.
#[allow(dead_code)] // not used by every feature combination
pub(crate) fn tools_present(suite: &str, missing: &[&str], install: &str) -> bool {
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{suite} tools missing: {} (install with {install})",
        missing.join(", ")
    );
    assert!(
        std::env::var("EASYDKIM_INTEROP").as_deref() != Ok("1"),
        "{msg}; EASYDKIM_INTEROP=1 requires them"
    );
    eprintln!("SKIPPED: {msg}");
    false
}

/// Publishes records in the in-memory DNS (TXT values unsplit, CNAMEs as given).
pub(crate) fn publish(dns: &StaticDns, records: &[DnsRecord]) {
    dns.publish(records);
}
