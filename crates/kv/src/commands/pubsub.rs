//! Pub/sub: SUBSCRIBE, PSUBSCRIBE, their UNSUBSCRIBEs, PUBLISH and PUBSUB, and sharded
//! pub/sub as a standalone server has it (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH: one shard, its
//! own channel namespace and `smessage` pushes). A message is
//! appended to every subscriber's output with `Ctx::send_to` (RESP2 `message` arrays or RESP3
//! pushes, encoded once per protocol), so a publish costs one copy per receiver and never
//! waits on a slow one: a subscriber that stops reading grows its own output until the loop
//! cuts it off at the pubsub class of `client-output-buffer-limit` (hard at once, soft after
//! its seconds), which a connection takes on with its first subscription and leaves with its
//! last.

use hashbrown::{HashMap, HashSet};
use readyloop_server::{ConnId, Ctx};

use crate::protocol::{Args, Reply};
use crate::service::{Core, Exec};

#[derive(Clone, Copy)]
struct Sub {
    conn: ConnId,
    resp3: bool,
}

#[derive(Default)]
struct ClientSubs {
    channels: HashSet<Vec<u8>>,
    patterns: HashSet<Vec<u8>>,
    shard: HashSet<Vec<u8>>,
}

/// Subscriptions by channel, by pattern and by client.
#[derive(Default)]
pub struct PubSub {
    channels: HashMap<Vec<u8>, HashMap<u64, Sub>>,
    patterns: HashMap<Vec<u8>, HashMap<u64, Sub>>,
    shard: HashMap<Vec<u8>, HashMap<u64, Sub>>,
    clients: HashMap<u64, ClientSubs>,
    /// Messages handed to subscribers.
    pub delivered: u64,
}

impl PubSub {
    /// Every subscription of a client (channels, patterns, shard channels): while any, a
    /// RESP2 client is in the subscribed context.
    pub fn count(&self, client: u64) -> usize {
        self.clients
            .get(&client)
            .map_or(0, |c| c.channels.len() + c.patterns.len() + c.shard.len())
    }

    /// Channels plus patterns of a client (what (P)(UN)SUBSCRIBE replies count).
    fn plain_count(&self, client: u64) -> usize {
        self.clients
            .get(&client)
            .map_or(0, |c| c.channels.len() + c.patterns.len())
    }

    /// Shard channels of a client (what S(UN)SUBSCRIBE replies count).
    fn shard_count(&self, client: u64) -> usize {
        self.clients.get(&client).map_or(0, |c| c.shard.len())
    }

    /// (channels, patterns, shard channels) with subscribers, for INFO.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.channels.len(), self.patterns.len(), self.shard.len())
    }

    fn drop_client(&mut self, client: u64) {
        let Some(subs) = self.clients.remove(&client) else {
            return;
        };
        for ch in subs.channels {
            remove_from(&mut self.channels, &ch, client);
        }
        for p in subs.patterns {
            remove_from(&mut self.patterns, &p, client);
        }
        for ch in subs.shard {
            remove_from(&mut self.shard, &ch, client);
        }
    }
}

fn remove_from(map: &mut HashMap<Vec<u8>, HashMap<u64, Sub>>, name: &[u8], client: u64) {
    if let Some(m) = map.get_mut(name) {
        m.remove(&client);
        if m.is_empty() {
            map.remove(name);
        }
    }
}

/// A connection closed: drop its subscriptions.
pub fn closed(core: &mut Core, client: u64) {
    core.pubsub.drop_client(client);
}

/// RESET: the current client leaves every channel and pattern (no messages) and with them the
/// pubsub output limits.
pub fn leave_all(x: &mut Exec<'_, '_>) {
    let before = x.core.pubsub.count(x.client.id);
    x.core.pubsub.drop_client(x.client.id);
    reclassify(x, before);
}

/// RESP2 clients with subscriptions may only run these (Redis's "subscribed context").
pub fn allowed_in_context(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// True (after replying) if the current client is in RESP2 subscribed mode and `name` is not
/// allowed there.
pub fn refuse_in_context(x: &mut Exec<'_, '_>, name: &str) -> bool {
    if x.client.resp3 || allowed_in_context(name) || x.core.pubsub.count(x.client.id) == 0 {
        return false;
    }
    x.err(&format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    ));
    true
}

/// `[kind, name, count]` as a push (RESP3) or array (RESP2).
fn ack(x: &mut Exec<'_, '_>, kind: &str, name: Option<&[u8]>, count: usize) {
    let resp3 = x.client.resp3;
    let out = x.ctx.out();
    out.extend_from_slice(if resp3 { b">3\r\n" } else { b"*3\r\n" });
    let mut r = Reply { buf: out, resp3 };
    r.bulk(kind.as_bytes());
    match name {
        Some(n) => r.bulk(n),
        None => r.null(),
    }
    r.int(count as i64);
}

