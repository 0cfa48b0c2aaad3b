//! The access-control model of Redis 7.0: users with SHA-256-hashed passwords, enabled or not,
//! each a root selector (commands, key patterns, channel patterns) plus extra selectors, the
//! rule language of ACL SETUSER and of the `user` directive, and the check every command
//! passes ([`check`]). The ACL command itself is in `acl_cmd.rs`. What it may not touch: the
//! keyspace and the connections (the dispatcher asks; killing a deleted user's clients is the
//! command's job).
//!
//! Cost: while every user may run everything on every key and channel (the default user alone,
//! as a fresh server has it), [`Acl::open`] is true and the dispatcher skips the check: one
//! boolean per command.

use hashbrown::HashMap;
use sha2::{Digest, Sha256};

use crate::commands::keyspec;
use crate::commands::table::{Command, COMMANDS};
use crate::protocol::Args;
use kvtypes::glob;

const READ: u8 = 1;
const WRITE: u8 = 2;

/// Commands, keys and channels a user may use.
#[derive(Clone, Debug)]
pub struct Selector {
    /// Per command: bit 0 the command itself, bit k+1 its k-th subcommand.
    perms: Vec<u64>,
    /// Set by `+@all`, cleared by `-@all`: how the description starts.
    all_base: bool,
    /// The command rules since the last `+@all`/`-@all`, as Redis keeps them to describe them.
    rules: Vec<String>,
    keys: Vec<(Vec<u8>, u8)>,
    all_keys: bool,
    channels: Vec<Vec<u8>>,
    all_channels: bool,
}

impl Selector {
    fn empty() -> Selector {
        Selector {
            perms: vec![0; COMMANDS.len()],
            all_base: false,
            rules: Vec::new(),
            keys: Vec::new(),
            all_keys: false,
            channels: Vec::new(),
            all_channels: false,
        }
    }

    fn full_mask(c: &Command) -> u64 {
        if c.subs.len() >= 63 {
            u64::MAX
        } else {
            (1u64 << (c.subs.len() + 1)) - 1
        }
    }

    fn is_open(&self) -> bool {
        self.all_keys
            && self.all_channels
            && COMMANDS
                .iter()
                .zip(&self.perms)
                .all(|(c, &p)| p == Selector::full_mask(c))
    }

