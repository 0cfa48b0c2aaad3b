//! RESP: the request parser (multibulk and inline, resumable across reads) and the reply
//! encoder (RESP2 or RESP3 per client).
//!
//! Limits and error texts follow Redis 7.0's `networking.c`: 64 KiB for an inline request or a
//! length line, `proto-max-bulk-len` for one argument, `i32::MAX` arguments, and for a client
//! that has not authenticated yet 10 arguments of at most 16 KiB (so an anonymous peer cannot
//! make the server buffer much).

/// Longest inline request, or length line, before it is a protocol error.
pub const INLINE_MAX: usize = 64 * 1024;
const UNAUTH_MAX_ARGS: i64 = 10;
const UNAUTH_MAX_BULK: i64 = 16 * 1024;

/// What one parse step found at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    /// A complete request of `end` bytes; its arguments are in [`Parser::args`].
    Request { end: usize },
    /// `end` bytes that hold no command (an empty line, `*0`, `*-1`).
    Skip { end: usize },
    /// Incomplete; `need` is the request's length if known already (else 0).
    Incomplete { need: usize },
    /// A protocol error: the reply text (without `-ERR `); the connection must close after it.
    Error(String),
}

/// Per-connection parser state. A multibulk request cut by a read keeps what it parsed so
/// far (argument ranges relative to the request's first byte), so the next call resumes at the
/// next argument instead of re-reading from the start.
#[derive(Default, Debug)]
pub struct Parser {
    /// Arguments announced by the `*N` line of the request in progress (0: none in progress).
    argc: usize,
    /// Where the next argument's `$` line starts, relative to the request's first byte.
    pos: usize,
    /// Argument ranges: into the request (multibulk) or into `inline` (inline requests).
    ranges: Vec<(usize, usize)>,
    /// Unquoted arguments of an inline request (they need not be bytes of the input).
    inline: Vec<u8>,
    is_inline: bool,
}

/// The arguments of one request, borrowed from the input (or from the parser, inline).
#[derive(Clone, Copy)]
pub struct Args<'a> {
    src: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    /// Number of arguments, the command name included.
    #[inline]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `i` (0 is the command name).
    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        let (s, e) = self.ranges[i];
        &self.src[s..e]
    }

    /// Arguments held elsewhere (a script's `redis.call`): `ranges` index into `src`.
    pub fn from_parts(src: &'a [u8], ranges: &'a [(usize, usize)]) -> Args<'a> {
        Args { src, ranges }
    }

    /// Every argument in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.ranges.iter().map(|&(s, e)| &self.src[s..e])
    }
}

/// Arguments that own their bytes (a request built from part of another, as COMMAND GETKEYS
/// and ACL DRYRUN look at the command they are given).
pub struct OwnedArgs {
    buf: Vec<u8>,
    ranges: Vec<(usize, usize)>,
}

impl OwnedArgs {
    pub fn new<'a>(parts: impl Iterator<Item = &'a [u8]>) -> OwnedArgs {
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        for p in parts {
            ranges.push((buf.len(), buf.len() + p.len()));
            buf.extend_from_slice(p);
        }
        OwnedArgs { buf, ranges }
    }

    pub fn args(&self) -> Args<'_> {
        Args {
            src: &self.buf,
            ranges: &self.ranges,
        }
    }
}

