//! Canonicalization (RFC 6376 3.4): `simple` and `relaxed`, for header fields and body.
//!
//! The body canonicalizer is a streaming state machine: it takes the body in chunks of any
//! size and gives the same output for every split, including a CRLF or a run of trailing
//! empty lines cut between two chunks. It never buffers a line: what it holds between chunks
//! is a handful of counters and flags, so memory does not grow with line or body length.
//!
//! Line endings: every LF not preceded by CR counts as CRLF (it becomes one on the wire); a
//! CR not followed by LF is ordinary data (RFC 6376 only breaks lines at CRLF).

use sha2::block_api::Sha256VarCore;
use sha2::digest::array::Array;
use sha2::digest::block_api::{Buffer, UpdateCore, VariableOutputCore};

/// One canonicalization algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Canonicalization {
    /// `simple`: tolerates almost no modification (RFC 6376 3.4.1, 3.4.3).
    Simple,
    /// `relaxed`: tolerates whitespace changes and header refolding (RFC 6376 3.4.2, 3.4.4).
    #[default]
    Relaxed,
}

impl Canonicalization {
    /// The tag value: `simple` or `relaxed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Canonicalization::Simple => "simple",
            Canonicalization::Relaxed => "relaxed",
        }
    }

    /// Parses `simple` or `relaxed` (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("simple") {
            Some(Canonicalization::Simple)
        } else if s.eq_ignore_ascii_case("relaxed") {
            Some(Canonicalization::Relaxed)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Canonicalization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A header/body canonicalization pair, the `c=` tag of a signature.
///
/// ```
/// use easydkim::{Canonicalization, Canonicalizer};
/// let c: Canonicalizer = "relaxed/simple".parse().unwrap();
/// assert_eq!(c.header, Canonicalization::Relaxed);
/// assert_eq!(c.body, Canonicalization::Simple);
/// let mut out = Vec::new();
/// c.canonicalize_header(b"SUBJECT :  Hello\r\n  world ", &mut out);
/// assert_eq!(out, b"subject:Hello world\r\n");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Canonicalizer {
    /// Header canonicalization.
    pub header: Canonicalization,
    /// Body canonicalization.
    pub body: Canonicalization,
}

/// A `c=` value that is not `simple` or `relaxed` on either side.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid canonicalization `{0}`: expected simple or relaxed, e.g. relaxed/simple")]
pub struct CanonicalizationParseError(pub String);

impl std::str::FromStr for Canonicalizer {
    type Err = CanonicalizationParseError;

    /// Parses `header/body`; a single word means that header canonicalization with a
    /// `simple` body (RFC 6376 3.5, `c=` tag).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CanonicalizationParseError(s.to_string());
        let (h, b) = match s.split_once('/') {
            Some((h, b)) => (h.trim(), Some(b.trim())),
            None => (s.trim(), None),
        };
        let header = Canonicalization::parse(h).ok_or_else(err)?;
        let body = match b {
            Some(b) => Canonicalization::parse(b).ok_or_else(err)?,
            None => Canonicalization::Simple,
        };
        Ok(Canonicalizer { header, body })
    }
}

impl std::fmt::Display for Canonicalizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.header, self.body)
    }
}

impl Canonicalizer {
    /// A pair of canonicalizations.
    pub fn new(header: Canonicalization, body: Canonicalization) -> Self {
        Canonicalizer { header, body }
    }

    /// Appends the canonical form of one header field (`raw` as in
    /// [`HeaderField::raw`](crate::message::HeaderField::raw): name, colon, value, folding,
    /// no final line ending) to `out`, terminated by CRLF.
    pub fn canonicalize_header(&self, raw: &[u8], out: &mut Vec<u8>) {
        canonicalize_header(self.header, raw, out)
    }

    /// The canonical form of a whole body (convenience for tests and tools; the signer
    /// streams through [`BodyHasher`] instead).
    pub fn canonicalize_body(&self, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() + 2);
        let mut c = BodyCanonicalizer::new(self.body);
        c.feed(body, &mut out);
        c.finish(&mut out);
        out
    }
}

/// Appends the canonical form of a header field to `out`, terminated by CRLF.
pub(crate) fn canonicalize_header(canon: Canonicalization, raw: &[u8], out: &mut Vec<u8>) {
    match canon {
        Canonicalization::Simple => {
            // RFC 6376 3.4.1: unchanged, except that a bare LF is the CRLF it is on the wire.
            let mut start = 0;
            for i in memchr::memchr_iter(b'\n', raw) {
                if i == 0 || raw[i - 1] != b'\r' {
                    out.extend_from_slice(&raw[start..i]);
                    out.extend_from_slice(b"\r\n");
                    start = i + 1;
                }
            }
            out.extend_from_slice(&raw[start..]);
        }
        Canonicalization::Relaxed => {
            let colon = memchr::memchr(b':', raw).unwrap_or(raw.len());
            let name = crate::message::trim_wsp_end(&raw[..colon]);
            relaxed_field(name, raw.get(colon + 1..).unwrap_or_default(), out);
        }
    }
    out.extend_from_slice(CRLF);
}

/// Relaxed form of a field without its CRLF (RFC 6376 3.4.2): the name (WSP before the
/// colon already dropped) lowercased, the colon, the value unfolded with WSP runs reduced.
fn relaxed_field(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    crate::lanes::extend_lowercase(out, name);
    out.push(b':');
    relaxed_value(value, out);
}

/// Unfold, reduce WSP runs to one SP, drop WSP at both ends (RFC 6376 3.4.2). A line break
/// is CRLF or a bare LF; a CR not followed by LF is data. Runs of ordinary bytes are copied
/// whole.
fn relaxed_value(value: &[u8], out: &mut Vec<u8>) {
    if crate::lanes::is_plain_words(value) {
        // One line of single-spaced words (most fields): only a space at either end goes.
        let v = value.strip_prefix(b" ").unwrap_or(value);
        out.extend_from_slice(v.strip_suffix(b" ").unwrap_or(v));
        return;
    }
    if !relaxed_plain_lines(value, out) {
        relaxed_value_bytewise(value, out);
    }
}

/// [`relaxed_value`] for the usual value: lines (the first, then folded ones, each starting
/// with WSP) whose words are separated by single spaces. Each line is trimmed and the lines
/// are joined with one SP, the line's content copied whole. Returns false, having written
/// nothing, for any other value (a tab or a run of spaces inside a line, a bare CR, a line
/// break not followed by WSP).
fn relaxed_plain_lines(value: &[u8], out: &mut Vec<u8>) -> bool {
    let before = out.len();
    let mut wrote = false;
    let mut from = 0;
    loop {
        let lf = memchr::memchr(b'\n', &value[from..]).map(|i| from + i);
        let mut line = &value[from..lf.unwrap_or(value.len())];
        if lf.is_some() {
            line = line.strip_suffix(b"\r").unwrap_or(line);
        }
        if from > 0 && !matches!(line.first(), Some(b' ' | b'\t')) {
            out.truncate(before);
            return false;
        }
        let start = line
            .iter()
            .position(|&b| !matches!(b, b' ' | b'\t'))
            .unwrap_or(line.len());
        let end = line
            .iter()
            .rposition(|&b| !matches!(b, b' ' | b'\t'))
            .map_or(start, |i| i + 1);
        let words = &line[start..end];
        if !crate::lanes::is_plain_words(words) {
            out.truncate(before);
            return false;
        }
        if !words.is_empty() {
            if wrote {
                out.push(b' ');
            }
            out.extend_from_slice(words);
            wrote = true;
        }
        match lf {
            Some(i) => from = i + 1,
            None => return true,
        }
    }
}