    /// Apply one rule; the error is Redis's reason text.
    fn apply(&mut self, op: &[u8]) -> Result<(), &'static str> {
        let lower = op.to_ascii_lowercase();
        match lower.as_slice() {
            b"allkeys" | b"~*" => {
                self.all_keys = true;
                self.keys.clear();
                return Ok(());
            }
            b"resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
                return Ok(());
            }
            b"allchannels" | b"&*" => {
                self.all_channels = true;
                self.channels.clear();
                return Ok(());
            }
            b"resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
                return Ok(());
            }
            b"allcommands" | b"+@all" => {
                self.set_all(true);
                return Ok(());
            }
            b"nocommands" | b"-@all" => {
                self.set_all(false);
                return Ok(());
            }
            _ => {}
        }
        match op.first() {
            Some(b'~') => self.add_key(&op[1..], READ | WRITE),
            Some(b'%') => {
                let tilde = op.iter().position(|&b| b == b'~').ok_or(SYNTAX_ERR)?;
                let mut f = 0;
                for &b in &op[1..tilde] {
                    f |= match b.to_ascii_uppercase() {
                        b'R' => READ,
                        b'W' => WRITE,
                        _ => return Err(SYNTAX_ERR),
                    };
                }
                if f == 0 {
                    return Err(SYNTAX_ERR);
                }
                self.add_key(&op[tilde + 1..], f)
            }
            Some(b'&') => {
                if self.all_channels {
                    return Err("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels");
                }
                let p = op[1..].to_vec();
                if !self.channels.contains(&p) {
                    self.channels.push(p);
                }
                Ok(())
            }
            Some(&s @ (b'+' | b'-')) => self.command_rule(s == b'+', &lower[1..]),
            _ => Err(SYNTAX_ERR),
        }
    }

    fn add_key(&mut self, pat: &[u8], f: u8) -> Result<(), &'static str> {
        if self.all_keys {
            return Err("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns");
        }
        if pat == b"*" && f == READ | WRITE {
            self.all_keys = true;
            self.keys.clear();
            return Ok(());
        }
        match self.keys.iter_mut().find(|(p, _)| p == pat) {
            Some(k) => k.1 |= f,
            None => self.keys.push((pat.to_vec(), f)),
        }
        Ok(())
    }

    fn set_all(&mut self, on: bool) {
        for (c, p) in COMMANDS.iter().zip(&mut self.perms) {
            *p = if on { Selector::full_mask(c) } else { 0 };
        }
        self.all_base = on;
        self.rules.clear();
    }

    fn command_rule(&mut self, allow: bool, name: &[u8]) -> Result<(), &'static str> {
        let sign = if allow { '+' } else { '-' };
        if let Some(cat) = name.strip_prefix(b"@") {
            let cat = keyspec::category(cat).ok_or(UNKNOWN_CMD)?;
            for (c, p) in COMMANDS.iter().zip(&mut self.perms) {
                if keyspec::categories(c) & (1 << cat) != 0 {
                    *p = if allow { Selector::full_mask(c) } else { 0 };
                }
            }
            let rule = format!("{sign}@{}", keyspec::CATEGORIES[cat]);
            self.rules.retain(|r| r[1..] != rule[1..]);
            self.rules.push(rule);
            return Ok(());
        }
        let name = std::str::from_utf8(name).map_err(|_| UNKNOWN_CMD)?;
        let (parent, sub) = match name.split_once('|') {
            Some((p, s)) => (p, Some(s)),
            None => (name, None),
        };
        let ci = COMMANDS
            .iter()
            .position(|c| c.name == parent)
            .ok_or(UNKNOWN_CMD)?;
        let c = &COMMANDS[ci];
        match sub {
            None => {
                self.perms[ci] = if allow { Selector::full_mask(c) } else { 0 };
                // The whole command's rule replaces what was said of its subcommands.
                let prefix = format!("{parent}|");
                self.rules
                    .retain(|r| r[1..] != *parent && !r[1..].starts_with(&prefix));
            }
            Some(s) => {
                if s.contains('|') {
                    return Err(UNKNOWN_CMD);
                }
                let k = c
                    .subs
                    .iter()
                    .position(|(n, _)| *n == s)
                    .ok_or(UNKNOWN_CMD)?;
                if allow {
                    self.perms[ci] |= 1 << (k + 1);
                } else {
                    self.perms[ci] &= !(1 << (k + 1));
                }
                self.rules.retain(|r| r[1..] != *name);
            }
        }
        self.rules.push(format!("{sign}{name}"));
        Ok(())
    }

    pub fn describe_commands(&self) -> String {
        let mut s = String::from(if self.all_base { "+@all" } else { "-@all" });
        for r in &self.rules {
            s.push(' ');
            s.push_str(r);
        }
        s
    }

    pub fn describe_keys(&self) -> String {
        if self.all_keys {
            return "~*".into();
        }
        let v: Vec<String> = self
            .keys
            .iter()
            .map(|(p, f)| {
                let prefix = match *f {
                    READ => "%R~",
                    WRITE => "%W~",
                    _ => "~",
                };
                format!("{prefix}{}", String::from_utf8_lossy(p))
            })
            .collect();
        v.join(" ")
    }

    pub fn describe_channels(&self) -> String {
        if self.all_channels {
            return "&*".into();
        }
        let v: Vec<String> = self
            .channels
            .iter()
            .map(|p| format!("&{}", String::from_utf8_lossy(p)))
            .collect();
        v.join(" ")
    }

    /// Keys, channels, commands, as ACL LIST shows a selector.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        let k = self.describe_keys();
        if !k.is_empty() {
            parts.push(k);
        }
        if self.all_channels {
            parts.push("&*".into());
        } else {
            parts.push("resetchannels".into());
            let c = self.describe_channels();
            if !c.is_empty() {
                parts.push(c);
            }
        }
        parts.push(self.describe_commands());
        parts.join(" ")
    }

    fn check(&self, ci: usize, a: &Args<'_>) -> Result<(), Denied> {
        let c = &COMMANDS[ci];
        let mut bit = 1u64;
        let mut full = c.name.to_string();
        if !c.subs.is_empty() && a.len() >= 2 {
            let sub = a.get(1).to_ascii_lowercase();
            if let Some(k) = c.subs.iter().position(|(n, _)| n.as_bytes() == sub) {
                bit = 1 << (k + 1);
                full = format!("{}|{}", c.name, c.subs[k].0);
            }
        }
        // AUTH, HELLO and the like (no-auth commands) are never refused a user: they are how
        // one becomes another.
        if self.perms[ci] & bit == 0 && c.flags & crate::commands::table::F_NOAUTH == 0 {
            return Err(Denied::Command(full));
        }
        if !self.all_keys {
            if let Some(keys) = keyspec::keys(c, a) {
                for (pos, flags) in keys {
                    if flags != "not_key" && !self.key_ok(a.get(pos), flags) {
                        return Err(Denied::Key(a.get(pos).to_vec()));
                    }
                }
            }
        }
        if !self.all_channels {
            if let Some(first) = keyspec::channels_from(c) {
                let last = if matches!(c.name, "publish" | "spublish") {
                    2.min(a.len())
                } else {
                    a.len()
                };
                let literal = c.name == "psubscribe";
                for j in first..last {
                    if !self.channel_ok(a.get(j), literal) {
                        return Err(Denied::Channel(a.get(j).to_vec()));
                    }
                }
            }
        }
        Ok(())
    }

    fn key_ok(&self, key: &[u8], flags: &str) -> bool {
        let mut need = 0;
        if flags.contains("access") {
            need |= READ;
        }
        if flags.contains("update") || flags.contains("insert") || flags.contains("delete") {
            need |= WRITE;
        }
        self.keys
            .iter()
            .any(|(p, f)| f & need == need && glob::matches(p, key))
    }

    fn channel_ok(&self, ch: &[u8], literal: bool) -> bool {
        self.channels.iter().any(|p| {
            if literal {
                p == ch
            } else {
                glob::matches(p, ch)
            }
        })
    }
}