impl Parser {
    /// The arguments of the request the last [`parse`](Self::parse) returned, given the same
    /// buffer.
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        Args {
            src: if self.is_inline { &self.inline } else { buf },
            ranges: &self.ranges,
        }
    }

    /// Parse the request at the start of `buf`. After `Incomplete` the next call must get a
    /// buffer that starts at the same byte (the caller consumed nothing of it).
    pub fn parse(&mut self, buf: &[u8], authed: bool, max_bulk: u64) -> Parse {
        if self.argc == 0 {
            match buf.first() {
                None => return Parse::Incomplete { need: 0 },
                Some(b'*') => {}
                Some(_) => return self.parse_inline(buf),
            }
            let Some(eol) = find_cr(buf, 1) else {
                return too_long(buf.len(), "too big mbulk count string");
            };
            if eol + 1 >= buf.len() {
                return Parse::Incomplete { need: 0 };
            }
            let n = match parse_i64(&buf[1..eol]) {
                Some(n) if n <= i32::MAX as i64 && (authed || n <= UNAUTH_MAX_ARGS) => n,
                _ => return protocol("invalid multibulk length"),
            };
            if n <= 0 {
                return Parse::Skip { end: eol + 2 };
            }
            self.argc = n as usize;
            self.pos = eol + 2;
            self.ranges.clear();
            self.is_inline = false;
            // Never trust the count for the allocation: it is bounded by the bytes that arrive.
            self.ranges.reserve(self.argc.min(1024));
        }
        while self.ranges.len() < self.argc {
            let pos = self.pos;
            let Some(&first) = buf.get(pos) else {
                return Parse::Incomplete { need: 0 };
            };
            if first != b'$' {
                self.argc = 0;
                return protocol(&format!("expected '$', got '{}'", printable(first) as char));
            }
            let Some(eol) = find_cr(buf, pos + 1) else {
                return too_long(buf.len() - pos, "too big bulk count string");
            };
            if eol + 1 >= buf.len() {
                return Parse::Incomplete { need: 0 };
            }
            let len = match parse_i64(&buf[pos + 1..eol]) {
                Some(n) if n >= 0 && (n as u64) <= max_bulk && (authed || n <= UNAUTH_MAX_BULK) => {
                    n as usize
                }
                _ => {
                    self.argc = 0;
                    return protocol("invalid bulk length");
                }
            };
            let start = eol + 2;
            let end = start + len;
            if end + 2 > buf.len() {
                return Parse::Incomplete { need: end + 2 };
            }
            self.ranges.push((start, end));
            // Like Redis, the two bytes after the data are skipped unchecked.
            self.pos = end + 2;
        }
        self.argc = 0;
        Parse::Request { end: self.pos }
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Parse {
        // Redis finds the line end with strchr(), which stops at a NUL byte: a NUL before the
        // newline leaves the request "incomplete" until the inline limit is exceeded.
        let nl = match buf.iter().position(|&b| b == b'\n' || b == 0) {
            Some(p) if buf[p] == b'\n' => p,
            _ => return too_long(buf.len(), "too big inline request"),
        };
        if nl > INLINE_MAX {
            return protocol("too big inline request");
        }
        let mut line = &buf[..nl];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        self.ranges.clear();
        self.inline.clear();
        self.is_inline = true;
        if split_args(line, &mut self.inline, &mut self.ranges).is_err() {
            return protocol("unbalanced quotes in request");
        }
        if self.ranges.is_empty() {
            return Parse::Skip { end: nl + 1 };
        }
        Parse::Request { end: nl + 1 }
    }
}

fn protocol(what: &str) -> Parse {
    Parse::Error(format!("Protocol error: {what}"))
}

fn too_long(have: usize, what: &str) -> Parse {
    if have > INLINE_MAX {
        protocol(what)
    } else {
        Parse::Incomplete { need: 0 }
    }
}

fn printable(b: u8) -> u8 {
    if b.is_ascii_graphic() || b == b' ' {
        b
    } else {
        b' '
    }
}

fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    let limit = buf.len().min(from + INLINE_MAX + 1);
    buf.get(from..limit)?
        .iter()
        .position(|&b| b == b'\r')
        .map(|i| i + from)
}

pub use kvtypes::num::parse_i64;

/// Redis's `sdssplitargs`: words separated by white space, `"..."` with `\n \r \t \b \a \xHH`
/// escapes, `'...'` with `\'`; a closing quote must be followed by white space or the end.
/// Unbalanced quotes in an inline request.
#[derive(Debug)]
pub struct Unbalanced;