/// [`relaxed_value`] for any value, byte by byte.
fn relaxed_value_bytewise(value: &[u8], out: &mut Vec<u8>) {
    let n = value.len();
    // Whether `value[i]` is WSP or part of a line break (removed or folded into one SP).
    let blank = |i: usize| match value[i] {
        b' ' | b'\t' | b'\n' => true,
        b'\r' => i + 1 < n && value[i + 1] == b'\n',
        _ => false,
    };
    out.reserve(n);
    let mut pending_space = false;
    let mut started = false;
    let mut i = 0;
    while i < n {
        let start = i;
        // Up to the next WSP or line break (a CR that is data continues the run).
        loop {
            i += value[i..]
                .iter()
                .position(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
                .unwrap_or(n - i);
            if i < n && !blank(i) {
                i += 1;
                continue;
            }
            break;
        }
        if i > start {
            if pending_space && started {
                out.push(b' ');
            }
            out.extend_from_slice(&value[start..i]);
            started = true;
            pending_space = false;
        }
        while i < n && blank(i) {
            pending_space |= matches!(value[i], b' ' | b'\t');
            i += 1;
        }
    }
}

/// How far a buffer of canonical output (or of input that needs no change) has gone to the
/// sink while a block is processed: in pieces as the scan goes
/// ([`BodyCanonicalizer::hand_over`]), the rest at the end
/// ([`BodyCanonicalizer::hand_over_rest`]).
#[derive(Clone, Copy, Debug, Default)]
struct Handover {
    /// `data[..hashed]` went to the sink.
    hashed: usize,
    /// `data[..settled]` precedes a byte other than CR or LF, so it cannot be part of the
    /// empty lines that end a body (which are dropped).
    settled: usize,
    /// `data` starts inside a line (a block of the canonicalizer starts a line; a buffer
    /// may start where hashing of the input stopped).
    starts_mid_line: bool,
}

impl Handover {
    /// Whether `data[self.hashed..]` starts inside a line.
    fn mid_line(&self, data: &[u8]) -> bool {
        match self.hashed {
            0 => self.starts_mid_line,
            h => data[h - 1] != b'\n',
        }
    }
}

/// Receives canonical body bytes.
pub(crate) trait Sink {
    fn emit(&mut self, data: &[u8]);

    /// How many bytes to hand over next with [`emit_piece`](Sink::emit_piece), at most
    /// `max` (a multiple of 64): for a hash, up to the end of one of its blocks, so that the
    /// piece is compressed at once, without a copy into its buffer.
    fn next_piece(&mut self, max: usize) -> usize {
        max
    }

    /// [`emit`](Sink::emit) for the `next_piece()` bytes that follow, right after that call.
    fn emit_piece(&mut self, data: &[u8]) {
        self.emit(data);
    }
}

impl Sink for Vec<u8> {
    fn emit(&mut self, data: &[u8]) {
        self.extend_from_slice(data);
    }
}

const CRLF: &[u8] = b"\r\n";

/// Most bytes handed to the hash at once while windows are rewritten (one SHA-256 block)
/// and while they are only tested ([`PIECE_UNCHANGED`]). Small enough that the
/// canonicalization around them runs while the hash works.
const PIECE: usize = WINDOW;
/// How far the hash stays behind the output of rewritten windows: the bytes it reads were
/// written one window earlier, not by the copies just made (most likely because a read
/// that straddles two recent overlapping writes has to wait for them to reach the cache,
/// and the hash's chain of rounds waited with it; measured: prose ran about 4 % slower
/// without the lag).
const LAG: usize = WINDOW;
/// Most bytes handed to the hash at once while windows are only tested: four blocks. Each
/// call of the hash has a cost of its own (sha2 converts its state in and out of the
/// SHA-NI layout around every call: 64-byte calls cost ~11 % more than one call over the
/// same bytes, 128-byte calls ~5.5 %, 256-byte ~2.5 %), and the test of a window is cheap
/// enough that four of them still run in the hash's shadow. Measured (AMD Zen 4): two
/// blocks, simple 1 MB 0.925 of SHA-256, relaxed base64 0.920; four 0.950 and 0.931-0.952;
/// six 0.96 and 0.915; eight 0.947 and 0.904.
const PIECE_UNCHANGED: usize = 4 * WINDOW;
/// Windows without a change in a row, once the block is being rewritten, after which the
/// next window gets the cheaper test first ([`may_change`]) instead of its classes. In
/// prose, a window without a change is mostly followed by one with a change: testing after
/// each such window cost more than it saved (the test fails, the window is classified
/// anyway, and the branch goes either way); after three, the unchanged stretch is most
/// likely a base64 part that follows text.
const QUIET_WINDOWS: u32 = 3;

/// Bytes per window of the event scan.
const WINDOW: usize = 64;

/// One window of the simple event scan: `w` is `WINDOW + 1` bytes (the last one only as the
/// neighbour of the one before). Byte `j` of `flags` is nonzero where the canonical form may
/// differ from the input at `j` or `j + 1`: a CR not followed by LF, or a LF (at `j + 1`) not
/// preceded by CR. A branch-free loop over fixed-size arrays, which the compiler vectorises.
#[inline]
fn event_flags(w: &[u8; WINDOW + 1], flags: &mut [u8; WINDOW]) {
    for (j, f) in flags.iter_mut().enumerate() {
        let (u, v) = (w[j], w[j + 1]);
        *f = u8::from((u == b'\r') ^ (v == b'\n'));
    }
}

/// [`event_flags`] as a bit mask: bit `j` set where byte `j` of the window is flagged. The
/// flags of a window are first OR-ed together (vectorised), so a clean window costs no
/// more; otherwise each group of 8 flag bytes (0 or 1) becomes 8 bits with one multiply.
#[inline(always)]
fn event_mask(w: &[u8; WINDOW + 1]) -> u64 {
    let mut flags = [0u8; WINDOW];
    event_flags(w, &mut flags);
    if flags.iter().fold(0u8, |a, &f| a | f) == 0 {
        return 0;
    }
    let mut mask = 0u64;
    for (k, group) in flags.chunks_exact(8).enumerate() {
        mask |= gather(u64::from_le_bytes(group.try_into().expect("8 bytes"))) << (8 * k);
    }
    mask
}

/// Eight bytes that are each 0 or 1 as eight bits (byte `i` to bit `i`): the product
/// gathers them into the top byte.
#[inline(always)]
fn gather(x: u64) -> u64 {
    x.wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// Whether relaxed canonicalization may change one window (`w` is the window and the byte
/// after it): it has WSP, a CR not followed by LF or a LF (at `j + 1`) not preceded by CR.
/// A branch-free loop the compiler vectorises, cheaper than [`classes`]; it is only asked
/// after a window without change (prose, where nearly every window has WSP, seldom gets
/// here).
#[inline(always)]
fn may_change(w: &[u8; WINDOW + 1]) -> bool {
    let mut flags = [0u8; WINDOW];
    for (j, f) in flags.iter_mut().enumerate() {
        let (u, v) = (w[j], w[j + 1]);
        let bare = (u == b'\r') ^ (v == b'\n');
        *f = u8::from(bare | (u == b' ') | (u == b'\t'));
    }
    flags.iter().fold(0u8, |a, &f| a | f) != 0
}

/// Where the bytes of one window that relaxed canonicalization cares about are: bit `j` of
/// each mask is byte `j` of the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Classes {
    sp: u64,
    tab: u64,
    cr: u64,
    lf: u64,
}

/// [`Classes`] of a window with SSE2 (part of every x86-64 CPU): per 16 bytes, the masks of
/// [`crate::lanes::eq_masks`] (four byte comparisons and four `pmovmskb`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classes(w: &[u8; WINDOW]) -> Classes {
    let mut c = Classes::default();
    for (k, chunk) in w.chunks_exact(16).enumerate() {
        let chunk = chunk.try_into().expect("16 bytes");
        let [sp, tab, cr, lf] = crate::lanes::eq_masks(chunk, [b' ', b'\t', b'\r', b'\n'])
            .map(|m| u64::from(m) << (16 * k));
        c.sp |= sp;
        c.tab |= tab;
        c.cr |= cr;
        c.lf |= lf;
    }
    c
}

/// How windows are classified into [`Classes`]: the block loops are compiled once for
/// each ([`BodyCanonicalizer::feed_block`]).
trait Lanes: Copy {
    fn classes(self, w: &[u8; WINDOW]) -> Classes;
}

/// The instructions every CPU of the target has ([`classes`]).
#[derive(Clone, Copy)]
struct Baseline;

impl Lanes for Baseline {
    #[inline(always)]
    fn classes(self, w: &[u8; WINDOW]) -> Classes {
        classes(w)
    }
}

/// AVX2 (found at run time): per 32 bytes, four compares and four `vpmovmskb`, through
/// `pulp`'s safe wrappers.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Avx2(pulp::x86::V3);

