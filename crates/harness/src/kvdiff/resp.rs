//! A small, independent RESP2/RESP3 encoder and decoder for tests: it shares no code with the
//! server's parser, so a bug there cannot hide behind the same bug here.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One reply, as the wire says it (RESP3 types kept apart so a type mismatch is a mismatch).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    /// `$-1` (RESP2) or `*-1`.
    NilBulk,
    NilArray,
    Array(Vec<Value>),
    /// RESP3 `_`.
    Null,
    Bool(bool),
    /// RESP3 `,`: kept as text so formatting differences show.
    Double(Vec<u8>),
    BigNumber(Vec<u8>),
    Verbatim(Vec<u8>),
    Map(Vec<(Value, Value)>),
    Set(Vec<Value>),
    Push(Vec<Value>),
}

impl Value {
    /// The bytes of a simple string, bulk string or verbatim string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Simple(b) | Value::Bulk(b) | Value::Verbatim(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The elements of an array, set or push.
    pub fn items(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) | Value::Set(v) | Value::Push(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_))
    }

    /// Encode as RESP (used by tests that play a server's part, and for round-trip checks).
    pub fn encode(&self, out: &mut Vec<u8>) {
        fn line(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
            out.push(tag);
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        fn agg(out: &mut Vec<u8>, tag: u8, items: &[Value]) {
            line(out, tag, items.len().to_string().as_bytes());
            for v in items {
                v.encode(out);
            }
        }
        match self {
            Value::Simple(b) => line(out, b'+', b),
            Value::Error(b) => line(out, b'-', b),
            Value::Int(i) => line(out, b':', i.to_string().as_bytes()),
            Value::Bulk(b) => {
                line(out, b'$', b.len().to_string().as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Value::NilBulk => out.extend_from_slice(b"$-1\r\n"),
            Value::NilArray => out.extend_from_slice(b"*-1\r\n"),
            Value::Array(v) => agg(out, b'*', v),
            Value::Null => out.extend_from_slice(b"_\r\n"),
            Value::Bool(b) => line(out, b'#', if *b { b"t" } else { b"f" }),
            Value::Double(b) => line(out, b',', b),
            Value::BigNumber(b) => line(out, b'(', b),
            Value::Verbatim(b) => {
                line(out, b'=', b.len().to_string().as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Value::Map(kv) => {
                line(out, b'%', kv.len().to_string().as_bytes());
                for (k, v) in kv {
                    k.encode(out);
                    v.encode(out);
                }
            }
            Value::Set(v) => agg(out, b'~', v),
            Value::Push(v) => agg(out, b'>', v),
        }
    }
}

/// Printable form for mismatch reports: bytes escaped, types visible.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, open: &str, v: &[Value]) -> fmt::Result {
            write!(f, "{open}")?;
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                write!(f, "{x}")?;
            }
            write!(f, "]")
        }
        match self {
            Value::Simple(b) => write!(f, "+{}", esc(b)),
            Value::Error(b) => write!(f, "-{}", esc(b)),
            Value::Int(i) => write!(f, ":{i}"),
            Value::Bulk(b) => write!(f, "\"{}\"", esc(b)),
            Value::NilBulk => write!(f, "$-1"),
            Value::NilArray => write!(f, "*-1"),
            Value::Array(v) => list(f, "[", v),
            Value::Null => write!(f, "_"),
            Value::Bool(b) => write!(f, "#{}", if *b { 't' } else { 'f' }),
            Value::Double(b) => write!(f, ",{}", esc(b)),
            Value::BigNumber(b) => write!(f, "({}", esc(b)),
            Value::Verbatim(b) => write!(f, "={}", esc(b)),
            Value::Map(kv) => {
                write!(f, "%{{")?;
                for (i, (k, v)) in kv.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                write!(f, "}}")
            }
            Value::Set(v) => list(f, "~[", v),
            Value::Push(v) => list(f, ">[", v),
        }
    }
}

