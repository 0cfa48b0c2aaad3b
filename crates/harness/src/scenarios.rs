//! The hammer's scenarios: seeded sets of [`Conversation`]s, each aimed at one way an echo
//! server can go wrong. The same seed and profile always build the same bytes, split points and
//! endings, so a failure seen once reproduces with `--seed`.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;

use crate::client::{Conversation, End, RunOptions};
use crate::gen;

/// How much work each scenario does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Small enough for CI: a few seconds per backend in a debug build.
    Quick,
    /// Thorough: minutes in all.
    Full,
}

impl Profile {
    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Quick => "quick",
            Profile::Full => "full",
        }
    }

    fn pick<T>(self, quick: T, full: T) -> T {
        match self {
            Profile::Quick => quick,
            Profile::Full => full,
        }
    }
}

/// One named batch of conversations and the limits to run it with.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Short name (`many-connections`, `churn`, ...).
    pub name: &'static str,
    /// The scripts, one per connection.
    pub conversations: Vec<Conversation>,
    /// Concurrency and deadline.
    pub options: RunOptions,
}

impl Scenario {
    /// Bytes the conversations will send in all.
    pub fn payload_bytes(&self) -> u64 {
        self.conversations
            .iter()
            .map(|c| c.payload.len() as u64)
            .sum()
    }
}

/// The largest message in every profile: larger than 1 MiB so that the "1 byte to 1 MiB" range
/// is really covered, and deep enough for fault offsets such as 700,000 to be reached.
pub const LARGEST_MESSAGE: usize = (1 << 20) + 1;

type Builder = fn(&mut StdRng, Profile) -> Scenario;

/// Every scenario, in the order they run.
const BUILDERS: [Builder; 8] = [
    many_connections,
    sizes,
    split_sends,
    pipelining,
    half_close,
    resets,
    slow_reader,
    churn,
];

/// Build every scenario for `profile` from `seed`. Each scenario has its own generator derived
/// from the seed, so changing one scenario does not change the bytes of the others.
pub fn build(profile: Profile, seed: u64) -> Vec<Scenario> {
    BUILDERS
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut rng = gen::rng(seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            b(&mut rng, profile)
        })
        .collect()
}

fn options(concurrency: usize, timeout_s: u64) -> RunOptions {
    RunOptions {
        concurrency,
        timeout: Duration::from_secs(timeout_s),
    }
}

/// A payload of `len` random bytes sent in random pieces of at most a random size, so that
/// one-byte sends and single large sends both occur.
fn split(rng: &mut StdRng, len: usize) -> Conversation {
    let max_piece = gen::log_uniform(rng, 1, len.max(1));
    let mut c = Conversation::simple(gen::payload(rng, len));
    c.pieces = gen::pieces(rng, len, max_piece);
    c
}

/// Connections all open at once: accept storms, a large interest set, per-connection state.
fn many_connections(rng: &mut StdRng, p: Profile) -> Scenario {
    let n = p.pick(1000, 2000);
    let max = p.pick(16 * 1024, 64 * 1024);
    let conversations = (0..n)
        .map(|_| {
            let len = gen::log_uniform(rng, 1, max);
            split(rng, len)
        })
        .collect();
    Scenario {
        name: "many-connections",
        conversations,
        options: options(n, p.pick(30, 60)),
    }
}

/// Message sizes from 1 byte to past 1 MiB, always including both ends of the range.
fn sizes(rng: &mut StdRng, p: Profile) -> Scenario {
    let largest = p.pick(LARGEST_MESSAGE, 4 * LARGEST_MESSAGE);
    let n = p.pick(30, 200);
    let mut lens = vec![1, 2, LARGEST_MESSAGE, largest];
    lens.extend((0..n).map(|_| gen::log_uniform(rng, 1, largest)));
    let conversations = lens
        .into_iter()
        .map(|len| Conversation::simple(gen::payload(rng, len)))
        .collect();
    Scenario {
        name: "sizes",
        conversations,
        options: options(p.pick(16, 64), p.pick(30, 60)),
    }
}

/// Random split points: the server must not assume one read is one message.
fn split_sends(rng: &mut StdRng, p: Profile) -> Scenario {
    let n = p.pick(100, 500);
    let max = p.pick(64 * 1024, 512 * 1024);
    let conversations = (0..n)
        .map(|_| {
            let len = gen::log_uniform(rng, 1, max);
            split(rng, len)
        })
        .collect();
    Scenario {
        name: "split-sends",
        conversations,
        options: options(p.pick(100, 250), p.pick(30, 60)),
    }
}