pub fn split_args(
    line: &[u8],
    out: &mut Vec<u8>,
    ranges: &mut Vec<(usize, usize)>,
) -> Result<(), Unbalanced> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return Ok(());
        }
        let start = out.len();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            if in_dq {
                let Some(&c) = line.get(i) else {
                    return Err(Unbalanced);
                };
                if c == b'\\'
                    && line.get(i + 1) == Some(&b'x')
                    && line.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
                    && line.get(i + 3).is_some_and(u8::is_ascii_hexdigit)
                {
                    out.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < line.len() {
                    i += 1;
                    out.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if line.get(i + 1).is_some_and(|&n| !is_space(n)) {
                        return Err(Unbalanced);
                    }
                    i += 1;
                    break;
                } else {
                    out.push(c);
                }
            } else if in_sq {
                let Some(&c) = line.get(i) else {
                    return Err(Unbalanced);
                };
                if c == b'\\' && line.get(i + 1) == Some(&b'\'') {
                    i += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if line.get(i + 1).is_some_and(|&n| !is_space(n)) {
                        return Err(Unbalanced);
                    }
                    i += 1;
                    break;
                } else {
                    out.push(c);
                }
            } else {
                match line.get(i) {
                    None => break,
                    Some(&c) if is_space(c) => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(&c) => out.push(c),
                }
            }
            i += 1;
        }
        ranges.push((start, out.len()));
    }
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

// ---------------------------------------------------------------------------------------------
// Replies

/// Append-only reply writer for one client's protocol version.
pub struct Reply<'a> {
    pub buf: &'a mut Vec<u8>,
    pub resp3: bool,
}