const SYNTAX_ERR: &str = "Syntax error";
const UNKNOWN_CMD: &str = "Unknown command or category name in ACL";

/// Why a command was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// `name` or `name|sub`.
    Command(String),
    Key(Vec<u8>),
    Channel(Vec<u8>),
}

impl Denied {
    fn rank(&self) -> u8 {
        match self {
            Denied::Command(_) => 1,
            Denied::Key(_) => 2,
            Denied::Channel(_) => 4,
        }
    }

    /// The reply to the refused command.
    pub fn noperm(&self) -> String {
        match self {
            Denied::Command(c) => {
                format!("NOPERM this user has no permissions to run the '{c}' command")
            }
            Denied::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .into()
            }
            Denied::Channel(_) => "NOPERM this user has no permissions to access one of the channels used as arguments".into(),
        }
    }

    /// ACL DRYRUN's text.
    pub fn dryrun(&self) -> String {
        match self {
            Denied::Command(c) => format!("This user has no permissions to run the '{c}' command"),
            Denied::Key(k) => format!(
                "This user has no permissions to access the '{}' key",
                String::from_utf8_lossy(k)
            ),
            Denied::Channel(k) => format!(
                "This user has no permissions to access the '{}' channel",
                String::from_utf8_lossy(k)
            ),
        }
    }

    /// ACL LOG's (reason, object).
    pub fn log(&self) -> (&'static str, Vec<u8>) {
        match self {
            Denied::Command(c) => ("command", c.as_bytes().to_vec()),
            Denied::Key(k) => ("key", k.clone()),
            Denied::Channel(k) => ("channel", k.clone()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub name: Vec<u8>,
    pub enabled: bool,
    pub nopass: bool,
    pub sanitize: Option<bool>,
    /// Lowercase hex SHA-256 of each password.
    pub passwords: Vec<String>,
    pub root: Selector,
    pub selectors: Vec<Selector>,
}

pub fn hash_password(p: &[u8]) -> String {
    let d = Sha256::digest(p);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl User {
    /// A user as ACL SETUSER creates it: off, no password, nothing allowed.
    pub fn new(name: &[u8]) -> User {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            root: Selector::empty(),
            selectors: Vec::new(),
        }
    }

    /// The default user of a fresh server: everything, no password.
    pub fn default_user() -> User {
        let mut u = User::new(b"default");
        for op in ["on", "nopass", "~*", "&*", "+@all"] {
            let _ = u.apply(op.as_bytes());
        }
        u
    }

    /// One SETUSER rule; the error is Redis's reason.
    pub fn apply(&mut self, op: &[u8]) -> Result<(), &'static str> {
        let lower = op.to_ascii_lowercase();
        match lower.as_slice() {
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"sanitize-payload" => self.sanitize = Some(true),
            b"skip-sanitize-payload" => self.sanitize = Some(false),
            b"clearselectors" => self.selectors.clear(),
            b"reset" => {
                let name = std::mem::take(&mut self.name);
                *self = User::new(&name);
                self.sanitize = Some(true);
            }
            _ => match op.first() {
                Some(b'>') => {
                    let h = hash_password(&op[1..]);
                    if !self.passwords.contains(&h) {
                        self.passwords.push(h);
                    }
                    self.nopass = false;
                }
                Some(b'#') => {
                    let h = &op[1..];
                    if h.len() != 64 || !h.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                        return Err("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters");
                    }
                    let h = String::from_utf8_lossy(h).into_owned();
                    if !self.passwords.contains(&h) {
                        self.passwords.push(h);
                    }
                    self.nopass = false;
                }
                Some(b'<') | Some(b'!') => {
                    let h = if op[0] == b'<' {
                        hash_password(&op[1..])
                    } else {
                        String::from_utf8_lossy(&op[1..]).into_owned()
                    };
                    let before = self.passwords.len();
                    self.passwords.retain(|p| *p != h);
                    if self.passwords.len() == before {
                        return Err(
                            "The password you are trying to remove from the user does not exist",
                        );
                    }
                }
                Some(b'(') if op.last() == Some(&b')') => {
                    let mut sel = Selector::empty();
                    for part in op[1..op.len() - 1]
                        .split(|&b| b == b' ')
                        .filter(|p| !p.is_empty())
                    {
                        sel.apply(part)?;
                    }
                    self.selectors.push(sel);
                }
                _ => self.root.apply(op)?,
            },
        }
        Ok(())
    }

    pub fn password_ok(&self, pass: &[u8]) -> bool {
        self.nopass || self.passwords.contains(&hash_password(pass))
    }

    pub fn flags(&self) -> Vec<&'static str> {
        let mut v = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            v.push("nopass");
        }
        match self.sanitize {
            Some(true) => v.push("sanitize-payload"),
            Some(false) => v.push("skip-sanitize-payload"),
            None => {}
        }
        v
    }

    /// The user as ACL LIST and the ACL file write it.
    pub fn describe(&self) -> String {
        let mut s = format!("user {}", String::from_utf8_lossy(&self.name));
        for f in self.flags() {
            s.push(' ');
            s.push_str(f);
        }
        for p in &self.passwords {
            s.push_str(" #");
            s.push_str(p);
        }
        s.push(' ');
        s.push_str(&self.root.describe());
        for sel in &self.selectors {
            s.push_str(" (");
            s.push_str(&sel.describe());
            s.push(')');
        }
        s
    }

    fn is_open(&self) -> bool {
        self.enabled && self.root.is_open()
    }

    /// May this user run the request? The root selector's refusal is the one reported when
    /// no selector allows it either.
    pub fn check(&self, ci: usize, a: &Args<'_>) -> Result<(), Denied> {
        let mut worst = match self.root.check(ci, a) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        // As Redis: the most specific refusal of all selectors is reported (a channel over a
        // key over a command), the first of equals.
        for s in &self.selectors {
            match s.check(ci, a) {
                Ok(()) => return Ok(()),
                Err(e) if e.rank() > worst.rank() => worst = e,
                Err(_) => {}
            }
        }
        Err(worst)
    }
}

