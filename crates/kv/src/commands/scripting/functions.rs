//! Redis 7.0 functions: FUNCTION LOAD|DELETE|FLUSH|LIST|DUMP|RESTORE|STATS|KILL|HELP and
//! FCALL/FCALL_RO. A library is Lua code opening with `#!lua name=<lib>` whose top level
//! calls `redis.register_function`; its functions run like scripts (flags from the
//! registration, never the pre-7.0 compatibility rules).
//!
//! Persistence: every change to the libraries is logged as the command that made it
//! (FUNCTION LOAD/DELETE/FLUSH/RESTORE, replayed through the table on start), and the codes
//! are mirrored in `Aof::functions` so a rewrite writes them at the head of the new base.
//! DUMP/RESTORE use Redis's payload (RDB function opcode, RDB version 10, CRC64).
//!
//! May not touch: the keyspace (FUNCTION FLUSH leaves data alone), the log's files.

use hashbrown::HashMap;

use super::engine::{Engine, Registered};
use crate::commands::keys::help;
use crate::commands::table::check_sub;
use crate::protocol::Args;
use crate::service::Exec;

/// One loaded library.
#[derive(Clone)]
pub struct Library {
    pub name: String,
    pub code: Vec<u8>,
    pub funcs: Vec<Registered>,
}

/// Every library, in load order, and which library each function name belongs to.
#[derive(Default)]
pub struct Libraries {
    libs: Vec<Library>,
    by_func: HashMap<String, usize>,
}

impl Libraries {
    fn reindex(&mut self) {
        self.by_func.clear();
        for (i, l) in self.libs.iter().enumerate() {
            for f in &l.funcs {
                // Function names match in any case (Redis's dictionary of them does).
                self.by_func.insert(f.name.to_ascii_lowercase(), i);
            }
        }
    }

    pub fn function_count(&self) -> usize {
        self.by_func.len()
    }

    pub fn library_count(&self) -> usize {
        self.libs.len()
    }

    pub fn find(&self, func: &str) -> Option<&Registered> {
        let l = &self.libs[*self.by_func.get(&func.to_ascii_lowercase())?];
        l.funcs.iter().find(|f| f.name.eq_ignore_ascii_case(func))
    }

    fn codes(&self) -> Vec<Vec<u8>> {
        self.libs.iter().map(|l| l.code.clone()).collect()
    }

    /// After SCRIPT FLUSH made a new interpreter: compile every library again in it.
    pub fn reload_into(&mut self, eng: &mut Engine) {
        let libs = std::mem::take(&mut self.libs);
        for l in libs {
            if let Ok(lib) = compile(eng, &l.code) {
                self.libs.push(lib);
            }
        }
        self.reindex();
    }
}