#[cfg(target_arch = "x86_64")]
impl Lanes for Avx2 {
    #[inline(always)]
    fn classes(self, w: &[u8; WINDOW]) -> Classes {
        use core::arch::x86_64::__m256i;
        let avx2 = self.0.avx2;
        let lo: __m256i = pulp::bytemuck::cast(<[u8; 32]>::try_from(&w[..32]).expect("32"));
        let hi: __m256i = pulp::bytemuck::cast(<[u8; 32]>::try_from(&w[32..]).expect("32"));
        let eq = |b: u8| {
            let x = self.0.avx._mm256_set1_epi8(i8::from_ne_bytes([b]));
            let m = |v| u64::from(avx2._mm256_movemask_epi8(avx2._mm256_cmpeq_epi8(v, x)) as u32);
            m(lo) | m(hi) << 32
        };
        Classes {
            sp: eq(b' '),
            tab: eq(b'\t'),
            cr: eq(b'\r'),
            lf: eq(b'\n'),
        }
    }
}

/// [`BodyCanonicalizer::feed_block_with`] as the function that
/// [`pulp::x86::V3::vectorize`] compiles with AVX2 enabled (everything it calls that is
/// marked `#[inline(always)]` is compiled with it).
#[cfg(target_arch = "x86_64")]
struct WithLanes<'a, S, L> {
    canon: &'a mut BodyCanonicalizer,
    block: &'a [u8],
    sink: &'a mut S,
    lanes: L,
}

#[cfg(target_arch = "x86_64")]
impl<S: Sink, L: Lanes> pulp::NullaryFnOnce for WithLanes<'_, S, L> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        self.canon
            .feed_block_with(self.block, self.sink, self.lanes);
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
thread_local! {
    /// Tests set this to run the baseline form on a CPU that has AVX2.
    static BASELINE_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// [`Classes`] of a window on other targets.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn classes(w: &[u8; WINDOW]) -> Classes {
    classes_portable(w)
}

/// [`Classes`] without target-specific instructions: one flag byte per input byte
/// (vectorised), gathered eight at a time. Used where SSE2 is not available, and by the
/// tests that hold the two to the same answers.
#[cfg(any(test, not(target_arch = "x86_64")))]
#[inline(always)]
fn classes_portable(w: &[u8; WINDOW]) -> Classes {
    let mut flags = [0u8; WINDOW];
    for (f, &b) in flags.iter_mut().zip(w) {
        *f = u8::from(b == b' ')
            | u8::from(b == b'\t') << 1
            | u8::from(b == b'\r') << 2
            | u8::from(b == b'\n') << 3;
    }
    let mut c = Classes::default();
    for (k, group) in flags.chunks_exact(8).enumerate() {
        let x = u64::from_le_bytes(group.try_into().expect("8 bytes"));
        let ones = 0x0101_0101_0101_0101;
        c.sp |= gather(x & ones) << (8 * k);
        c.tab |= gather(x >> 1 & ones) << (8 * k);
        c.cr |= gather(x >> 2 & ones) << (8 * k);
        c.lf |= gather(x >> 3 & ones) << (8 * k);
    }
    c
}

/// Simple canonicalization: output rewritten for bare LFs goes to the sink in stretches of
/// about this many bytes, while they are still in the L1 cache.
const FLUSH: usize = 4096;

/// Bytes of whole lines checked and emitted at once on the fast path (stays in L2 cache
/// between the check and the hash).
const FAST_BLOCK: usize = 32 * 1024;