impl Reply<'_> {
    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `msg` is the full text after `-`, code included (`ERR ...`, `WRONGTYPE ...`). Line
    /// breaks would end the reply early, so they become spaces (as Redis does).
    pub fn error(&mut self, msg: &str) {
        self.error_bytes(msg.as_bytes());
    }

    /// [`error`](Self::error) for texts that quote the client's own bytes (not always UTF-8).
    pub fn error_bytes(&mut self, msg: &[u8]) {
        self.buf.push(b'-');
        self.buf.extend(
            msg.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn int(&mut self, v: i64) {
        self.header(b':', v);
    }

    #[inline]
    pub fn bulk(&mut self, v: &[u8]) {
        self.header(b'$', v.len() as i64);
        self.buf.extend_from_slice(v);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer as a bulk string (a string value stored as an integer).
    #[inline]
    pub fn bulk_int(&mut self, v: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(v).as_bytes());
    }

    #[inline]
    pub fn null(&mut self) {
        self.buf
            .extend_from_slice(if self.resp3 { b"_\r\n" } else { b"$-1\r\n" });
    }

    pub fn null_array(&mut self) {
        self.buf
            .extend_from_slice(if self.resp3 { b"_\r\n" } else { b"*-1\r\n" });
    }

    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    pub fn map(&mut self, pairs: usize) {
        if self.resp3 {
            self.header(b'%', pairs as i64);
        } else {
            self.header(b'*', 2 * pairs as i64);
        }
    }

    pub fn set(&mut self, n: usize) {
        self.header(if self.resp3 { b'~' } else { b'*' }, n as i64);
    }

    /// A double: RESP3 `,`, RESP2 a bulk string, formatted as Redis's `%.17g`.
    pub fn double(&mut self, v: f64) {
        let s = kvtypes::num::fmt_g17(v);
        if self.resp3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }

    /// Text for humans (INFO, CLIENT LIST): RESP3 verbatim `txt`, RESP2 bulk.
    pub fn verbatim(&mut self, text: &[u8]) {
        if self.resp3 {
            self.header(b'=', text.len() as i64 + 4);
            self.buf.extend_from_slice(b"txt:");
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    #[inline]
    fn header(&mut self, kind: u8, n: i64) {
        let mut b = itoa::Buffer::new();
        self.buf.push(kind);
        self.buf.extend_from_slice(b.format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }
}

/// One RESP command of bulk strings, as the log stores it.
pub fn put_record(out: &mut Vec<u8>, args: &[&[u8]]) {
    let mut n = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(n.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(n.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> (Vec<Vec<Vec<u8>>>, Option<String>) {
        let mut p = Parser::default();
        let mut pos = 0;
        let mut reqs = Vec::new();
        loop {
            match p.parse(&input[pos..], true, 512 << 20) {
                Parse::Request { end } => {
                    reqs.push(p.args(&input[pos..]).iter().map(<[u8]>::to_vec).collect());
                    pos += end;
                }
                Parse::Skip { end } => pos += end,
                Parse::Incomplete { .. } => return (reqs, None),
                Parse::Error(e) => return (reqs, Some(e)),
            }
        }
    }

    fn strs(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn multibulk_and_inline_pipeline() {
        let (r, e) = all(
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n\r\n  set a \"b\\x41\\n\" 'c\\'d'\r\n*0\r\n",
        );
        assert_eq!(e, None);
        assert_eq!(
            r,
            vec![
                strs(&["GET", "k"]),
                strs(&["PING"]),
                strs(&["set", "a", "bA\n", "c'd"])
            ]
        );
    }

    #[test]
    fn protocol_errors_use_redis_texts() {
        let err = |b: &[u8]| all(b).1.unwrap();
        assert_eq!(err(b"*x\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(
            err(b"*1\r\n:1\r\n"),
            "Protocol error: expected '$', got ':'"
        );
        assert_eq!(err(b"*1\r\n$-1\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(
            err(b"set a \"b\r\n"),
            "Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            err(b"set a \"b\"c\r\n"),
            "Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            err(&vec![b'a'; INLINE_MAX + 1]),
            "Protocol error: too big inline request"
        );
        let mut long = b"*".to_vec();
        long.extend(vec![b'1'; INLINE_MAX + 1]);
        assert_eq!(err(&long), "Protocol error: too big mbulk count string");
        let mut p = Parser::default();
        assert_eq!(
            p.parse(b"*11\r\n", false, 512),
            Parse::Error("Protocol error: invalid multibulk length".into())
        );
        assert_eq!(
            p.parse(b"*1\r\n$513\r\n", true, 512),
            Parse::Error("Protocol error: invalid bulk length".into())
        );
    }

    #[test]
    fn resumes_and_announces_need() {
        let mut p = Parser::default();
        let msg = b"*2\r\n$3\r\nSET\r\n$10\r\n0123456789\r\n";
        assert_eq!(
            p.parse(&msg[..20], true, 1 << 20),
            Parse::Incomplete { need: msg.len() }
        );
        assert_eq!(
            p.parse(&msg[..], true, 1 << 20),
            Parse::Request { end: msg.len() }
        );
        assert_eq!(p.args(msg).get(1), b"0123456789");
    }

    #[test]
    fn parse_i64_is_strict() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        for bad in [
            &b"9223372036854775808"[..],
            b"",
            b"-",
            b"01",
            b"-0",
            b"+1",
            b" 1",
            b"1a",
        ] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Any bytes: no panic, and consumption never runs past the input.
        #[test]
        fn never_panics(input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let mut p = Parser::default();
            let mut pos = 0;
            for _ in 0..400 {
                match p.parse(&input[pos..], pos % 2 == 0, 64) {
                    Parse::Request { end } | Parse::Skip { end } => {
                        proptest::prop_assert!(end > 0 && pos + end <= input.len());
                        pos += end;
                    }
                    _ => break,
                }
            }
        }

        /// A pipeline split at any byte parses to the same requests.
        #[test]
        fn split_anywhere(args in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20), 1..6), cut in 0usize..200) {
            let mut wire = Vec::new();
            for _ in 0..2 {
                wire.extend(format!("*{}\r\n", args.len()).bytes());
                for a in &args {
                    wire.extend(format!("${}\r\n", a.len()).bytes());
                    wire.extend(a);
                    wire.extend(b"\r\n");
                }
            }
            let cut = cut.min(wire.len());
            let mut p = Parser::default();
            let mut got = Vec::new();
            let mut pos = 0;
            for avail in [cut, wire.len()] {
                loop {
                    match p.parse(&wire[pos..avail.max(pos)], true, 1 << 20) {
                        Parse::Request { end } => {
                            got.push(p.args(&wire[pos..]).iter().map(<[u8]>::to_vec).collect::<Vec<_>>());
                            pos += end;
                        }
                        Parse::Incomplete { .. } => break,
                        other => proptest::prop_assert!(false, "{other:?}"),
                    }
                }
            }
            proptest::prop_assert_eq!(got, vec![args.clone(), args]);
        }
    }
}