/// A selector's `(` without its `)`.
#[derive(Debug)]
pub struct Unmatched;

/// Split SETUSER arguments into rules: a selector `(...)` may span several arguments.
pub fn merge_selectors<'a>(
    args: impl Iterator<Item = &'a [u8]>,
) -> Result<Vec<Vec<u8>>, Unmatched> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut open: Option<Vec<u8>> = None;
    for a in args {
        match open.as_mut() {
            Some(buf) => {
                buf.push(b' ');
                buf.extend_from_slice(a);
                if a.last() == Some(&b')') {
                    out.push(open.take().unwrap_or_default());
                }
            }
            None if a.first() == Some(&b'(') && a.last() != Some(&b')') => open = Some(a.to_vec()),
            None => out.push(a.to_vec()),
        }
    }
    if open.is_some() {
        return Err(Unmatched);
    }
    Ok(out)
}

/// One ACL LOG entry.
pub struct LogEntry {
    pub count: u64,
    pub reason: &'static str,
    pub context: &'static str,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub client_info: String,
}

/// Every user, the log of refusals.
pub struct Acl {
    pub users: HashMap<Vec<u8>, User>,
    /// Every user may do everything: the dispatcher skips the check.
    pub open: bool,
    pub log: std::collections::VecDeque<LogEntry>,
    pub log_max: usize,
    /// `aclfile`: where ACL LOAD/SAVE read and write (none: those commands refuse).
    pub file: Option<std::path::PathBuf>,
}