thread_local! {
    /// The rewrite buffer of the last finished body canonicalizer of this thread, so that
    /// signing one message after another allocates (and zeroes) it once per thread, not
    /// once per message. Holds at most [`SCRATCH_KEEP`] bytes.
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Largest rewrite buffer kept for reuse: the relaxed output of a whole block (at most
/// twice its size, a CR added before each bare LF) plus slack, after doubling.
const SCRATCH_KEEP: usize = 4 * FAST_BLOCK;

fn take_scratch() -> Vec<u8> {
    SCRATCH.try_with(|c| c.take()).unwrap_or_default()
}

fn give_back_scratch(buf: Vec<u8>) {
    if buf.capacity() > 0 && buf.capacity() <= SCRATCH_KEEP {
        // During thread teardown the slot may be gone: the buffer is then simply freed.
        let _ = SCRATCH.try_with(|c| {
            let old = c.take();
            c.set(if old.capacity() >= buf.capacity() {
                old
            } else {
                buf
            });
        });
    }
}

/// The streaming body canonicalization state machine.
#[derive(Clone, Debug)]
pub(crate) struct BodyCanonicalizer {
    canon: Canonicalization,
    /// Empty lines seen since the last line with content; emitted only if content follows
    /// (RFC 6376 3.4.3/3.4.4: empty lines at the end of the body are ignored).
    pending_empty: u64,
    /// Relaxed: whitespace seen in the current line and not yet emitted.
    pending_wsp: bool,
    /// The last byte seen was a CR; whether it ends a line depends on the next byte.
    pending_cr: bool,
    line_has_content: bool,
    emitted_any: bool,
    line_len: usize,
    longest_line: usize,
    bare_cr: bool,
    /// Reused buffer for blocks of lines that are rewritten (taken from, and given back
    /// to, the thread's spare one).
    scratch: Vec<u8>,
}

impl Drop for BodyCanonicalizer {
    fn drop(&mut self) {
        give_back_scratch(std::mem::take(&mut self.scratch));
    }
}

impl BodyCanonicalizer {
    pub(crate) fn new(canon: Canonicalization) -> Self {
        BodyCanonicalizer {
            canon,
            pending_empty: 0,
            pending_wsp: false,
            pending_cr: false,
            line_has_content: false,
            emitted_any: false,
            line_len: 0,
            longest_line: 0,
            bare_cr: false,
            scratch: Vec::new(),
        }
    }

    fn emit(&mut self, data: &[u8], sink: &mut impl Sink) {
        self.emitted_any = true;
        sink.emit(data);
    }

    /// Content bytes of the current line (no CR/LF inside; relaxed: no WSP at either end).
    fn content(&mut self, data: &[u8], sink: &mut impl Sink) {
        while self.pending_empty > 0 {
            self.pending_empty -= 1;
            self.emit(CRLF, sink);
        }
        if self.pending_wsp {
            self.pending_wsp = false;
            self.emit(b" ", sink);
        }
        self.line_has_content = true;
        self.line_len += data.len();
        self.emit(data, sink);
    }

    fn bare_cr(&mut self, sink: &mut impl Sink) {
        self.bare_cr = true;
        self.content(b"\r", sink);
    }

    fn end_line(&mut self, sink: &mut impl Sink) {
        if self.line_has_content {
            self.emit(CRLF, sink);
        } else {
            self.pending_empty += 1;
        }
        self.longest_line = self.longest_line.max(self.line_len);
        self.line_len = 0;
        self.line_has_content = false;
        self.pending_wsp = false;
    }

    pub(crate) fn feed(&mut self, chunk: &[u8], sink: &mut impl Sink) {
        let n = chunk.len();
        let mut i = 0;
        while i < n {
            if !self.at_line_start() {
                // Finish the current line on the byte-wise path.
                match memchr::memchr(b'\n', &chunk[i..]) {
                    Some(off) => {
                        self.feed_slow(&chunk[i..=i + off], sink);
                        i += off + 1;
                        continue;
                    }
                    None => {
                        self.feed_slow(&chunk[i..], sink);
                        return;
                    }
                }
            }
            // A block of whole lines: already canonical (the common case) goes out as is.
            let limit = n.min(i + FAST_BLOCK);
            let Some(off) = memchr::memrchr(b'\n', &chunk[i..limit]) else {
                self.feed_slow(&chunk[i..limit], sink);
                i = limit;
                continue;
            };
            let block = &chunk[i..=i + off];
            self.feed_block(block, sink);
            // After the scan, when the block is in cache: its jumps of about 1 KB would
            // otherwise each wait for memory on bodies larger than the cache.
            self.note_longest_line(block);
            i += off + 1;
        }
    }

    /// A block of whole lines (it ends with LF and starts a line), with the widest lanes
    /// the CPU has: where AVX2 is found at run time (once per process), the block's whole
    /// loop is compiled for it, its own vectorised tests included; otherwise for the
    /// target's baseline. Both give the same output (a test holds them to it).
    fn feed_block(&mut self, block: &[u8], sink: &mut impl Sink) {
        #[cfg(target_arch = "x86_64")]
        if let Some(v3) = pulp::x86::V3::try_new() {
            #[cfg(test)]
            if BASELINE_ONLY.with(std::cell::Cell::get) {
                return self.feed_block_with(block, sink, Baseline);
            }
            return v3.vectorize(WithLanes {
                canon: self,
                block,
                sink,
                lanes: Avx2(v3),
            });
        }
        self.feed_block_with(block, sink, Baseline);
    }

    #[inline(always)]
    fn feed_block_with(&mut self, block: &[u8], sink: &mut impl Sink, lanes: impl Lanes) {
        match self.canon {
            Canonicalization::Simple => self.feed_block_simple(block, sink),
            Canonicalization::Relaxed => self.feed_block_relaxed(block, sink, lanes),
        }
    }

    fn at_line_start(&self) -> bool {
        !self.pending_cr && !self.line_has_content && !self.pending_wsp && self.line_len == 0
    }

    /// Records the longest line of a block of whole lines when it is over 998 octets (RFC
    /// 5322 2.1.1; shorter ones are never reported): looks for a 999-octet stretch without
    /// LF (a line of 999 octets ended by a bare LF has no more), jumping from the last LF of
    /// each window, about one search per KB; only then are the lines measured.
    fn note_longest_line(&mut self, block: &[u8]) {
        let mut p = 0;
        while p + 999 <= block.len() {
            match memchr::memrchr(b'\n', &block[p..p + 999]) {
                Some(off) => p += off + 1,
                None => {
                    let longest = block
                        .split(|&b| b == b'\n')
                        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len())
                        .max()
                        .unwrap_or(0);
                    self.longest_line = self.longest_line.max(longest);
                    break;
                }
            }
        }
    }

    /// Simple canonicalization of a block of whole lines (it ends with LF and starts a
    /// line) in one pass. A vectorised scan flags the few places where the canonical form
    /// differs from the input ([`event_flags`]). Until the first bare LF the input goes to
    /// the sink as it is, two hash blocks per window while the scan goes on (see
    /// [`feed_block_relaxed`](Self::feed_block_relaxed)); from there the runs between
    /// those places are copied into one reused buffer, each bare LF becoming CRLF, and the
    /// buffer goes to the sink about every [`FLUSH`] bytes.
    #[inline(always)]
    fn feed_block_simple(&mut self, block: &[u8], sink: &mut impl Sink) {
        let n = block.len();
        if self.scratch.capacity() == 0 {
            self.scratch = take_scratch();
        }
        let mut out = Out {
            buf: std::mem::take(&mut self.scratch),
            w: 0,
            need: 0,
        };
        // `block[..pos]` is done: in `out` once anything was rewritten.
        let mut pos = 0;
        let mut rewritten = false;
        if block[0] == b'\n' {
            // A LF that starts the block is a bare LF (no CR can precede it: a CR at the end
            // of the previous chunk would have left the canonicalizer mid-line).
            out.start(n);
            out.put_crlf();
            pos = 1;
            rewritten = true;
        }
        // The input until something is rewritten, then `out` (its `hashed` only ever at a
        // line end).
        let (mut input, mut rewrite) = (Handover::default(), Handover::default());
        let mut start = 0;
        while start < n {
            let mut mask = if start + WINDOW < n {
                let w: &[u8; WINDOW + 1] = block[start..=start + WINDOW]
                    .try_into()
                    .expect("window length");
                event_mask(w)
            } else {
                // The last window, padded with a byte that raises no flag.
                let mut w = [b'x'; WINDOW + 1];
                w[..n - start].copy_from_slice(&block[start..]);
                event_mask(&w)
            };
            while mask != 0 {
                let q = start + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let next = block.get(q + 1).copied();
                if block[q] == b'\r' {
                    if next != Some(b'\n') {
                        // A CR not followed by LF is data.
                        self.bare_cr = true;
                    }
                } else if next == Some(b'\n') && q + 1 >= pos {
                    // A LF not preceded by CR ends a line too: it becomes CRLF.
                    if !rewritten {
                        // From where hashing stopped.
                        out.start(n);
                        rewritten = true;
                        pos = input.hashed;
                        rewrite.starts_mid_line = input.mid_line(block);
                    }
                    out.put(block, pos, q + 1);
                    out.put_crlf();
                    pos = q + 2;
                }
            }
            start += WINDOW;
            if !rewritten {
                // Unchanged input goes to the hash as the scan goes.
                self.hand_over(block, start.min(n), &mut input, PIECE_UNCHANGED, sink);
            } else if out.w - rewrite.hashed >= FLUSH && start < n && pos <= start {
                // Hand what is done so far to the sink, up to its last line end, while it
                // is still in the L1 cache (and keep the buffer's working set small).
                out.put(block, pos, start);
                pos = start;
                if let Some(lf) = memchr::memrchr(b'\n', &out.buf[rewrite.hashed..out.w]) {
                    let end = rewrite.hashed + lf + 1;
                    self.hand_over_rest(&out.buf, end, &mut rewrite, sink);
                }
            }
        }
        if rewritten {
            out.put(block, pos, n);
            self.hand_over_rest(&out.buf, out.w, &mut rewrite, sink);
        } else {
            self.hand_over_rest(block, n, &mut input, sink);
        }
        self.scratch = out.buf;
    }

    /// Relaxed canonicalization of a block of whole lines (it ends with LF and starts a
    /// line), one 64-byte window at a time and without a branch per byte. Each window is
    /// classified into bit masks ([`Lanes::classes`]: AVX2 or SSE2, see
    /// [`feed_block`](Self::feed_block)), from which a few integer operations give the
    /// runs of WSP that change (a run of two or more, a tab, or a run before a line
    /// end) and the bare LFs. A window with none costs only the masks; once the block has
    /// one, its bytes are copied into a reused buffer, one fixed-size copy per stretch
    /// between changes, each changed run replaced by one SP (or nothing before a line
    /// end) and a CR put before each bare LF. The output of the block stays in the buffer
    /// and goes to the sink a block of the hash (64 bytes) per window, as soon as a byte
    /// other than CR or LF follows it; the rest at the end of the block. A run that reaches
    /// the end of a window is settled in the next one (the carries), so the result does
    /// not depend on where windows fall.
    #[inline(always)]
    fn feed_block_relaxed(&mut self, block: &[u8], sink: &mut impl Sink, lanes: impl Lanes) {
        let n = block.len();
        if self.scratch.capacity() == 0 {
            self.scratch = take_scratch();
        }
        let mut out = std::mem::take(&mut self.scratch);
        // `out[..w]`: canonical output of the block from where the input stopped going to
        // the sink as it is.
        let mut w = 0;
        // The input until the first change, then `out`.
        let (mut input, mut rewrite) = (Handover::default(), Handover::default());
        let mut copying = false;
        // Of the window before: its last byte was WSP, ended a changed run, was a CR.
        let (mut carry_s, mut carry_e, mut carry_cr) = (0u64, 0u64, 0u64);
        // Windows in a row without a change (the first rewritten window has one).
        let mut quiet = 0u32;
        // The last windows of the block (from the first whose two windows would run past
        // its end), padded with bytes that change nothing. Copied before the loop: read
        // right after the copy, the wide reads of bytes just written by narrower stores
        // waited for them to reach the cache (perf: a third of a small body's loop time on
        // one load).
        let tail_start = n.saturating_sub(2 * WINDOW - 1).next_multiple_of(WINDOW);
        let mut tail = [b'x'; 3 * WINDOW];
        tail[..n - tail_start].copy_from_slice(&block[tail_start..]);
        let mut start = 0;
        while start < n {
            // Until the first change, windows without one are only tested: in a tight
            // loop, the whole block for most base64 bodies.
            let mut flagged = false;
            if !copying {
                let from = start;
                while start + WINDOW < n {
                    let w: &[u8; WINDOW + 1] = block[start..=start + WINDOW]
                        .try_into()
                        .expect("window and next byte");
                    if (w[0] == b'\n' && carry_cr == 0) || may_change(w) {
                        flagged = true;
                        break;
                    }
                    carry_cr = u64::from(w[WINDOW - 1] == b'\r');
                    start += WINDOW;
                    // The window is canonical as it is: hashed from the input.
                    self.hand_over(block, start, &mut input, PIECE_UNCHANGED, sink);
                }
                if start > from {
                    carry_s = 0;
                }
                if start >= n {
                    break;
                }
            }
            let src: &[u8; 2 * WINDOW] = if start + 2 * WINDOW <= n {
                block[start..start + 2 * WINDOW]
                    .try_into()
                    .expect("two windows")
            } else {
                tail[start - tail_start..][..2 * WINDOW]
                    .try_into()
                    .expect("two windows")
            };
            // After a few windows without changes, a cheaper test first (most windows of a
            // base64 body need no change, most windows of prose do; see `QUIET_WINDOWS`).
            let clean = !flagged
                && quiet >= QUIET_WINDOWS
                && carry_e == 0
                && !(src[0] == b'\n' && carry_cr == 0)
                && !may_change(src[..=WINDOW].try_into().expect("window and next byte"));
            let (e, bare_lf, line_end, events, owed) = if clean {
                // No WSP to drop or carry, no bare CR or LF.
                carry_s = 0;
                carry_cr = u64::from(src[WINDOW - 1] == b'\r');
                (0, 0, 0, 0, 0)
            } else {
                let c = lanes.classes(src[..WINDOW].try_into().expect("one window"));
                let next = src[WINDOW];
                let wsp = c.sp | c.tab;
                let wsp_prev = (wsp << 1) | carry_s;
                let wsp_next = (wsp >> 1) | (u64::from(matches!(next, b' ' | b'\t')) << 63);
                let brk_next =
                    ((c.cr | c.lf) >> 1) | (u64::from(matches!(next, b'\r' | b'\n')) << 63);
                let lf_next = (c.lf >> 1) | (u64::from(next == b'\n') << 63);
                // WSP that is dropped: every byte of a run of two or more, a tab, and a single
                // SP before CR or LF. Each such run is replaced by one SP unless a line ends
                // right after it; a single SP between other bytes stays as it is.
                let e = c.tab | (c.sp & (wsp_prev | wsp_next | brk_next));
                let bare_lf = c.lf & !((c.cr << 1) | carry_cr);
                let line_end = (c.cr & lf_next) | bare_lf;
                self.bare_cr |= c.cr & !lf_next != 0;
                // Where a changed run starts (a run carried in from the window before counts
                // as starting at 0) or a bare LF is.
                let events = (e & !(e << 1)) | bare_lf;
                // The SP owed for a run that ended with the window before.
                let owed = carry_e & !wsp & !line_end & 1;
                carry_s = wsp >> 63;
                carry_e = e >> 63;
                carry_cr = c.cr >> 63;
                quiet = if events | owed == 0 {
                    quiet.saturating_add(1)
                } else {
                    0
                };
                (e, bare_lf, line_end, events, owed)
            };
            let valid = (n - start).min(WINDOW);
            start += WINDOW;
            if !copying {
                if events | owed == 0 {
                    continue;
                }
                copying = true;
                // The unchanged lines before this window go out as they are; only the
                // line this window starts in is copied.
                let here = start - WINDOW;
                let done = memchr::memrchr(b'\n', &block[..here]).map_or(0, |lf| lf + 1);
                // What was not hashed yet: whole lines from the input, the line this window
                // starts in through the buffer (it may start where hashing stopped).
                if input.hashed < done {
                    self.hand_over_rest(block, done, &mut input, sink);
                }
                let from = input.hashed;
                rewrite.starts_mid_line = input.mid_line(block);
                w = here - from;
                if out.len() < w + 4 * WINDOW {
                    out.resize(w + 4 * WINDOW, 0);
                }
                out[..w].copy_from_slice(&block[from..here]);
            }
            // At most 64 bytes plus a CR per byte, written in whole windows.
            if out.len() < w + 4 * WINDOW {
                out.resize((w + 4 * WINDOW).max(2 * out.len()), 0);
            }
            out[w] = b' ';
            w += owed as usize;
            let mut p = 0;
            let mut ev = events;
            while ev != 0 {
                let a = ev.trailing_zeros() as usize;
                ev &= ev - 1;
                // The stretch before the change, copied as a whole window (the excess is
                // overwritten by what follows).
                out[w..w + WINDOW].copy_from_slice(&src[p..p + WINDOW]);
                w += a - p;
                let bit = 1u64 << a;
                let lf = (bare_lf >> a) & 1;
                // Past the run of WSP from `a` (64 when it runs on into the next window);
                // `a` itself for a bare LF.
                let end = (e.wrapping_add(bit) & !e).trailing_zeros();
                let insert = lf | (!line_end).checked_shr(end).unwrap_or(0) & 1;
                out[w] = if lf == 1 { b'\r' } else { b' ' };
                w += insert as usize;
                p = end as usize;
            }
            out[w..w + WINDOW].copy_from_slice(&src[p..p + WINDOW]);
            w += valid - p;
            self.hand_over(&out, w.saturating_sub(LAG), &mut rewrite, PIECE, sink);
        }
        if copying {
            self.hand_over_rest(&out, w, &mut rewrite, sink);
        } else {
            self.hand_over_rest(block, n, &mut input, sink);
        }
        self.scratch = out;
    }

    /// `data[..end]` is final: once more than `max` bytes of it are settled and not yet
    /// handed over, hands the sink its next piece ([`Sink::next_piece`], at most `max`).
    /// Called after each window: SHA-256's rounds wait on one another, and the next
    /// window's work runs in their shadow (handing over whole stretches at once costs the
    /// sum of both). Strictly more than `max`: what is left always holds a byte other than
    /// CR or LF, so its end can still tell a line's end from an empty line.
    #[inline(always)]
    fn hand_over(
        &mut self,
        data: &[u8],
        end: usize,
        h: &mut Handover,
        max: usize,
        sink: &mut impl Sink,
    ) {
        if end > 0 && !matches!(data[end - 1], b'\r' | b'\n') {
            h.settled = end;
        }
        if h.settled - h.hashed > max {
            // A byte other than CR or LF follows: empty lines before this piece are not at
            // the end of the body after all.
            while self.pending_empty > 0 {
                self.pending_empty -= 1;
                self.emit(CRLF, sink);
            }
            let piece = sink.next_piece(max);
            self.emitted_any = true;
            sink.emit_piece(&data[h.hashed..h.hashed + piece]);
            h.hashed += piece;
        }
    }

    /// Hands the sink `data[h.hashed..end]` (whole lines) and advances `h.hashed` to `end`.
    fn hand_over_rest(&mut self, data: &[u8], end: usize, h: &mut Handover, sink: &mut impl Sink) {
        self.emit_canonical_lines(&data[h.hashed..end], h.mid_line(data), sink);
        h.hashed = end;
    }

    /// Emits output already in canonical form that ends with whole lines, keeping empty
    /// lines at the end pending (they are dropped if the body ends there). The output
    /// starts inside a line when `mid_line` (its first CRLF then ends that line: it is not
    /// an empty line).
    fn emit_canonical_lines(&mut self, block: &[u8], mid_line: bool, sink: &mut impl Sink) {
        let mut end = block.len();
        let mut trailing = 0u64;
        while end >= 2
            && &block[end - 2..end] == CRLF
            && (if end == 2 {
                !mid_line
            } else {
                block[end - 3] == b'\n'
            })
        {
            end -= 2;
            trailing += 1;
        }
        if end > 0 {
            while self.pending_empty > 0 {
                self.pending_empty -= 1;
                self.emit(CRLF, sink);
            }
            self.emit(&block[..end], sink);
            self.pending_empty = trailing;
        } else {
            self.pending_empty += trailing;
        }
    }

    /// The byte-wise state machine: handles every case, including partial lines.
    fn feed_slow(&mut self, chunk: &[u8], sink: &mut impl Sink) {
        let n = chunk.len();
        let mut i = 0;
        if self.pending_cr && n > 0 {
            self.pending_cr = false;
            if chunk[0] == b'\n' {
                self.end_line(sink);
                i = 1;
            } else {
                self.bare_cr(sink);
            }
        }
        match self.canon {
            Canonicalization::Simple => {
                while i < n {
                    match memchr::memchr2(b'\r', b'\n', &chunk[i..]) {
                        None => {
                            self.content(&chunk[i..], sink);
                            break;
                        }
                        Some(off) => {
                            let j = i + off;
                            if j > i {
                                self.content(&chunk[i..j], sink);
                            }
                            i = self.line_break(chunk, j, sink);
                        }
                    }
                }
            }
            Canonicalization::Relaxed => {
                while i < n {
                    match chunk[i] {
                        b'\r' | b'\n' => i = self.line_break(chunk, i, sink),
                        b' ' | b'\t' => {
                            self.pending_wsp = true;
                            self.line_len += 1;
                            i += 1;
                        }
                        _ => {
                            // A run of content, swallowing single spaces between words so
                            // ordinary text goes out in few large pieces.
                            let start = i;
                            i += 1;
                            while i < n {
                                let c = chunk[i];
                                if is_plain(c) {
                                    i += 1;
                                } else if c == b' ' && i + 1 < n && is_plain(chunk[i + 1]) {
                                    i += 2;
                                } else {
                                    break;
                                }
                            }
                            self.content(&chunk[start..i], sink);
                        }
                    }
                }
            }
        }
    }

    /// Handles the CR or LF at `chunk[j]`; returns the index after what it consumed.
    fn line_break(&mut self, chunk: &[u8], j: usize, sink: &mut impl Sink) -> usize {
        if chunk[j] == b'\n' {
            self.end_line(sink);
            return j + 1;
        }
        // A CR: a line break only when LF follows, possibly in the next chunk.
        match chunk.get(j + 1) {
            Some(b'\n') => {
                self.end_line(sink);
                j + 2
            }
            Some(_) => {
                self.bare_cr(sink);
                j + 1
            }
            None => {
                self.pending_cr = true;
                j + 1
            }
        }
    }

    pub(crate) fn finish(&mut self, sink: &mut impl Sink) {
        if self.pending_cr {
            self.pending_cr = false;
            self.bare_cr(sink);
        }
        if self.line_has_content {
            // A last line without a line ending gets one.
            self.end_line(sink);
        }
        self.longest_line = self.longest_line.max(self.line_len);
        if self.longest_line <= 998 {
            // Only over-long lines are reported, so the value does not depend on how the
            // body was split into chunks.
            self.longest_line = 0;
        }
        if self.canon == Canonicalization::Simple && !self.emitted_any {
            // RFC 6376 3.4.3: an empty body is a single CRLF.
            self.emit(CRLF, sink);
        }
    }
}

/// The output of [`BodyCanonicalizer::feed_block_simple`]: a buffer reused from block to
/// block, written at `w`. Its length is its capacity (zeroed once, grown rarely), at least
/// `need`: the block's length, plus one for each CR added to a bare LF, plus some slack.
/// Output never runs ahead of input by more than the CRs added, so short runs can be copied
/// in 16-byte pieces that may write past their end (the next write covers the excess)
/// instead of through `memcpy` calls.
struct Out {
    buf: Vec<u8>,
    w: usize,
    need: usize,
}

/// Slack past the end of any write.
const SLACK: usize = 32;

impl Out {
    /// Ready for a block of `n` input bytes.
    fn start(&mut self, n: usize) {
        self.w = 0;
        self.need = n + SLACK;
        self.grow();
    }

    fn grow(&mut self) {
        if self.buf.len() < self.need {
            self.buf.resize(self.need.max(2 * self.buf.len()), 0);
        }
    }

    /// Copies `block[from..to]`.
    #[inline]
    fn put(&mut self, block: &[u8], from: usize, to: usize) {
        let len = to - from;
        let rounded = len.next_multiple_of(16);
        if from + rounded <= block.len() {
            // Within `need`: the output is at most the CRs added ahead of the input, and
            // the slack covers the rounding.
            let dst = &mut self.buf[self.w..self.w + rounded];
            for (d, s) in dst
                .chunks_exact_mut(16)
                .zip(block[from..from + rounded].chunks_exact(16))
            {
                d.copy_from_slice(s);
            }
        } else {
            self.buf[self.w..self.w + len].copy_from_slice(&block[from..to]);
        }
        self.w += len;
    }

    /// A CRLF for a bare LF: one byte more than the input had.
    fn put_crlf(&mut self) {
        self.need += 1;
        self.grow();
        self.buf[self.w..self.w + 2].copy_from_slice(CRLF);
        self.w += 2;
    }
}

#[inline]
fn is_plain(c: u8) -> bool {
    !matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// The hash sink: counts canonical bytes, hashes up to an optional limit (`l=`). Large
/// pieces (whole blocks of lines) go to SHA-256 as they are; tiny ones (a CRLF, a space, a
/// word from the byte-wise path) are gathered in a small inline buffer first, so the hash
/// is never called for a few bytes and nothing is allocated.
struct HashSink {
    hasher: BodySha256,
    small: [u8; SMALL],
    small_len: usize,
    total: u64,
    hashed: u64,
    limit: Option<u64>,
}

/// SHA-256 through sha2's block-level API. The body loops hand over whole blocks that
/// start at a block boundary; those go straight to the compression function. Through
/// `Sha256::update`, each piece also had its empty remainder copied into the block buffer
/// by a call of `memcpy`: about a tenth of the instructions the relaxed loop spends per
/// window (callgrind), in a loop whose speed depends on how much of it fits beside the
/// hash's rounds.
struct BodySha256 {
    core: Sha256VarCore,
    buffer: Buffer<Sha256VarCore>,
}

impl BodySha256 {
    fn new() -> Self {
        BodySha256 {
            core: Sha256VarCore::new(32).expect("SHA-256 has a 32-byte output"),
            buffer: Buffer::<Sha256VarCore>::default(),
        }
    }

    #[inline]
    fn update(&mut self, data: &[u8]) {
        let (blocks, rest) = data.as_chunks::<64>();
        if self.buffer.get_pos() == 0 && rest.is_empty() {
            self.core.update_blocks(Array::cast_slice_from_core(blocks));
        } else {
            let core = &mut self.core;
            self.buffer.digest_blocks(data, |b| core.update_blocks(b));
        }
    }

    /// The digest; the hasher must not be used afterwards.
    fn finalize(&mut self) -> [u8; 32] {
        let mut out = Default::default();
        self.core.finalize_variable_core(&mut self.buffer, &mut out);
        out.into()
    }
}

/// SHA-256 of bytes known before the body is hashed (a signature's header data up to its
/// first tag that depends on the body), advanced a block at a time while the body is
/// hashed ([`BodyHasher::update_alongside`]). The two chains of SHA-256 rounds do not wait
/// on each other, so the processor runs this one's blocks in the gaps of the body's
/// chain: measured (AMD Zen 4, sha2's SHA-NI code), ten such blocks beside 64 of a body
/// hashed block by block cost ~80 ns instead of ~360 ns after it (less is hidden beside
/// the canonicalization of prose, which runs in the same gaps). The bytes appended
/// later, and the blocks the body left over, are hashed by [`finish`](Self::finish).
pub(crate) struct AlongsideHash {
    hasher: BodySha256,
    data: Vec<u8>,
    /// `data[..hashed]` went to the hash (a multiple of 64).
    hashed: usize,
}

impl AlongsideHash {
    /// Hashes `data`; more can be appended ([`data_mut`](Self::data_mut)) until
    /// [`finish`](Self::finish).
    pub(crate) fn new(data: Vec<u8>) -> Self {
        AlongsideHash {
            hasher: BodySha256::new(),
            data,
            hashed: 0,
        }
    }

    /// The bytes to hash, for appending (what is there may already be hashed: it must
    /// not change).
    pub(crate) fn data_mut(&mut self) -> &mut Vec<u8> {
        &mut self.data
    }

    /// Hashes the next whole block of the data, if there is one.
    #[inline(always)]
    fn step(&mut self) {
        if let Some((block, _)) = self.data[self.hashed..].split_first_chunk::<64>() {
            // Only whole blocks went in so far: straight to the compression function.
            debug_assert_eq!(self.hasher.buffer.get_pos(), 0);
            self.hasher
                .core
                .update_blocks(Array::cast_slice_from_core(std::slice::from_ref(block)));
            self.hashed += 64;
        }
    }

    /// SHA-256 of all the data; the hash must not be used afterwards.
    pub(crate) fn finish(&mut self) -> [u8; 32] {
        self.hasher.update(&self.data[self.hashed..]);
        self.hasher.finalize()
    }
}

/// A body's sink with an [`AlongsideHash`] that takes a block after each piece of the
/// body: between two hash calls of the body loop, as the canonicalization of its windows
/// is.
struct WithAlongside<'a> {
    sink: &'a mut HashSink,
    other: &'a mut AlongsideHash,
}

impl Sink for WithAlongside<'_> {
    #[inline]
    fn emit(&mut self, data: &[u8]) {
        self.sink.emit(data);
    }

    #[inline]
    fn next_piece(&mut self, max: usize) -> usize {
        self.sink.next_piece(max)
    }

    #[inline(always)]
    fn emit_piece(&mut self, data: &[u8]) {
        self.sink.emit_piece(data);
        self.other.step();
    }
}

