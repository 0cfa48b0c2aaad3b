//! What a server does with the bytes it reads. The event loop owns sockets and buffers;
//! a [`Service`] only turns input into output, so echo, a key-value store or a test fault
//! injector run on the same loop.

/// A byte-stream service.
pub trait Service {
    /// Per-connection state (a parser's position, a byte counter); created when a client connects.
    type Session: Default;

    /// `input` holds everything received and not yet consumed. Append replies to `output` and
    /// return how many bytes of `input` were consumed; the rest is offered again, with whatever
    /// arrives next, on the next call (so a request split across reads is no problem).
    fn serve(&mut self, session: &mut Self::Session, input: &[u8], output: &mut Vec<u8>) -> usize;
}

/// RFC 862 echo: every byte back, in order.
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

impl Service for Echo {
    type Session = ();
    fn serve(&mut self, _: &mut (), input: &[u8], output: &mut Vec<u8>) -> usize {
        output.extend_from_slice(input);
        input.len()
    }
}

/// A deliberately broken echo for testing test harnesses: flips (or drops) the byte at stream
/// offset `at` of every connection. Never offered in `--help`.
#[derive(Debug, Clone, Copy)]
pub struct FaultyEcho {
    /// Stream offset of the damaged byte.
    pub at: u64,
    /// Drop the byte instead of flipping it.
    pub drop: bool,
}

impl Service for FaultyEcho {
    type Session = u64;
    fn serve(&mut self, seen: &mut u64, input: &[u8], output: &mut Vec<u8>) -> usize {
        let start = *seen;
        let end = start + input.len() as u64;
        *seen = end;
        if (start..end).contains(&self.at) {
            let i = (self.at - start) as usize;
            output.extend_from_slice(&input[..i]);
            if !self.drop {
                output.push(input[i] ^ 0x20);
            }
            output.extend_from_slice(&input[i + 1..]);
        } else {
            output.extend_from_slice(input);
        }
        input.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faulty_echo_damages_exactly_one_byte_across_split_input() {
        let mut s = FaultyEcho { at: 5, drop: false };
        let mut seen = 0;
        let mut out = Vec::new();
        assert_eq!(s.serve(&mut seen, b"abc", &mut out), 3);
        assert_eq!(s.serve(&mut seen, b"defgh", &mut out), 5);
        assert_eq!(out, b"abcdeFgh");
        let mut d = FaultyEcho { at: 0, drop: true };
        let (mut seen, mut out) = (0, Vec::new());
        d.serve(&mut seen, b"xyz", &mut out);
        assert_eq!(out, b"yz");
    }
}