impl Default for Acl {
    fn default() -> Acl {
        let mut users = HashMap::new();
        users.insert(b"default".to_vec(), User::default_user());
        Acl {
            users,
            open: true,
            log: Default::default(),
            log_max: 128,
            file: None,
        }
    }
}

impl Acl {
    /// Recompute [`open`](Self::open) after any change of any user.
    pub fn changed(&mut self) {
        self.open = self.users.values().all(User::is_open);
    }

    /// `requirepass`: the default user's password (none: nopass).
    pub fn set_default_password(&mut self, pass: Option<&str>) {
        if let Some(u) = self.users.get_mut(&b"default"[..]) {
            let _ = u.apply(b"resetpass");
            match pass {
                Some(p) => {
                    let _ = u.apply(format!(">{p}").as_bytes());
                }
                None => {
                    let _ = u.apply(b"nopass");
                }
            }
        }
        self.changed();
    }

    /// A user may connect without AUTH (the default user is on and has nopass).
    pub fn default_needs_no_auth(&self) -> bool {
        self.users
            .get(&b"default"[..])
            .is_some_and(|u| u.enabled && u.nopass)
    }

    /// Record a refusal, merged with a like one of the last minute (as Redis).
    pub fn add_log(
        &mut self,
        reason: &'static str,
        context: &'static str,
        object: Vec<u8>,
        username: Vec<u8>,
        client_info: String,
        now_ms: u64,
    ) {
        if let Some(pos) = self.log.iter().position(|e| {
            e.reason == reason
                && e.context == context
                && e.object == object
                && e.username == username
                && now_ms.saturating_sub(e.updated_ms) < 60_000
        }) {
            if let Some(mut e) = self.log.remove(pos) {
                e.count += 1;
                e.updated_ms = now_ms;
                e.client_info = client_info;
                self.log.push_front(e);
            }
            return;
        }
        self.log.push_front(LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            created_ms: now_ms,
            updated_ms: now_ms,
            client_info,
        });
        while self.log.len() > self.log_max {
            self.log.pop_back();
        }
    }

    /// Parse an ACL file's text (or `user` directives): every user, or the first error.
    pub fn parse_users(text: &str) -> Result<Vec<User>, String> {
        let mut out: Vec<User> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if words[0] != "user" || words.len() < 2 {
                return Err(format!("/ line {}: should start with user keyword", n + 1));
            }
            let name = words[1].as_bytes();
            if out.iter().any(|u| u.name == name) {
                return Err(format!("WARNING: Duplicate user '{}' found", words[1]));
            }
            let mut u = User::new(name);
            let rules = merge_selectors(words[2..].iter().map(|w| w.as_bytes()))
                .map_err(|_| format!("line {}: Unmatched parenthesis in acl selector", n + 1))?;
            for r in &rules {
                u.apply(r).map_err(|e| {
                    format!(
                        "/ line {}: Error in applying operation '{}': {e}",
                        n + 1,
                        String::from_utf8_lossy(r)
                    )
                })?;
            }
            out.push(u);
        }
        Ok(out)
    }
}