/// Bytes gathered before they go to the hash.
const SMALL: usize = 256;

impl HashSink {
    fn new(limit: Option<u64>) -> Self {
        HashSink {
            hasher: BodySha256::new(),
            small: [0; SMALL],
            small_len: 0,
            total: 0,
            hashed: 0,
            limit,
        }
    }

    #[inline]
    fn flush(&mut self) {
        if self.small_len > 0 {
            self.hasher.update(&self.small[..self.small_len]);
            self.small_len = 0;
        }
    }
}

impl HashSink {
    /// Counts `data` and returns what of it is hashed (all of it unless `l=` cuts it).
    fn count<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        self.total += data.len() as u64;
        let data = match self.limit {
            Some(limit) => {
                let room = limit.saturating_sub(self.hashed);
                &data[..data.len().min(usize::try_from(room).unwrap_or(usize::MAX))]
            }
            None => data,
        };
        self.hashed += data.len() as u64;
        data
    }
}

impl Sink for HashSink {
    fn next_piece(&mut self, max: usize) -> usize {
        self.flush();
        // Everything counted as hashed is now in the hasher.
        max - (self.hashed % 64) as usize
    }

    fn emit_piece(&mut self, data: &[u8]) {
        debug_assert_eq!(self.small_len, 0, "next_piece flushed the gathered bytes");
        let data = self.count(data);
        self.hasher.update(data);
    }