/// Many small messages sent back to back before anything is read: the client sends until the
/// socket buffer is full before it reads, and these payloads fit in it.
fn pipelining(rng: &mut StdRng, p: Profile) -> Scenario {
    let n = p.pick(50, 200);
    let messages = p.pick(200, 1000);
    let conversations = (0..n)
        .map(|i| {
            let pieces: Vec<usize> = (0..messages).map(|_| rng.gen_range(1..=512)).collect();
            let len = pieces.iter().sum();
            let mut c = Conversation::simple(gen::payload(rng, len));
            c.pieces = pieces;
            // Alternate endings: one waits for every byte before closing, the other relies on
            // the server flushing after our FIN.
            if i % 2 == 0 {
                c.end = End::CloseWhenEchoed;
            }
            c
        })
        .collect();
    Scenario {
        name: "pipelining",
        conversations,
        options: options(n, p.pick(30, 60)),
    }
}

/// Half-close after sending, with small receive windows on half the clients so the server
/// still owes output when our FIN arrives and must flush it before closing.
fn half_close(rng: &mut StdRng, p: Profile) -> Scenario {
    let n = p.pick(100, 500);
    let max = p.pick(256 * 1024, 1024 * 1024);
    let conversations = (0..n)
        .map(|i| {
            let len = gen::log_uniform(rng, 1, max);
            let mut c = split(rng, len);
            c.end = End::HalfClose;
            if i % 2 == 0 {
                c.rcvbuf = Some(4096);
            }
            c
        })
        .collect();
    Scenario {
        name: "half-close",
        conversations,
        options: options(n, p.pick(30, 60)),
    }
}

/// Half the clients reset (`SO_LINGER 0`) at a random point mid-stream; the others must be
/// unaffected and the server must release every reset connection.
fn resets(rng: &mut StdRng, p: Profile) -> Scenario {
    let n = p.pick(100, 500);
    let max = p.pick(128 * 1024, 512 * 1024);
    let conversations = (0..n)
        .map(|i| {
            let len = gen::log_uniform(rng, 16, max);
            let mut c = split(rng, len);
            if i % 2 == 0 {
                c.end = End::ResetAfter(rng.gen_range(1..len));
            }
            c
        })
        .collect();
    Scenario {
        name: "resets",
        conversations,
        options: options(n, p.pick(30, 60)),
    }
}

/// Slow readers with small windows among normal clients: the server must apply backpressure
/// to the slow ones without stalling the rest or buffering everything.
fn slow_reader(rng: &mut StdRng, p: Profile) -> Scenario {
    let slow = p.pick(1, 4);
    let slow_len = p.pick(LARGEST_MESSAGE, 4 * LARGEST_MESSAGE);
    let mut conversations: Vec<Conversation> = (0..slow)
        .map(|_| {
            let mut c = Conversation::simple(gen::payload(rng, slow_len));
            c.pieces = gen::pieces(rng, slow_len, 256 * 1024);
            c.slow_read = Some((16 * 1024, Duration::from_millis(2)));
            c.rcvbuf = Some(16 * 1024);
            c
        })
        .collect();
    let others = p.pick(20, 100);
    conversations.extend((0..others).map(|_| {
        let len = gen::log_uniform(rng, 1, 256 * 1024);
        split(rng, len)
    }));
    let n = conversations.len();
    Scenario {
        name: "slow-reader",
        conversations,
        options: options(n, p.pick(30, 60)),
    }
}

/// Connect, echo, close, repeat on a few connections at a time: accept/close paths, slot and
/// token reuse, descriptor reuse.
fn churn(rng: &mut StdRng, p: Profile) -> Scenario {
    let n = p.pick(300, 5000);
    let conversations = (0..n)
        .map(|i| {
            let len = gen::log_uniform(rng, 1, 4096);
            let mut c = split(rng, len);
            if i % 2 == 0 {
                c.end = End::CloseWhenEchoed;
            }
            c
        })
        .collect();
    Scenario {
        name: "churn",
        conversations,
        options: options(p.pick(4, 8), p.pick(30, 60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_builds_the_same_scenarios_and_pieces_add_up() {
        let a = build(Profile::Quick, 42);
        let b = build(Profile::Quick, 42);
        assert_eq!(a.len(), BUILDERS.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.name, y.name);
            assert_eq!(x.conversations.len(), y.conversations.len());
            for (c, d) in x.conversations.iter().zip(&y.conversations) {
                assert_eq!(c.payload, d.payload);
                assert_eq!(c.pieces, d.pieces);
                assert_eq!(c.end, d.end);
                assert_eq!(c.pieces.iter().sum::<usize>(), c.payload.len());
            }
        }
        let other = build(Profile::Quick, 43);
        assert_ne!(
            a[0].conversations[0].payload,
            other[0].conversations[0].payload
        );
    }

    #[test]
    fn profiles_cover_the_required_ranges() {
        for p in [Profile::Quick, Profile::Full] {
            let all = build(p, 1);
            let lens = all
                .iter()
                .flat_map(|s| s.conversations.iter().map(|c| c.payload.len()));
            assert_eq!(lens.clone().min(), Some(1));
            assert!(lens.max().unwrap() > 1 << 20);
            let most_concurrent = all
                .iter()
                .map(|s| s.options.concurrency.min(s.conversations.len()))
                .max();
            assert!(most_concurrent >= Some(1000));
        }
    }
}