/// Bytes as text with non-printables escaped.
pub fn esc(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

/// A command as it would be typed: `SET "a b" 1`.
pub fn show_cmd(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|a| {
            let s = esc(a);
            if a.is_empty() || a.iter().any(|c| c.is_ascii_whitespace()) {
                format!("\"{s}\"")
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Encode a command as a RESP array of bulk strings (what every client sends).
pub fn encode_command(args: &[Vec<u8>], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Read one reply from `r`. Errors on EOF or on bytes that are not RESP.
pub fn read_value<R: BufRead>(r: &mut R) -> io::Result<Value> {
    let line = read_line(r)?;
    let (tag, body) = line.split_first().ok_or_else(|| bad("empty reply line"))?;
    let body = body.to_vec();
    let int = |b: &[u8]| -> io::Result<i64> {
        std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad length/integer {:?}", esc(b))))
    };
    Ok(match tag {
        b'+' => Value::Simple(body),
        b'-' => Value::Error(body),
        b':' => Value::Int(int(&body)?),
        b'$' | b'=' => {
            let n = int(&body)?;
            if n < 0 {
                Value::NilBulk
            } else {
                let mut buf = vec![0; n as usize + 2];
                r.read_exact(&mut buf)?;
                if &buf[n as usize..] != b"\r\n" {
                    return Err(bad("bulk string not followed by CRLF"));
                }
                buf.truncate(n as usize);
                if *tag == b'$' {
                    Value::Bulk(buf)
                } else {
                    Value::Verbatim(buf)
                }
            }
        }
        b'*' | b'~' | b'>' => {
            let n = int(&body)?;
            if n < 0 {
                Value::NilArray
            } else {
                let items = (0..n)
                    .map(|_| read_value(r))
                    .collect::<io::Result<Vec<_>>>()?;
                match tag {
                    b'*' => Value::Array(items),
                    b'~' => Value::Set(items),
                    _ => Value::Push(items),
                }
            }
        }
        b'%' | b'|' => {
            let n = int(&body)?;
            let mut kv = Vec::with_capacity(n.max(0) as usize);
            for _ in 0..n {
                let k = read_value(r)?;
                let v = read_value(r)?;
                kv.push((k, v));
            }
            if *tag == b'|' {
                // An attribute precedes the real reply; tests have no use for it.
                return read_value(r);
            }
            Value::Map(kv)
        }
        b'_' => Value::Null,
        b'#' => match body.as_slice() {
            b"t" => Value::Bool(true),
            b"f" => Value::Bool(false),
            _ => return Err(bad("bad boolean")),
        },
        b',' => Value::Double(body),
        b'(' => Value::BigNumber(body),
        _ => return Err(bad(format!("unknown reply type in {:?}", esc(&line)))),
    })
}

fn read_line<R: BufRead>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    if !line.ends_with(b"\r\n") {
        return Err(bad(format!("reply line without CRLF: {:?}", esc(&line))));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

/// One client connection speaking RESP, with a read timeout so a silent server fails the test
/// instead of hanging it.
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    pub addr: SocketAddr,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            writer: s.try_clone()?,
            reader: BufReader::new(s),
            addr,
        })
    }

    /// Send one command and read its reply.
    pub fn call(&mut self, args: &[Vec<u8>]) -> io::Result<Value> {
        self.send(args)?;
        self.read()
    }

    /// `call` with string arguments.
    pub fn cmd(&mut self, args: &[&str]) -> io::Result<Value> {
        let v: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        self.call(&v)
    }

    pub fn send(&mut self, args: &[Vec<u8>]) -> io::Result<()> {
        let mut buf = Vec::new();
        encode_command(args, &mut buf);
        self.writer.write_all(&buf)
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    pub fn read(&mut self) -> io::Result<Value> {
        read_value(&mut self.reader)
    }

    /// True once the peer has closed (reads EOF within `within`).
    pub fn closed_within(&mut self, within: Duration) -> bool {
        let _ = self.reader.get_ref().set_read_timeout(Some(within));
        let mut b = [0u8; 1];
        let r = self.reader.read(&mut b);
        let _ = self
            .reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(10)));
        matches!(r, Ok(0)) || matches!(r, Err(ref e) if e.kind() == io::ErrorKind::ConnectionReset)
    }

    pub fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        self.reader.get_ref().set_read_timeout(Some(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_type() {
        let v = Value::Array(vec![
            Value::Simple(b"OK".to_vec()),
            Value::Error(b"ERR x".to_vec()),
            Value::Int(-42),
            Value::Bulk(b"a\r\nb".to_vec()),
            Value::NilBulk,
            Value::NilArray,
            Value::Null,
            Value::Bool(true),
            Value::Double(b"1.5".to_vec()),
            Value::BigNumber(b"123456789012345678901234567890".to_vec()),
            Value::Verbatim(b"txt:hi".to_vec()),
            Value::Map(vec![(Value::Bulk(b"k".to_vec()), Value::Int(1))]),
            Value::Set(vec![Value::Int(1)]),
            Value::Push(vec![]),
        ]);
        let mut buf = Vec::new();
        v.encode(&mut buf);
        let back = read_value(&mut &buf[..]).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn rejects_truncated_and_garbage() {
        assert!(read_value(&mut &b"$5\r\nab\r\n"[..]).is_err());
        assert!(read_value(&mut &b"?x\r\n"[..]).is_err());
        assert!(read_value(&mut &b":12"[..]).is_err());
    }
}