    fn emit(&mut self, data: &[u8]) {
        let data = self.count(data);
        if self.small_len + data.len() <= SMALL {
            self.small[self.small_len..self.small_len + data.len()].copy_from_slice(data);
            self.small_len += data.len();
        } else {
            self.flush();
            if data.len() < SMALL / 2 {
                self.small[..data.len()].copy_from_slice(data);
                self.small_len = data.len();
            } else {
                self.hasher.update(data);
            }
        }
    }
}

/// The result of hashing a canonical body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyHash {
    /// SHA-256 of the canonical body (of its first `l=` octets when a limit was set).
    pub digest: [u8; 32],
    /// Length in octets of the whole canonical body (the value for `l=`).
    pub canonical_length: u64,
    /// Octets that went into the digest (less than `canonical_length` under a limit).
    pub hashed_length: u64,
    /// Longest body line in octets, line ending excluded, when it is over 998 (the RFC 5322
    /// limit that matters); otherwise 0.
    pub longest_line: usize,
    /// Whether the body contains a CR not followed by LF.
    pub bare_cr: bool,
}

impl BodyHash {
    /// The digest in base64, as in `bh=`.
    pub fn to_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.digest)
    }
}

/// Streaming SHA-256 of a canonical body: feed chunks with [`update`](Self::update), then
/// [`finish`](Self::finish). Any split of the body into chunks gives the same result.
///
/// ```
/// use easydkim::{BodyHasher, Canonicalization};
/// let mut h = BodyHasher::new(Canonicalization::Relaxed);
/// h.update(b"Hello  \r");
/// h.update(b"\nworld\r\n\r\n");
/// let whole = {
///     let mut h = BodyHasher::new(Canonicalization::Relaxed);
///     h.update(b"Hello  \r\nworld\r\n\r\n");
///     h.finish()
/// };
/// assert_eq!(h.finish(), whole);
/// ```
pub struct BodyHasher {
    canon: BodyCanonicalizer,
    sink: HashSink,
}

