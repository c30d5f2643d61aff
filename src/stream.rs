//! Streaming signing: the message in chunks, memory bounded by the header block.

use std::io::Read;

use crate::error::{MessageError, SignError};
use crate::message::{Limits, Message};
use crate::signer::{finish_signatures, BodyHashers, Signed, Signer};

enum State {
    /// Collecting the header block; `scanned` bytes have no header end in them.
    Header { buf: Vec<u8>, scanned: usize },
    /// Hashing the body; the header block is kept for the signatures (the hashers boxed:
    /// they are large, and this state is entered once per message).
    Body {
        header: Vec<u8>,
        hashers: Box<BodyHashers>,
    },
}

/// Signs a message fed in chunks, with memory bounded by the header block.
///
/// A [`StreamSigner`] holds the header block until the empty line that ends it (at most
/// [`Limits::max_header_bytes`](crate::Limits::max_header_bytes)), then hashes the body as it comes,
/// one pass per body canonicalization, without keeping it. At the end it returns the
/// DKIM-Signature header(s) to put in front of the message the caller is forwarding.
///
/// ```
/// use std::io::Write;
/// use easydkim::{KeySpec, Signer, SigningKey, StreamSigner};
///
/// let signer = Signer::new(SigningKey::generate(KeySpec::Ed25519)?, "example.com", "sel")?;
/// let mut stream = StreamSigner::new(&[&signer])?;
/// stream.write_all(b"From: a@example.com\r\nSubject: big\r\n\r\n")?;
/// for _ in 0..1000 {
///     stream.write_all(b"a line of a long body\r\n")?;
/// }
/// let signed = stream.finish()?;
/// assert_eq!(signed.headers.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StreamSigner<'s> {
    signers: Vec<&'s Signer>,
    limits: Limits,
    state: State,
}

impl std::fmt::Debug for StreamSigner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSigner")
            .field("signers", &self.signers.len())
            .field("in_body", &matches!(self.state, State::Body { .. }))
            .finish()
    }
}

/// Where the header block ends in `buf` (the index just after the empty line), looking from
/// `from`: the first line that is empty (LF or CRLF), or an empty first line.
fn header_end(buf: &[u8], from: usize) -> Option<usize> {
    if from == 0 {
        if buf.starts_with(b"\n") {
            return Some(1);
        }
        if buf.starts_with(b"\r\n") {
            return Some(2);
        }
    }
    let start = from.saturating_sub(2);
    for lf in memchr::memchr_iter(b'\n', &buf[start..]).map(|i| i + start) {
        match buf.get(lf + 1) {
            Some(b'\n') => return Some(lf + 2),
            Some(b'\r') if buf.get(lf + 2) == Some(&b'\n') => return Some(lf + 3),
            _ => {}
        }
    }
    None
}

impl<'s> StreamSigner<'s> {
    /// A stream signed by `signers` (one signature each, in order), split with the
    /// strictest of their limits (as [`sign_all`](crate::sign_all)).
    pub fn new(signers: &[&'s Signer]) -> Result<Self, SignError> {
        if signers.is_empty() {
            return Err(SignError::NoRequests);
        }
        Ok(StreamSigner {
            limits: crate::signer::strictest_limits(signers),
            signers: signers.to_vec(),
            state: State::Header {
                buf: Vec::with_capacity(4096),
                scanned: 0,
            },
        })
    }

    /// Feeds the next chunk of the message.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), SignError> {
        match &mut self.state {
            State::Body { hashers, .. } => {
                hashers.update(chunk);
                Ok(())
            }
            State::Header { buf, scanned } => {
                buf.extend_from_slice(chunk);
                match header_end(buf, *scanned) {
                    Some(end) => {
                        if end > self.limits.max_header_bytes {
                            return Err(MessageError::HeaderBlockTooLarge {
                                limit: self.limits.max_header_bytes,
                            }
                            .into());
                        }
                        let body = buf.split_off(end);
                        let mut header = std::mem::take(buf);
                        header.shrink_to_fit();
                        // Check the header block now: bad input fails early.
                        let msg = Message::parse_with_limits(&header, &self.limits)?;
                        msg.sender_parts()?;
                        let mut hashers = Box::new(BodyHashers::new(&self.signers)?);
                        hashers.update(&body);
                        self.state = State::Body { header, hashers };
                        Ok(())
                    }
                    None if buf.len() > self.limits.max_header_bytes => {
                        Err(MessageError::HeaderBlockTooLarge {
                            limit: self.limits.max_header_bytes,
                        }
                        .into())
                    }
                    None => {
                        *scanned = buf.len();
                        Ok(())
                    }
                }
            }
        }
    }

    /// Bytes held: the header block (or what has come of it so far); the body is never kept.
    pub fn buffered(&self) -> usize {
        match &self.state {
            State::Header { buf, .. } => buf.capacity(),
            State::Body { header, .. } => header.capacity(),
        }
    }

    /// Ends the message and returns the signature header(s) and warnings.
    pub fn finish(self) -> Result<Signed, SignError> {
        let (header, body_hashes) = match self.state {
            State::Body { header, hashers } => (header, hashers.finish()),
            // No empty line: the message is all header, with no body.
            State::Header { buf, .. } => (buf, BodyHashers::new(&self.signers)?.finish()),
        };
        let msg = Message::parse_with_limits(&header, &self.limits)?;
        msg.sender_parts()?;
        finish_signatures(&self.signers, &msg, body_hashes)
    }
}

impl std::io::Write for StreamSigner<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf).map_err(std::io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An error from [`sign_reader`]: reading failed, or signing did.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The reader failed.
    #[error("reading the message: {0}")]
    Io(#[from] std::io::Error),
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// Signs everything `reader` yields, in 64 KiB reads, with memory bounded by the header block.
pub fn sign_reader(signers: &[&Signer], mut reader: impl Read) -> Result<Signed, StreamError> {
    let mut stream = StreamSigner::new(signers)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => stream.update(&buf[..n])?,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(stream.finish()?)
}

#[cfg(test)]
mod tests {
    use super::header_end;

    #[test]
    fn finds_the_end_of_the_header_block() {
        assert_eq!(header_end(b"A: b\r\n\r\nbody", 0), Some(8));
        assert_eq!(header_end(b"A: b\n\nbody", 0), Some(6));
        assert_eq!(header_end(b"A: b\n\r\nbody", 0), Some(7));
        assert_eq!(header_end(b"\r\nbody", 0), Some(2));
        assert_eq!(header_end(b"A: b\r\n c\r\n", 0), None);
        // Resuming after a chunk that ended inside the empty line.
        assert_eq!(header_end(b"A: b\r\n\r\nx", 6), Some(8));
    }
}