/// Parse the `#!lua name=...` line: the library name, or Redis's error.
fn metadata(code: &[u8]) -> Result<String, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[2..end]).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    let mut name = None;
    for p in parts {
        match p.strip_prefix("name=") {
            Some(n) => name = Some(n.to_string()),
            None => return Err(format!("ERR Invalid metadata value given: {p}")),
        }
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if !super::api::valid_name(name.as_bytes()) {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    Ok(name)
}

/// Compile and run a library's code: its functions, or Redis's error.
fn compile(eng: &mut Engine, code: &[u8]) -> Result<Library, String> {
    let name = metadata(code)?;
    let mut body = code.to_vec();
    body[0] = b'-';
    body[1] = b'-';
    let f = eng
        .compile_library(&body)
        .map_err(|e| format!("ERR Error compiling function: {e}"))?;
    let funcs = eng.run_library(&f).map_err(|e| {
        format!(
            "ERR Error registering functions: {}",
            String::from_utf8_lossy(&e)
        )
    })?;
    if funcs.is_empty() {
        return Err("ERR No functions registered".into());
    }
    Ok(Library {
        name,
        code: code.to_vec(),
        funcs,
    })
}

/// Add `lib`, replacing a library of the same name if `replace`. Err: Redis's error.
fn install(libs: &mut Libraries, lib: Library, replace: bool) -> Result<(), String> {
    let old = libs.libs.iter().position(|l| l.name == lib.name);
    if old.is_some() && !replace {
        return Err(format!("ERR Library '{}' already exists", lib.name));
    }
    for f in &lib.funcs {
        if let Some(&i) = libs.by_func.get(&f.name.to_ascii_lowercase()) {
            if Some(i) != old {
                return Err(format!("ERR Function {} already exists", f.name));
            }
        }
    }
    match old {
        Some(i) => libs.libs[i] = lib,
        None => libs.libs.push(lib),
    }
    libs.reindex();
    Ok(())
}

/// Load one library's code (FUNCTION LOAD and RESTORE): its name, or Redis's error.
fn load(x: &mut Exec<'_, '_>, code: &[u8], replace: bool) -> Result<String, String> {
    let name = metadata(code)?;
    if !replace && x.core.scripting.libs.libs.iter().any(|l| l.name == name) {
        return Err(format!("ERR Library '{name}' already exists"));
    }
    let lib = {
        let eng = x.core.scripting.engine();
        compile(eng, code)?
    };
    install(&mut x.core.scripting.libs, lib, replace)?;
    Ok(name)
}

/// Log the FUNCTION command that changed the libraries, and refresh the rewrite's copy.
fn logged(x: &mut Exec<'_, '_>, a: &Args<'_>) {
    let codes = x.core.scripting.libs.codes();
    let core = &mut *x.core;
    core.aof.functions = codes;
    if core.aof.active() && !core.aof.loading {
        let rec: Vec<Vec<u8>> = a.iter().map(<[u8]>::to_vec).collect();
        core.aof.feed_effect(x.client.db, &rec);
        core.aof.wait(x.ctx);
    }
}

const FUNCTION_HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

pub fn function(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(sub) = check_sub(x, &a, "function") else {
        return;
    };
    match sub {
        "load" => {
            let mut replace = false;
            for i in 2..a.len() - 1 {
                if a.get(i).eq_ignore_ascii_case(b"replace") {
                    replace = true;
                } else {
                    let opt = String::from_utf8_lossy(a.get(i)).into_owned();
                    return x.err(&format!("ERR Unknown option given: {opt}"));
                }
            }
            let code = a.get(a.len() - 1);
            match load(x, code, replace) {
                Ok(name) => {
                    logged(x, &a);
                    x.r().bulk(name.as_bytes());
                }
                Err(e) => x.err(&e),
            }
        }
        "delete" => {
            let name = String::from_utf8_lossy(a.get(2)).into_owned();
            let libs = &mut x.core.scripting.libs;
            match libs.libs.iter().position(|l| l.name == name) {
                Some(i) => {
                    libs.libs.remove(i);
                    libs.reindex();
                    logged(x, &a);
                    x.r().ok();
                }
                None => x.err("ERR Library not found"),
            }
        }
        "flush" => {
            if a.len() > 3 {
                return x.err("ERR unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP.");
            }
            let ok = match a.len() {
                2 => true,
                3 => {
                    a.get(2).eq_ignore_ascii_case(b"sync")
                        || a.get(2).eq_ignore_ascii_case(b"async")
                }
                _ => false,
            };
            if !ok {
                return x.err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
            }
            x.core.scripting.libs = Libraries::default();
            logged(x, &a);
            x.r().ok();
        }
        "list" => list(x, &a),
        "stats" => {
            let libs = &x.core.scripting.libs;
            let (nl, nf) = (libs.libs.len(), libs.by_func.len());
            let mut r = x.r();
            r.map(2);
            r.bulk(b"running_script");
            // No script can be running while another command is read.
            r.null();
            r.bulk(b"engines");
            r.map(1);
            r.bulk(b"LUA");
            r.map(2);
            r.bulk(b"libraries_count");
            r.int(nl as i64);
            r.bulk(b"functions_count");
            r.int(nf as i64);
        }
        "kill" => x.err("NOTBUSY No scripts in execution right now."),
        "dump" => {
            let mut p = Vec::new();
            for l in &x.core.scripting.libs.libs {
                p.push(RDB_OPCODE_FUNCTION2);
                rdb_string(&mut p, &l.code);
            }
            seal(&mut p);
            x.r().bulk(&p);
        }
        "restore" => restore(x, &a),
        _ => help(x, FUNCTION_HELP),
    }
}

fn list(x: &mut Exec<'_, '_>, a: &Args<'_>) {
    let mut with_code = false;
    let mut pattern: Option<Vec<u8>> = None;
    let mut j = 2;
    while j < a.len() {
        let opt = a.get(j).to_ascii_lowercase();
        if opt == b"withcode" && !with_code {
            with_code = true;
            j += 1;
        } else if opt == b"libraryname" && pattern.is_none() {
            if j + 1 >= a.len() {
                return x.err("ERR library name argument was not given");
            }
            pattern = Some(a.get(j + 1).to_vec());
            j += 2;
        } else {
            let o = String::from_utf8_lossy(a.get(j)).into_owned();
            return x.err(&format!("ERR Unknown argument {o}"));
        }
    }
    let libs = &x.core.scripting.libs.libs;
    let chosen: Vec<&Library> = libs
        .iter()
        .filter(|l| {
            pattern
                .as_ref()
                .is_none_or(|p| kvtypes::glob::matches(p, l.name.as_bytes()))
        })
        .collect();
    let mut out = Vec::new();
    let mut r = crate::protocol::Reply {
        buf: &mut out,
        resp3: x.client.resp3,
    };
    r.array(chosen.len());
    for l in chosen {
        r.map(if with_code { 4 } else { 3 });
        r.bulk(b"library_name");
        r.bulk(l.name.as_bytes());
        r.bulk(b"engine");
        r.bulk(b"LUA");
        r.bulk(b"functions");
        r.array(l.funcs.len());
        for f in &l.funcs {
            r.map(3);
            r.bulk(b"name");
            r.bulk(f.name.as_bytes());
            r.bulk(b"description");
            match &f.description {
                Some(d) => r.bulk(d),
                None => r.null(),
            }
            r.bulk(b"flags");
            let names: Vec<&str> = super::FLAG_NAMES
                .iter()
                .filter(|(b, _)| f.flags & b != 0)
                .map(|(_, n)| *n)
                .collect();
            r.set(names.len());
            for n in names {
                r.bulk(n.as_bytes());
            }
        }
        if with_code {
            r.bulk(b"library_code");
            r.bulk(&l.code);
        }
    }
    x.ctx.out().extend_from_slice(&out);
}

/// RDB_OPCODE_FUNCTION2: one library's code follows as an RDB string.
const RDB_OPCODE_FUNCTION2: u8 = 245;
/// The RDB version Redis 7.0 writes (DUMP payloads carry it).
const RDB_VERSION: u16 = 10;

/// An RDB length-prefixed string (uncompressed).
fn rdb_string(p: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n < 64 {
        p.push(n as u8);
    } else if n < 16384 {
        p.push(0x40 | (n >> 8) as u8);
        p.push(n as u8);
    } else if n <= u32::MAX as usize {
        p.push(0x80);
        p.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        p.push(0x81);
        p.extend_from_slice(&(n as u64).to_be_bytes());
    }
    p.extend_from_slice(s);
}

/// The DUMP trailer: RDB version (little-endian) and CRC64 (Jones) of everything before.
fn seal(p: &mut Vec<u8>) {
    p.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let c = crc64(p);
    p.extend_from_slice(&c.to_le_bytes());
}

/// CRC-64/Jones as Redis's crc64.c (reflected, polynomial 0xad93d23594c935a9).
fn crc64(data: &[u8]) -> u64 {
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5; // 0xad93d23594c935a9 reflected
    let mut crc = 0u64;
    for &b in data {
        crc ^= b as u64;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// Read an RDB length; (value, is_encoded).
fn rdb_len(p: &[u8], i: &mut usize) -> Option<(u64, bool)> {
    let b = *p.get(*i)?;
    *i += 1;
    match b >> 6 {
        0 => Some(((b & 63) as u64, false)),
        1 => {
            let b2 = *p.get(*i)?;
            *i += 1;
            Some(((((b & 63) as u64) << 8) | b2 as u64, false))
        }
        2 => {
            let w = if b == 0x80 {
                4
            } else if b == 0x81 {
                8
            } else {
                return None;
            };
            let v = p
                .get(*i..*i + w)?
                .iter()
                .fold(0u64, |a, &c| (a << 8) | c as u64);
            *i += w;
            Some((v, false))
        }
        _ => Some(((b & 63) as u64, true)),
    }
}

/// Read an RDB string: plain, integer-encoded or LZF-compressed.
fn rdb_read_string(p: &[u8], i: &mut usize) -> Option<Vec<u8>> {
    let (n, enc) = rdb_len(p, i)?;
    if !enc {
        let s = p.get(*i..*i + n as usize)?.to_vec();
        *i += n as usize;
        return Some(s);
    }
    match n {
        0 => {
            let v = *p.get(*i)? as i8;
            *i += 1;
            Some(v.to_string().into_bytes())
        }
        1 => {
            let v = i16::from_le_bytes(p.get(*i..*i + 2)?.try_into().ok()?);
            *i += 2;
            Some(v.to_string().into_bytes())
        }
        2 => {
            let v = i32::from_le_bytes(p.get(*i..*i + 4)?.try_into().ok()?);
            *i += 4;
            Some(v.to_string().into_bytes())
        }
        3 => {
            let (clen, _) = rdb_len(p, i)?;
            let (len, _) = rdb_len(p, i)?;
            let c = p.get(*i..*i + clen as usize)?;
            *i += clen as usize;
            lzf_decompress(c, len as usize)
        }
        _ => None,
    }
}

/// LZF decompression (the format Redis compresses RDB strings with).
fn lzf_decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            out.extend_from_slice(input.get(i..i + n)?);
            i += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i)? as usize;
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let start = out.len().checked_sub(back)?;
            for k in 0..len + 2 {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

fn restore(x: &mut Exec<'_, '_>, a: &Args<'_>) {
    if a.len() > 4 {
        return x.err(
            "ERR unknown subcommand or wrong number of arguments for 'restore'. Try FUNCTION HELP.",
        );
    }
    let policy = if a.len() > 3 {
        let p = a.get(3).to_ascii_lowercase();
        match &p[..] {
            b"flush" | b"append" | b"replace" if a.len() == 4 => p,
            _ => return x.err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ),
        }
    } else {
        b"append".to_vec()
    };
    let p = a.get(2);
    if p.len() < 10 {
        return x.err("ERR payload version or checksum are wrong");
    }
    let (body, trailer) = p.split_at(p.len() - 10);
    let ver = u16::from_le_bytes([trailer[0], trailer[1]]);
    let crc = u64::from_le_bytes(trailer[2..].try_into().unwrap_or([0; 8]));
    if ver > RDB_VERSION || crc64(&p[..p.len() - 8]) != crc {
        return x.err("ERR payload version or checksum are wrong");
    }
    let mut codes = Vec::new();
    let mut i = 0;
    while i < body.len() {
        if body[i] != RDB_OPCODE_FUNCTION2 {
            return x.err("ERR given type is not a function");
        }
        i += 1;
        match rdb_read_string(body, &mut i) {
            Some(c) => codes.push(c),
            None => return x.err("ERR Bad payload"),
        }
    }
    // Compiled into a scratch set first: a failure leaves the libraries as they were.
    let mut staged = Libraries::default();
    {
        let eng = x.core.scripting.engine();
        for c in &codes {
            match compile(eng, c).and_then(|l| install(&mut staged, l, false)) {
                Ok(()) => {}
                Err(e) => return x.err(&e),
            }
        }
    }
    let libs = &mut x.core.scripting.libs;
    if policy == b"flush" {
        *libs = staged;
    } else {
        let replace = policy == b"replace";
        let original = libs.libs.clone();
        for l in staged.libs {
            if let Err(e) = install(libs, l, replace) {
                libs.libs = original;
                libs.reindex();
                return x.err(&e);
            }
        }
    }
    logged(x, a);
    x.r().ok();
}

fn fcall_generic(x: &mut Exec<'_, '_>, a: Args<'_>, ro: bool) {
    let name = String::from_utf8_lossy(a.get(1)).into_owned();
    let Some(n) = crate::protocol::parse_i64(a.get(2)) else {
        return x.err("ERR Bad number of keys provided");
    };
    if n < 0 {
        return x.err("ERR Number of keys can't be negative");
    }
    if n as usize > a.len() - 3 {
        return x.err("ERR Number of keys can't be greater than number of args");
    }
    let n = n as usize;
    let Some(f) = x.core.scripting.libs.find(&name) else {
        return x.err("ERR Function not found");
    };
    let (callback, flags) = (f.callback.clone(), f.flags);
    let keys: Vec<&[u8]> = (3..3 + n).map(|i| a.get(i)).collect();
    let args: Vec<&[u8]> = (3 + n..a.len()).map(|i| a.get(i)).collect();
    super::run_script(x, flags, ro, |eng, host, resp3, out| {
        let tables = eng
            .string_table(&keys)
            .and_then(|k| Ok((k, eng.string_table(&args)?)));
        match tables {
            Ok((k, v)) => {
                let mv =
                    mlua::MultiValue::from_iter([mlua::Value::Table(k), mlua::Value::Table(v)]);
                eng.call_function(&callback, &name, mv, host, resp3, out);
            }
            Err(e) => out.extend_from_slice(format!("-ERR {e}\r\n").as_bytes()),
        }
    });
}

pub fn fcall(x: &mut Exec<'_, '_>, a: Args<'_>) {
    fcall_generic(x, a, false);
}

pub fn fcall_ro(x: &mut Exec<'_, '_>, a: Args<'_>) {
    fcall_generic(x, a, true);
}