impl std::fmt::Debug for BodyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyHasher")
            .field("canonicalization", &self.canon.canon)
            .field("limit", &self.sink.limit)
            .field("canonical_length", &self.sink.total)
            .finish()
    }
}

impl BodyHasher {
    /// A hasher for the whole body.
    pub fn new(canon: Canonicalization) -> Self {
        Self::with_limit(canon, None)
    }

    /// A hasher that hashes only the first `limit` canonical octets (a verifier honouring
    /// `l=`), while still counting the full canonical length.
    pub fn with_limit(canon: Canonicalization, limit: Option<u64>) -> Self {
        BodyHasher {
            canon: BodyCanonicalizer::new(canon),
            sink: HashSink::new(limit),
        }
    }

    /// Feeds the next chunk of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        self.canon.feed(chunk, &mut self.sink);
    }

    /// [`update`](Self::update), advancing `other` a block at a time as the body's
    /// pieces go to the hash ([`AlongsideHash`]).
    pub(crate) fn update_alongside(&mut self, chunk: &[u8], other: &mut AlongsideHash) {
        self.canon.feed(
            chunk,
            &mut WithAlongside {
                sink: &mut self.sink,
                other,
            },
        );
    }

    /// Finishes the canonical body and returns its hash.
    pub fn finish(mut self) -> BodyHash {
        self.finish_in_place()
    }

    /// [`finish`](Self::finish) without moving the hasher (its buffers make it about half a
    /// kilobyte); it must not be used afterwards.
    pub(crate) fn finish_in_place(&mut self) -> BodyHash {
        self.canon.finish(&mut self.sink);
        self.sink.flush();
        BodyHash {
            digest: self.sink.hasher.finalize(),
            canonical_length: self.sink.total,
            hashed_length: self.sink.hashed,
            longest_line: self.canon.longest_line,
            bare_cr: self.canon.bare_cr,
        }
    }
}

/// Appends the canonical form of the fields named in `h=` to `out`, each name selecting the
/// last not yet used instance of that field (RFC 6376 5.4.2); a name with no instance left
/// contributes nothing.
pub(crate) fn canonicalize_signed_headers(
    msg: &crate::message::Message<'_>,
    names: impl IntoIterator<Item = impl AsRef<str>>,
    canon: Canonicalization,
    out: &mut Vec<u8>,
) {
    let fields = msg.fields();
    // Which fields are used: bits for the usual header of up to 128 fields, else a vector.
    let mut bits: u128 = 0;
    let mut many = if fields.len() > 128 {
        vec![false; fields.len()]
    } else {
        Vec::new()
    };
    for name in names {
        let name = name.as_ref();
        let used = |i: usize| {
            if many.is_empty() {
                bits >> i & 1 == 1
            } else {
                many[i]
            }
        };
        // The name first: it rejects most fields on their length alone.
        if let Some(i) = (0..fields.len())
            .rev()
            .find(|&i| fields[i].is(name) && !used(i))
        {
            if many.is_empty() {
                bits |= 1 << i;
            } else {
                many[i] = true;
            }
            canonicalize_field(canon, &fields[i], out);
        }
    }
}

/// The canonical forms of the fields at `at` (indices into `msg.fields()`), in that order:
/// what [`canonicalize_signed_headers`] writes for names whose fields are already known.
pub(crate) fn canonicalize_fields_at(
    msg: &crate::message::Message<'_>,
    at: &[u8],
    canon: Canonicalization,
    out: &mut Vec<u8>,
) {
    for &i in at {
        canonicalize_field(canon, &msg.fields()[usize::from(i)], out);
    }
}