/// The client's subscription count went from `before` to what it is now: move it between the
/// normal and pubsub output limits when it entered or left the subscribed state.
fn reclassify(x: &mut Exec<'_, '_>, before: usize) {
    let (was, is) = (
        crate::service::limits::class_of(before),
        crate::service::limits::class_of(x.core.pubsub.count(x.client.id)),
    );
    if was != is {
        crate::service::limits::apply(x.ctx, &x.core.cfg.output_limits, x.client.conn, is);
    }
}

fn subscribe_generic(x: &mut Exec<'_, '_>, a: Args<'_>, pattern: bool) {
    let id = x.client.id;
    let before = x.core.pubsub.count(id);
    let sub = Sub {
        conn: x.client.conn,
        resp3: x.client.resp3,
    };
    for name in a.iter().skip(1) {
        let ps = &mut x.core.pubsub;
        let mine = ps.clients.entry(id).or_default();
        let set = if pattern {
            &mut mine.patterns
        } else {
            &mut mine.channels
        };
        if set.insert(name.to_vec()) {
            let map = if pattern {
                &mut ps.patterns
            } else {
                &mut ps.channels
            };
            map.entry(name.to_vec()).or_default().insert(id, sub);
        }
        let n = ps.plain_count(id);
        ack(
            x,
            if pattern { "psubscribe" } else { "subscribe" },
            Some(name),
            n,
        );
    }
    reclassify(x, before);
}

fn unsubscribe_generic(x: &mut Exec<'_, '_>, a: Args<'_>, pattern: bool) {
    let id = x.client.id;
    let before = x.core.pubsub.count(id);
    let kind = if pattern {
        "punsubscribe"
    } else {
        "unsubscribe"
    };
    let names: Vec<Vec<u8>> = if a.len() > 1 {
        a.iter().skip(1).map(<[u8]>::to_vec).collect()
    } else {
        let mine = x.core.pubsub.clients.get(&id);
        let set = mine.map(|c| if pattern { &c.patterns } else { &c.channels });
        set.map(|s| s.iter().cloned().collect()).unwrap_or_default()
    };
    if names.is_empty() {
        let n = x.core.pubsub.plain_count(id);
        return ack(x, kind, None, n);
    }
    for name in names {
        let ps = &mut x.core.pubsub;
        let removed = ps.clients.get_mut(&id).is_some_and(|c| {
            if pattern {
                c.patterns.remove(&name)
            } else {
                c.channels.remove(&name)
            }
        });
        if removed {
            let map = if pattern {
                &mut ps.patterns
            } else {
                &mut ps.channels
            };
            remove_from(map, &name, id);
        }
        let n = ps.plain_count(id);
        if ps.count(id) == 0 {
            ps.clients.remove(&id);
        }
        ack(x, kind, Some(&name), n);
    }
    reclassify(x, before);
}

pub fn subscribe(x: &mut Exec<'_, '_>, a: Args<'_>) {
    subscribe_generic(x, a, false);
}
pub fn psubscribe(x: &mut Exec<'_, '_>, a: Args<'_>) {
    subscribe_generic(x, a, true);
}
pub fn unsubscribe(x: &mut Exec<'_, '_>, a: Args<'_>) {
    unsubscribe_generic(x, a, false);
}
pub fn punsubscribe(x: &mut Exec<'_, '_>, a: Args<'_>) {
    unsubscribe_generic(x, a, true);
}

fn encode(parts: &[&[u8]], resp3: bool) -> Vec<u8> {
    let mut buf = Vec::with_capacity(32 + parts.iter().map(|p| p.len() + 16).sum::<usize>());
    buf.push(if resp3 { b'>' } else { b'*' });
    buf.extend_from_slice(itoa::Buffer::new().format(parts.len()).as_bytes());
    buf.extend_from_slice(b"\r\n");
    let mut r = Reply {
        buf: &mut buf,
        resp3,
    };
    for p in parts {
        r.bulk(p);
    }
    buf
}

fn deliver(ctx: &mut Ctx<'_>, me: ConnId, to: ConnId, bytes: &[u8]) {
    if to == me {
        ctx.out().extend_from_slice(bytes);
    } else {
        ctx.send_to(to, bytes);
    }
}

pub fn publish(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let (ch, msg) = (a.get(1), a.get(2));
    let me = x.client.conn;
    let mut n = 0u64;
    let ps = &x.core.pubsub;
    if let Some(subs) = ps.channels.get(ch) {
        let mut enc: [Option<Vec<u8>>; 2] = [None, None];
        for s in subs.values() {
            let bytes = enc[usize::from(s.resp3)]
                .get_or_insert_with(|| encode(&[b"message", ch, msg], s.resp3));
            deliver(x.ctx, me, s.conn, bytes);
            n += 1;
        }
    }
    for (pat, subs) in &ps.patterns {
        if !kvtypes::glob::matches(pat, ch) {
            continue;
        }
        let mut enc: [Option<Vec<u8>>; 2] = [None, None];
        for s in subs.values() {
            let bytes = enc[usize::from(s.resp3)]
                .get_or_insert_with(|| encode(&[b"pmessage", pat, ch, msg], s.resp3));
            deliver(x.ctx, me, s.conn, bytes);
            n += 1;
        }
    }
    x.core.pubsub.delivered += n;
    x.r().int(n as i64);
}

