//! Which arguments of a request are keys (COMMAND GETKEYS, the ACL key check) and with what
//! access, and the ACL categories of every command (COMMAND INFO, ACL CAT, `+@category`).
//! Derived from the command table plus the few shapes the table's (first, last, step) cannot
//! say: a `numkeys` argument, a key after a subcommand, SORT's STORE. What it may not touch:
//! any state; these are pure functions of the table and the arguments.

use crate::commands::table::{Command, F_ADMIN, F_FAST, F_READONLY, F_WRITE};
use crate::protocol::{parse_i64, Args};

/// Redis 7.0's ACL categories, in its order (ACL CAT, COMMAND INFO).
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

fn bit(cat: &str) -> u32 {
    CATEGORIES
        .iter()
        .position(|c| *c == cat)
        .map_or(0, |i| 1 << i)
}

/// Index of a category by name (case-insensitive).
pub fn category(name: &[u8]) -> Option<usize> {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
}

/// Commands Redis puts in @dangerous without the admin flag.
const DANGEROUS: &[&str] = &[
    "keys",
    "flushdb",
    "flushall",
    "swapdb",
    "info",
    "client",
    "role",
    "lastsave",
    "sort",
    "sort_ro",
    "migrate",
    "restore",
    "restore-asking",
    "pfdebug",
    "pfselftest",
    "cluster",
];

/// Commands that may block (@blocking).
const BLOCKING: &[&str] = &[
    "blpop",
    "brpop",
    "blmove",
    "brpoplpush",
    "blmpop",
    "bzpopmin",
    "bzpopmax",
    "bzmpop",
    "wait",
    "xread",
    "xreadgroup",
];

/// The categories of `c` as a bitmask over [`CATEGORIES`].
pub fn categories(c: &Command) -> u32 {
    let mut m = match c.group {
        "generic" => bit("keyspace"),
        "string" => bit("string"),
        "list" => bit("list"),
        "hash" => bit("hash"),
        "set" => bit("set"),
        "sorted-set" => bit("sortedset"),
        "pubsub" => bit("pubsub"),
        "connection" => bit("connection"),
        "transactions" => bit("transaction"),
        "scripting" => bit("scripting"),
        "geo" => bit("geo"),
        "hyperloglog" => bit("hyperloglog"),
        "bitmap" => bit("bitmap"),
        "stream" => bit("stream"),
        // DBSIZE, FLUSHALL, SWAPDB...: server commands that read or change the keyspace.
        "server" if c.flags & (F_WRITE | F_READONLY) != 0 => bit("keyspace"),
        _ => 0,
    };
    if c.flags & F_WRITE != 0 {
        m |= bit("write");
    }
    if c.flags & F_READONLY != 0 {
        m |= bit("read");
    }
    if c.flags & F_ADMIN != 0 {
        m |= bit("admin") | bit("dangerous");
    }
    if DANGEROUS.contains(&c.name) {
        m |= bit("dangerous");
    }
    if BLOCKING.contains(&c.name) {
        m |= bit("blocking");
    }
    m |= if c.flags & F_FAST != 0 {
        bit("fast")
    } else {
        bit("slow")
    };
    m
}

/// `@name` for every category of `c`, in Redis's order.
pub fn category_names(c: &Command) -> Vec<String> {
    let m = categories(c);
    CATEGORIES
        .iter()
        .enumerate()
        .filter(|(i, _)| m & (1 << i) != 0)
        .map(|(_, n)| format!("@{n}"))
        .collect()
}

/// Commands whose key positions depend on the arguments (COMMAND INFO's `movablekeys`).
pub fn movable(name: &str) -> bool {
    numkeys_at(name).is_some()
        || matches!(
            name,
            "sort"
                | "sort_ro"
                | "migrate"
                | "xread"
                | "xreadgroup"
                | "georadius"
                | "georadiusbymember"
        )
}

/// (index of numkeys, whether a destination key precedes it) for `numkeys` commands.
fn numkeys_at(name: &str) -> Option<(usize, bool)> {
    match name {
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => {
            Some((1, false))
        }
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" | "blmpop"
        | "bzmpop" => Some((2, false)),
        "zunionstore" | "zinterstore" | "zdiffstore" => Some((2, true)),
        _ => None,
    }
}