/// [`canonicalize_header`] of a field of a parsed message: relaxed takes the name and the
/// value from the parse instead of finding the colon again.
fn canonicalize_field(
    canon: Canonicalization,
    field: &crate::message::HeaderField<'_>,
    out: &mut Vec<u8>,
) {
    match canon {
        Canonicalization::Simple => canonicalize_header(canon, field.raw(), out),
        Canonicalization::Relaxed => {
            relaxed_field(field.name(), field.value(), out);
            out.extend_from_slice(CRLF);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time definition `relaxed_value` must agree with.
    fn relaxed_value_reference(value: &[u8], out: &mut Vec<u8>) {
        let mut pending_space = false;
        let mut started = false;
        let n = value.len();
        for i in 0..n {
            let b = value[i];
            match b {
                b' ' | b'\t' => pending_space = true,
                b'\n' => {}
                b'\r' if i + 1 < n && value[i + 1] == b'\n' => {}
                _ => {
                    if pending_space && started {
                        out.push(b' ');
                    }
                    pending_space = false;
                    started = true;
                    out.push(b);
                }
            }
        }
    }

    /// Pieces of header values: words, single spaces (likely), runs, folds, bare CR/LF.
    const FOLDED_PIECES: &[&[u8]] = &[
        b"word", b"a", b";", b" ", b" ", b"  ", b"\t", b"\r\n ", b"\r\n\t", b"\n ", b"\r\n", b"\r",
        b" \r\n  ",
    ];

    /// [`FOLDED_PIECES`] whose line breaks all fold (so that every line is part of a field).
    const FIELD_PIECES: &[&[u8]] = &[
        b"word", b"a", b";", b" ", b"  ", b"\t", b"\r\n ", b"\r\n\t", b"\n ", b"\r", b" \r\n  ",
    ];

    proptest::proptest! {
        #[test]
        fn window_classes_match_the_portable_form(w in proptest::collection::vec(
            proptest::sample::select(&b" \t\r\nab\x0c\x80\xff"[..]), WINDOW)
        ) {
            let w: &[u8; WINDOW] = w.as_slice().try_into().expect("one window");
            let c = classes(w);
            proptest::prop_assert_eq!(c, classes_portable(w));
            #[cfg(target_arch = "x86_64")]
            if let Some(v3) = pulp::x86::V3::try_new() {
                proptest::prop_assert_eq!(Avx2(v3).classes(w), c);
            }
            for (j, &b) in w.iter().enumerate() {
                proptest::prop_assert_eq!(c.sp >> j & 1 == 1, b == b' ');
                proptest::prop_assert_eq!(c.tab >> j & 1 == 1, b == b'\t');
                proptest::prop_assert_eq!(c.cr >> j & 1 == 1, b == b'\r');
                proptest::prop_assert_eq!(c.lf >> j & 1 == 1, b == b'\n');
            }
        }

        #[test]
        fn relaxed_value_matches_the_reference(v in proptest::collection::vec(
            proptest::sample::select(&b" \t\r\na:b;\x0c"[..]), 0..40)
        ) {
            let (mut fast, mut slow) = (b"x:".to_vec(), b"x:".to_vec());
            relaxed_value(&v, &mut fast);
            relaxed_value_reference(&v, &mut slow);
            proptest::prop_assert_eq!(fast, slow);
        }

        #[test]
        fn folded_values_match_the_reference(pieces in proptest::collection::vec(
            proptest::sample::select(FOLDED_PIECES), 0..30)
        ) {
            let v = pieces.concat();
            let (mut fast, mut slow) = (b"x:".to_vec(), b"x:".to_vec());
            relaxed_value(&v, &mut fast);
            relaxed_value_reference(&v, &mut slow);
            proptest::prop_assert_eq!(fast, slow);
        }

        /// A parsed field canonicalizes as its raw bytes do: names in any case, WSP before
        /// the colon, values folded every way.
        #[test]
        fn parsed_fields_canonicalize_as_their_raw_bytes(
            fields in proptest::collection::vec((
                proptest::sample::select(&["Subject", "FROM", "x-Tag", "to"][..]),
                proptest::sample::select(&["", " ", "\t", " \t"][..]),
                proptest::collection::vec(proptest::sample::select(FIELD_PIECES), 0..12),
            ), 1..6)
        ) {
            let mut raw = Vec::new();
            for (name, wsp, pieces) in &fields {
                raw.extend_from_slice(name.as_bytes());
                raw.extend_from_slice(wsp.as_bytes());
                raw.push(b':');
                // A value never ends a field with a line break of its own.
                let value = pieces.concat();
                raw.extend_from_slice(&value);
                raw.extend_from_slice(b"x\r\n");
            }
            raw.extend_from_slice(b"\r\nbody\r\n");
            let msg = crate::message::Message::parse(&raw).expect("every line folds or starts a field");
            proptest::prop_assert_eq!(msg.fields().len(), fields.len());
            // Relaxed only: simple takes the raw bytes on both paths.
            for f in msg.fields() {
                let (mut parsed, mut from_raw) = (Vec::new(), Vec::new());
                canonicalize_field(Canonicalization::Relaxed, f, &mut parsed);
                canonicalize_header(Canonicalization::Relaxed, f.raw(), &mut from_raw);
                proptest::prop_assert_eq!(parsed, from_raw);
            }
        }
    }

    /// Pieces of bodies: words, single spaces, runs of WSP, line ends of every kind.
    #[cfg(target_arch = "x86_64")]
    const BODY_PIECES: &[&[u8]] = &[
        b"word",
        b"x",
        b".",
        b" ",
        b" ",
        b"  ",
        b"\t",
        b" \t ",
        b"\r\n",
        b"\r\n",
        b"\n",
        b"\r",
        b" \r\n",
        b"\t\r\n",
        b"\r\n\r\n",
        b"0123456789abcdef0123456789abcdef",
    ];

    #[cfg(target_arch = "x86_64")]
    proptest::proptest! {
        /// The block loops compiled for AVX2 and for the baseline give the same bytes (on a
        /// CPU without AVX2 both runs take the baseline).
        #[test]
        fn wide_lanes_match_the_baseline(
            pieces in proptest::collection::vec(proptest::sample::select(BODY_PIECES), 0..200),
            relaxed in proptest::bool::ANY,
        ) {
            let b = pieces.concat();
            let c = if relaxed { Canonicalization::Relaxed } else { Canonicalization::Simple };
            let wide = body(c, &b);
            BASELINE_ONLY.with(|o| o.set(true));
            let base = body(c, &b);
            BASELINE_ONLY.with(|o| o.set(false));
            proptest::prop_assert_eq!(wide, base);
        }
    }

    proptest::proptest! {
        /// Hashing data alongside a body changes neither hash: the body's is the one
        /// `update` gives, and the other is SHA-256 of all its data (what was there before
        /// the body, taken a block per piece of it, then what was appended), whatever the
        /// body, its chunks, the data's length and the canonicalization.
        #[test]
        fn a_hash_alongside_the_body_changes_neither(
            pieces in proptest::collection::vec(proptest::sample::select(BODY_PIECES), 0..300),
            split in 0usize..10_000,
            before in 0usize..1_500,
            after in 0usize..200,
            relaxed in proptest::bool::ANY,
        ) {
            use sha2::Digest as _;
            let b = pieces.concat();
            let c = if relaxed { Canonicalization::Relaxed } else { Canonicalization::Simple };
            let data: Vec<u8> = (0..before + after).map(|i| (i * 7 + 3) as u8).collect();
            let (first, rest) = b.split_at(split.min(b.len()));

            let mut plain = BodyHasher::new(c);
            plain.update(first);
            plain.update(rest);
            let mut along = BodyHasher::new(c);
            let mut other = AlongsideHash::new(data[..before].to_vec());
            along.update_alongside(first, &mut other);
            along.update_alongside(rest, &mut other);
            // The steps took whole blocks of what was there, never more.
            proptest::prop_assert!(other.hashed.is_multiple_of(64) && other.hashed <= before);
            other.data_mut().extend_from_slice(&data[before..]);

            proptest::prop_assert_eq!(along.finish(), plain.finish());
            let digest: [u8; 32] = sha2::Sha256::digest(&data).into();
            proptest::prop_assert_eq!(other.finish(), digest);
        }
    }

    fn body(c: Canonicalization, b: &[u8]) -> Vec<u8> {
        Canonicalizer::new(c, c).canonicalize_body(b)
    }

    #[test]
    fn simple_body_rules() {
        use Canonicalization::Simple;
        assert_eq!(body(Simple, b""), b"\r\n");
        assert_eq!(body(Simple, b"\r\n\r\n"), b"\r\n");
        assert_eq!(body(Simple, b"a"), b"a\r\n");
        assert_eq!(body(Simple, b"a\n\n b \n\n"), b"a\r\n\r\n b \r\n");
        assert_eq!(body(Simple, b"a\rb\r"), b"a\rb\r\r\n");
    }

    #[test]
    fn relaxed_body_rules() {
        use Canonicalization::Relaxed;
        assert_eq!(body(Relaxed, b""), b"");
        assert_eq!(body(Relaxed, b"\r\n \t\r\n"), b"");
        assert_eq!(body(Relaxed, b"  a \t b  \r\n"), b" a b\r\n");
        assert_eq!(body(Relaxed, b"a\n \n\nb"), b"a\r\n\r\n\r\nb\r\n");
        assert_eq!(body(Relaxed, b"a \r b"), b"a \r b\r\n");
    }

    #[test]
    fn relaxed_header_rules() {
        let mut out = Vec::new();
        canonicalize_header(
            Canonicalization::Relaxed,
            b"Subject:\n\tHi  there \t",
            &mut out,
        );
        assert_eq!(out, b"subject:Hi there\r\n");
    }

    #[test]
    fn simple_header_converts_bare_lf() {
        let mut out = Vec::new();
        canonicalize_header(Canonicalization::Simple, b"Subject: a\n b\r\n c", &mut out);
        assert_eq!(out, b"Subject: a\r\n b\r\n c\r\n");
    }
}