pub fn ssubscribe(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let id = x.client.id;
    let before = x.core.pubsub.count(id);
    let sub = Sub {
        conn: x.client.conn,
        resp3: x.client.resp3,
    };
    for name in a.iter().skip(1) {
        let ps = &mut x.core.pubsub;
        if ps
            .clients
            .entry(id)
            .or_default()
            .shard
            .insert(name.to_vec())
        {
            ps.shard.entry(name.to_vec()).or_default().insert(id, sub);
        }
        let n = ps.shard_count(id);
        ack(x, "ssubscribe", Some(name), n);
    }
    reclassify(x, before);
}

pub fn sunsubscribe(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let id = x.client.id;
    let before = x.core.pubsub.count(id);
    let names: Vec<Vec<u8>> = if a.len() > 1 {
        a.iter().skip(1).map(<[u8]>::to_vec).collect()
    } else {
        let mine = x.core.pubsub.clients.get(&id);
        mine.map(|c| c.shard.iter().cloned().collect())
            .unwrap_or_default()
    };
    if names.is_empty() {
        let n = x.core.pubsub.shard_count(id);
        return ack(x, "sunsubscribe", None, n);
    }
    for name in names {
        let ps = &mut x.core.pubsub;
        if ps
            .clients
            .get_mut(&id)
            .is_some_and(|c| c.shard.remove(&name))
        {
            remove_from(&mut ps.shard, &name, id);
        }
        let n = ps.shard_count(id);
        if ps.count(id) == 0 {
            ps.clients.remove(&id);
        }
        ack(x, "sunsubscribe", Some(&name), n);
    }
    reclassify(x, before);
}

pub fn spublish(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let (ch, msg) = (a.get(1), a.get(2));
    let me = x.client.conn;
    let mut n = 0u64;
    if let Some(subs) = x.core.pubsub.shard.get(ch) {
        let mut enc: [Option<Vec<u8>>; 2] = [None, None];
        for s in subs.values() {
            let bytes = enc[usize::from(s.resp3)]
                .get_or_insert_with(|| encode(&[b"smessage", ch, msg], s.resp3));
            deliver(x.ctx, me, s.conn, bytes);
            n += 1;
        }
    }
    x.core.pubsub.delivered += n;
    x.r().int(n as i64);
}

pub fn pubsub(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(sub) = crate::commands::table::check_sub(x, &a, "pubsub") else {
        return;
    };
    match sub {
        "channels" | "shardchannels" => {
            let pat = (a.len() > 2).then(|| a.get(2));
            let ps = &x.core.pubsub;
            let map = if sub == "channels" {
                &ps.channels
            } else {
                &ps.shard
            };
            let names: Vec<Vec<u8>> = map
                .keys()
                .filter(|c| pat.is_none_or(|p| kvtypes::glob::matches(p, c)))
                .cloned()
                .collect();
            let mut r = x.r();
            r.array(names.len());
            for c in names {
                r.bulk(&c);
            }
        }
        "numsub" | "shardnumsub" => {
            let ps = &x.core.pubsub;
            let map = if sub == "numsub" {
                &ps.channels
            } else {
                &ps.shard
            };
            let counts: Vec<(Vec<u8>, usize)> = a
                .iter()
                .skip(2)
                .map(|c| {
                    let n = map.get(c).map_or(0, HashMap::len);
                    (c.to_vec(), n)
                })
                .collect();
            let mut r = x.r();
            r.array(counts.len() * 2);
            for (c, n) in counts {
                r.bulk(&c);
                r.int(n as i64);
            }
        }
        "numpat" => {
            let n = x.core.pubsub.patterns.len();
            x.r().int(n as i64);
        }
        _ => crate::commands::keys::help(
            x,
            &[
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
                "HELP",
                "    Print this help.",
            ],
        ),
    }
}

/// PING in RESP2 subscribed mode answers `["pong", arg or ""]`.
pub fn subscribed_ping(x: &mut Exec<'_, '_>, a: &Args<'_>) -> bool {
    if x.client.resp3 || x.core.pubsub.count(x.client.id) == 0 || a.len() > 2 {
        return false;
    }
    let arg = if a.len() == 2 { a.get(1) } else { b"" };
    let mut r = x.r();
    r.array(2);
    r.bulk(b"pong");
    r.bulk(arg);
    true
}