/// Redis's key-spec flags of one key, as GETKEYSANDFLAGS prints them.
pub type KeyFlags = &'static str;

/// The key positions of a request (indexes into `a`) with their flags. `None` when the
/// arguments do not say (a numkeys that is not a number or too large).
pub fn keys(c: &Command, a: &Args<'_>) -> Option<Vec<(usize, KeyFlags)>> {
    let write = c.flags & F_WRITE != 0;
    let default = if write {
        match c.name {
            "set" | "mset" | "setex" | "psetex" | "msetnx" => "OW update",
            "setnx" => "OW insert",
            "del" | "unlink" | "getdel" => "RM delete",
            _ => "RW access update",
        }
    } else {
        "RO access"
    };
    if let Some((at, dest)) = numkeys_at(c.name) {
        if at >= a.len() {
            return None;
        }
        let n = parse_i64(a.get(at))?;
        let n = usize::try_from(n).ok()?;
        let first = at + 1;
        if first + n > a.len() {
            return None;
        }
        let mut v = Vec::with_capacity(n + 1);
        if dest {
            v.push((1, "OW update"));
        }
        let src = if write && !dest {
            "RW access delete"
        } else {
            "RO access"
        };
        v.extend((first..first + n).map(|i| (i, src)));
        return Some(v);
    }
    match c.name {
        // Shard channels are keys to a cluster's slot map, not to the keyspace (NOT_KEY).
        "ssubscribe" | "sunsubscribe" => {
            return Some((1..a.len()).map(|i| (i, "not_key")).collect())
        }
        "spublish" => return Some(vec![(1, "not_key")]),
        "memory" if a.len() >= 3 && a.get(1).eq_ignore_ascii_case(b"usage") => {
            return Some(vec![(2, "RO")])
        }
        "object" if a.len() >= 3 && !a.get(1).eq_ignore_ascii_case(b"help") => {
            return Some(vec![(2, "RO")])
        }
        "sort" | "sort_ro" => {
            let mut v = vec![(1, "RO access")];
            let mut j = 2;
            while j + 1 < a.len() {
                if a.get(j).eq_ignore_ascii_case(b"store") {
                    v.push((j + 1, "OW update"));
                }
                j += 1;
            }
            return Some(v);
        }
        "lmove" | "blmove" | "rpoplpush" | "brpoplpush" | "smove" => {
            return Some(vec![(1, "RW access delete"), (2, "RW insert")])
        }
        _ => {}
    }
    let (first, last, step) = c.keys;
    if first <= 0 {
        return Some(Vec::new());
    }
    let len = a.len() as i32;
    let last = if last < 0 { len + last } else { last };
    let mut v = Vec::new();
    let mut i = first;
    while i <= last && i < len {
        v.push((i as usize, default));
        i += step.max(1);
    }
    Some(v)
}

/// Does `c` take keys at all (COMMAND GETKEYS refuses those that do not)?
pub fn has_keys(c: &Command) -> bool {
    c.keys.0 > 0 || numkeys_at(c.name).is_some() || matches!(c.name, "memory" | "object")
}

/// Does `c` take channels (the ACL channel check)? (index of first, all the rest are).
pub fn channels_from(c: &Command) -> Option<usize> {
    match c.name {
        "subscribe" | "ssubscribe" | "psubscribe" | "publish" | "spublish" => Some(1),
        "pubsub" => None,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::table::find;

    #[test]
    fn categories_follow_redis_for_common_commands() {
        assert_eq!(
            category_names(find("get").unwrap()),
            ["@read", "@string", "@fast"]
        );
        assert_eq!(
            category_names(find("flushall").unwrap()),
            ["@keyspace", "@write", "@slow", "@dangerous"]
        );
        assert!(categories(find("blpop").unwrap()) & bit("blocking") != 0);
        assert_eq!(category(b"SortedSet"), Some(4));
    }
}