/// The name of a command for ACL CAT: parent and `parent|sub` entries of a category.
pub fn commands_in(cat: usize) -> Vec<String> {
    let mut v = Vec::new();
    for c in COMMANDS {
        if keyspec::categories(c) & (1 << cat) != 0 {
            v.push(c.name.to_string());
            for (s, _) in c.subs {
                v.push(format!("{}|{s}", c.name));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::OwnedArgs;

    fn args(v: &[&str]) -> OwnedArgs {
        OwnedArgs::new(v.iter().map(|s| s.as_bytes()))
    }

    fn user(rules: &[&str]) -> User {
        let mut u = User::new(b"u");
        for r in rules {
            u.apply(r.as_bytes()).unwrap();
        }
        u
    }

    #[test]
    fn rules_describe_as_redis() {
        let u = user(&["on", "nopass", "resetchannels", "&foo", "+@all"]);
        assert_eq!(u.describe(), "user u on nopass resetchannels &foo +@all");
        let mut u = user(&["-@all", "+memory|doctor"]);
        assert_eq!(u.root.describe_commands(), "-@all +memory|doctor");
        u.apply(b"+memory").unwrap();
        assert_eq!(u.root.describe_commands(), "-@all +memory");
        let u = user(&["+@all", "-client|kill"]);
        assert_eq!(u.root.describe_commands(), "+@all -client|kill");
        assert_eq!(
            User::default_user().describe(),
            "user default on nopass ~* &* +@all"
        );
        assert_eq!(
            user(&["%R~r*", "%W~w*", "~rw"]).root.describe_keys(),
            "%R~r* %W~w* ~rw"
        );
    }

    #[test]
    fn checks_commands_keys_and_channels() {
        let u = user(&[
            "on",
            "+@all",
            "-memory|doctor",
            "~foo*",
            "resetchannels",
            "&ch",
        ]);
        assert!(u
            .check(
                COMMANDS.iter().position(|c| c.name == "get").unwrap(),
                &args(&["get", "foo1"]).args()
            )
            .is_ok());
        let get = COMMANDS.iter().position(|c| c.name == "get").unwrap();
        assert_eq!(
            u.check(get, &args(&["get", "bar"]).args()),
            Err(Denied::Key(b"bar".to_vec()))
        );
        let mem = COMMANDS.iter().position(|c| c.name == "memory").unwrap();
        assert_eq!(
            u.check(mem, &args(&["memory", "doctor"]).args()),
            Err(Denied::Command("memory|doctor".into()))
        );
        let publish = COMMANDS.iter().position(|c| c.name == "publish").unwrap();
        assert!(u
            .check(publish, &args(&["publish", "ch", "m"]).args())
            .is_ok());
        assert!(u
            .check(publish, &args(&["publish", "other", "m"]).args())
            .is_err());
        // A selector allows what the root does not.
        let mut u = user(&["on", "-@all"]);
        u.apply(b"(+get ~bar)").unwrap();
        assert!(u.check(get, &args(&["get", "bar"]).args()).is_ok());
        assert_eq!(
            u.check(get, &args(&["get", "x"]).args()),
            Err(Denied::Command("get".into()))
        );
    }

    #[test]
    fn passwords_are_sha256() {
        let u = user(&[">passwd1"]);
        assert!(u.password_ok(b"passwd1"));
        assert!(!u.password_ok(b"x"));
        assert_eq!(
            hash_password(b"passwd4"),
            "34344e4d60c2b6d639b7bd22e18f2b0b91bc34bf0ac5f9952744435093cfb4e6"
        );
        assert!(user(&[]).apply(b"#abc").is_err());
    }
}
