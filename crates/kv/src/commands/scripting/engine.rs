//! The Lua engine as Redis 7.0 embeds it: one Lua 5.1 state, sandboxed, with the `redis` API
//! and the libraries Redis loads (cjson, cmsgpack, bit, struct), compiled scripts cached by
//! their SHA1, and a run that reaches the server only through [`Host`].
//!
//! The sandbox (Redis's rules, reproduced without patching Lua):
//! - scripts see a read-only view of the globals: reading a missing global is an error
//!   ("Script attempted to access nonexistent global variable"), creating or changing one is
//!   "Attempt to modify a readonly table"; the library tables are read-only views too, and
//!   `rawset`/`setmetatable`/`getfenv` are wrapped so the views cannot be bypassed;
//! - no `io`, `os`, `package`, `require`, `loadfile`, `dofile`, `print`, `debug`;
//! - bytecode is refused; `math.random` is Redis's lrand48, reseeded to 0 before each run so
//!   every script sees the same sequence (the effects a script logs must be reproducible).
//!
//! Errors: every failure a script reports is a table `{err="CODE msg", source=, line=}`; the
//! message handler adds where in the user's code it happened (the first `@user_...` frame),
//! which the caller turns into Redis's "... script: NAME, on @user_script:N." text.
//!
//! This module may not touch the keyspace, clients or the log: everything a script does to
//! the server goes through `Host::call`.

use hashbrown::HashMap;
use mlua::{Function, Lua, LuaOptions, MultiValue, Result, StdLib, Table, Value};

use super::reply::{self, error_table};

/// What a running script may ask of the server.
pub trait Host {
    /// Run `argv` as a command of the script's own client and append its reply (RESP3 if
    /// `resp3`) to `out`. A refusal (unknown command, not allowed from scripts, a write under
    /// a read-only script...) is an error reply like any other.
    fn call(&mut self, argv: &[Vec<u8>], resp3: bool, out: &mut Vec<u8>);
    /// `redis.log(level, ...)`: 0 debug .. 3 warning.
    fn log(&mut self, level: i64, msg: &[u8]);
    /// `redis.set_repl(flags)`: 0 none, 1 AOF, 2 replicas, 3 all.
    fn set_repl(&mut self, flags: i64);
}

/// Per-run state the `redis` API reads (kept in the Lua state's app data).
pub(super) struct RunState {
    running: bool,
    /// The command `redis.call`/`pcall` converted, handed to the dispatcher without pushing
    /// its arguments on the Lua stack again (a script may pass thousands).
    pub(super) argv: Vec<Vec<u8>>,
    /// `cjson` settings (global to the interpreter, as lua-cjson's are).
    pub(super) cjson: super::cjson::Config,
    resp3: bool,
    /// lrand48's 48-bit state.
    rand: u64,
}

const LRAND48_MAX: i64 = i32::MAX as i64;

impl RunState {
    /// Redis's redisSrand48: the seed's 32 bits above lrand48's fixed low word.
    fn seed(&mut self, seed: i32) {
        self.rand = ((seed as u32 as u64) << 16) | 0x330E;
    }

    /// Redis's redisLrand48 (FreeBSD's drand48 family): x = a*x + c mod 2^48, top 31 bits.
    fn next(&mut self) -> i64 {
        self.rand = (self.rand.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & ((1 << 48) - 1);
        (self.rand >> 17) as i64
    }
}

/// A compiled script.
struct Script {
    func: Function,
    flags: u32,
}

/// The interpreter and its script cache.
pub struct Engine {
    lua: Lua,
    scripts: HashMap<String, Script>,
    /// Bytes of script bodies cached (INFO's used_memory_scripts_eval).
    pub scripts_bytes: usize,
    /// The protected globals view scripts run in.
    env: Table,
    /// The view function libraries run in (`redis` is the loading API while one loads).
    fenv: Table,
    /// Internal table shared with the prelude.
    rt: Table,
    /// `runner(f)`: xpcall(f, handler), returning ok, value.
    runner: Function,
}

/// The sandbox and API wiring, in Lua (chunk "=redis", so its frames are never reported as
/// the user's). Receives: the real globals, the internal table, the message handler.
const PRELUDE: &str = r#"
local G, RT = ...
local error, type, rawget, rawset, tostring = error, type, rawget, rawset, tostring
local setmetatable, setfenv = setmetatable, setfenv
local RO = setmetatable({}, {__mode = 'k'})
local READONLY = 'Attempt to modify a readonly table'

local function deny() error(READONLY, 2) end
local function view(t)
  local p = setmetatable({}, {__index = t, __newindex = deny, __metatable = false})
  RO[p] = true
  return p
end

local raw = RT.raw
local redis = {}
for _, k in ipairs({'call', 'pcall', 'sha1hex', 'error_reply', 'status_reply', 'setresp', 'log', 'set_repl'}) do
  redis[k] = raw[k]
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = RT.version, RT.version_num
G.redis = redis

G.math.random = raw.random
G.math.randomseed = raw.randomseed
G.cjson = {encode = raw.cjson_encode, decode = raw.cjson_decode, null = raw.cjson_null}
G.cjson.encode_keep_buffer = function() end
for _, k in ipairs({'encode_max_depth', 'decode_max_depth', 'encode_number_precision',
    'encode_invalid_numbers', 'decode_invalid_numbers'}) do
  local f = raw.cjson_config
  G.cjson[k] = function(...) return f(k, ...) end
end
G.cmsgpack = {pack = raw.msgpack_pack, unpack = raw.msgpack_unpack,
  unpack_one = raw.msgpack_unpack_one, unpack_limit = raw.msgpack_unpack_limit}
G.bit = raw.bit
G.struct = {pack = raw.struct_pack, unpack = raw.struct_unpack, size = raw.struct_size}

-- Redis's pcall: an error table caught by a script reads as its message; errors raised by
-- the Rust side arrive as userdata and read as their text.
local rawpcall, unwrap = pcall, RT.unwrap
local function fixp(ok, ...)
  if not ok then return false, unwrap((...)) end
  return ok, ...
end
G.pcall = function(f, ...) return fixp(rawpcall(f, ...)) end

G.rawset = function(t, k, v)
  if RO[t] then error(READONLY, 0) end
  return rawset(t, k, v)
end
G.setmetatable = function(t, m)
  if RO[t] then error(READONLY, 0) end
  return setmetatable(t, m)
end
local P
local rawload, rawloadstring = load, loadstring
G.loadstring = function(s, name)
  if type(s) == 'string' and s:byte(1) == 27 then return nil, 'attempt to load a binary chunk' end
  local f, e = rawloadstring(s, name)
  if f then setfenv(f, P) end
  return f, e
end
G.load = function(fn, name)
  local parts = {}
  if type(fn) == 'function' then
    while true do
      local piece = fn()
      if piece == nil or piece == '' then break end
      parts[#parts + 1] = piece
    end
  end
  return G.loadstring(table.concat(parts), name)
end
G.loadfile, G.dofile, G.print, G.require, G.module, G.package, G.io, G.os, G.debug = nil
G.getfenv, G.setfenv, G.newproxy = nil

local libs = {}
for _, k in ipairs({'redis', 'cjson', 'cmsgpack', 'bit', 'struct', 'math', 'string', 'table', 'coroutine'}) do
  if G[k] then libs[k] = view(G[k]) end
end
P = setmetatable({}, {
  __index = function(_, k)
    if k == '_G' then return P end
    local v = libs[k]
    if v == nil then v = rawget(G, k) end
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = deny,
  __metatable = view({}),
})
RO[P] = true
RT.env = P

-- Function libraries: the same view, but while a library loads `redis` is the loading API
-- (register_function, log, the constants); reading anything else in it is an error.
local LR = {register_function = raw.register_function, log = redis.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM}
local LRV = setmetatable({}, {
  __index = function(_, k)
    local v = rawget(LR, k)
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = deny,
  __metatable = false,
})
RO[LRV] = true
local FE
FE = setmetatable({}, {
  __index = function(_, k)
    if RT.loading then
      -- A library's top level only registers: no redis.call, no math (Redis 7.0).
      if k == 'redis' then return LRV end
      if k == 'math' then
        error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
      end
    end
    if k == '_G' then return FE end
    local v = libs[k]
    if v == nil then v = rawget(G, k) end
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = deny,
  __metatable = view({}),
})
RO[FE] = true
RT.fenv = FE

local xpcall, select, unpack, handler = xpcall, select, unpack, RT.handler
return function(f, ...)
  local n, args = select('#', ...), {...}
  if n == 0 then return xpcall(f, handler) end
  return xpcall(function() return f(unpack(args, 1, n)) end, handler)
end
"#;

impl Engine {
    pub fn new() -> Engine {
        Self::build().expect("the Lua prelude is valid")
    }

    fn build() -> Result<Engine> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        lua.set_app_data(RunState {
            running: false,
            argv: Vec::new(),
            cjson: super::cjson::Config::default(),
            resp3: false,
            // lrand48's initial state; Redis 7.0 never reseeds it between scripts.
            rand: 0x1234_ABCD_330E,
        });
        let g = lua.globals();
        let rt = lua.create_table()?;
        let raw = lua.create_table()?;
        super::api::register(&lua, &raw)?;
        rt.raw_set("raw", raw)?;
        rt.raw_set("version", super::REDIS_VERSION)?;
        rt.raw_set("version_num", super::REDIS_VERSION_NUM)?;
        rt.raw_set("handler", lua.create_function(handler)?)?;
        rt.raw_set("unwrap", lua.create_function(unwrap)?)?;
        let runner: Function = lua
            .load(PRELUDE)
            .set_name("=redis")
            .call((g.clone(), rt.clone()))?;
        let env: Table = rt.raw_get("env")?;
        let fenv: Table = rt.raw_get("fenv")?;
        Ok(Engine {
            lua,
            scripts: HashMap::new(),
            scripts_bytes: 0,
            env,
            fenv,
            rt,
            runner,
        })
    }

    /// SCRIPT FLUSH: a new Lua state (Redis drops the old one whole).
    pub fn reset(&mut self) {
        *self = Engine::new();
    }

    /// Bytes the Lua state uses (INFO's used_memory_lua).
    pub fn memory(&self) -> usize {
        self.lua.used_memory()
    }

    pub fn len(&self) -> usize {
        self.scripts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scripts.is_empty()
    }

    pub fn exists(&self, sha: &[u8]) -> bool {
        std::str::from_utf8(sha).is_ok_and(|s| self.scripts.contains_key(&s.to_ascii_lowercase()))
    }

    /// Compile `body` (if not cached) and return its SHA1; Err is the text after `-`.
    pub fn load(&mut self, body: &[u8]) -> std::result::Result<String, String> {
        let sha = sha1hex(body);
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, code) = super::shebang(body)?;
        let func = self
            .compile(&code, "@user_script", &self.env)
            .map_err(|e| format!("ERR Error compiling script (new function): {e}"))?;
        self.scripts_bytes += body.len();
        self.scripts.insert(sha.clone(), Script { func, flags });
        Ok(sha)
    }

    /// The flags a cached script declared (its shebang), by SHA.
    pub fn flags(&self, sha: &str) -> Option<u32> {
        self.scripts.get(sha).map(|s| s.flags)
    }

    /// lrand48's state (carried over a SCRIPT FLUSH).
    pub fn rand_state(&self) -> u64 {
        self.lua
            .app_data_ref::<RunState>()
            .map_or(0x1234_ABCD_330E, |s| s.rand)
    }

    pub fn set_rand_state(&mut self, r: u64) {
        if let Some(mut s) = self.lua.app_data_mut::<RunState>() {
            s.rand = r;
        }
    }

    /// Compile a function library's code in the functions' view.
    pub fn compile_library(&self, code: &[u8]) -> std::result::Result<Function, String> {
        self.compile(code, "@user_function", &self.fenv)
    }

    /// Run a library's top level with the loading API in place of `redis`; returns the
    /// registered functions (name, callback, flags, description) or the error text.
    pub fn run_library(&mut self, f: &Function) -> std::result::Result<Vec<Registered>, Vec<u8>> {
        let reg = self
            .lua
            .create_table()
            .map_err(|e| e.to_string().into_bytes())?;
        let set = |v: bool| -> Result<()> {
            self.rt.raw_set("loading", v)?;
            self.lua.set_named_registry_value(
                REGISTERED,
                if v {
                    Value::Table(reg.clone())
                } else {
                    Value::Nil
                },
            )
        };
        set(true).map_err(|e| e.to_string().into_bytes())?;
        if let Some(mut st) = self.lua.app_data_mut::<RunState>() {
            st.running = true;
        }
        let r = self.runner.call::<(bool, Value)>(f.clone());
        if let Some(mut st) = self.lua.app_data_mut::<RunState>() {
            st.running = false;
        }
        set(false).map_err(|e| e.to_string().into_bytes())?;
        match r {
            Ok((true, _)) => {}
            Ok((false, Value::Table(t))) => {
                return Err(t
                    .raw_get::<mlua::String>("err")
                    .map(|s| s.as_bytes().to_vec())
                    .unwrap_or_default())
            }
            Ok((false, _)) => return Err(b"ERR unknown error".to_vec()),
            Err(e) => return Err(format!("ERR {e}").into_bytes()),
        }
        let mut out = Vec::new();
        for t in reg.sequence_values::<Table>().flatten() {
            let name: String = t.raw_get("name").unwrap_or_default();
            let Ok(callback) = t.raw_get::<Function>("callback") else {
                continue;
            };
            let flags: u32 = t.raw_get("flags").unwrap_or(0);
            let desc: Option<mlua::String> = t.raw_get("description").ok();
            out.push(Registered {
                name,
                callback,
                flags,
                description: desc.map(|d| d.as_bytes().to_vec()),
            });
        }
        Ok(out)
    }

    /// Compile a chunk in environment `env`; Err is Lua's message.
    fn compile(
        &self,
        body: &[u8],
        name: &str,
        env: &Table,
    ) -> std::result::Result<Function, String> {
        if body.first() == Some(&27) {
            return Err(format!("{}: attempt to load a binary chunk", &name[1..]));
        }
        self.lua
            .load(body)
            .set_name(name)
            .set_mode(mlua::ChunkMode::Text)
            .set_environment(env.clone())
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            })
    }

    /// Run cached script `sha` with KEYS/ARGV; its reply (or error) is appended to `out`
    /// in the caller's protocol. `name` is what errors call the script (its SHA for EVAL).
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &mut self,
        sha: &str,
        keys: &[&[u8]],
        args: &[&[u8]],
        host: &mut dyn Host,
        client_resp3: bool,
        out: &mut Vec<u8>,
    ) {
        let Some(script) = self.scripts.get(sha) else {
            out.extend_from_slice(b"-NOSCRIPT No matching script. Please use EVAL.\r\n");
            return;
        };
        let func = script.func.clone();
        let g = self.lua.globals();
        let set = || -> Result<()> {
            g.raw_set(
                "KEYS",
                self.lua.create_sequence_from(
                    keys.iter()
                        .map(|k| self.lua.create_string(k))
                        .collect::<Result<Vec<_>>>()?,
                )?,
            )?;
            g.raw_set(
                "ARGV",
                self.lua.create_sequence_from(
                    args.iter()
                        .map(|k| self.lua.create_string(k))
                        .collect::<Result<Vec<_>>>()?,
                )?,
            )?;
            Ok(())
        };
        if let Err(e) = set() {
            out.extend_from_slice(format!("-ERR {e}\r\n").as_bytes());
            return;
        }
        self.call_function(&func, sha, MultiValue::new(), host, client_resp3, out);
    }

    /// Tables of strings (FCALL's keys and arguments).
    pub fn string_table(&self, items: &[&[u8]]) -> Result<Table> {
        let t = self.lua.create_table_with_capacity(items.len(), 0)?;
        for (i, s) in items.iter().enumerate() {
            t.raw_set(i + 1, self.lua.create_string(s)?)?;
        }
        Ok(t)
    }

    /// Run `func` with `args` and write its reply (or error, naming the script `name`) to
    /// `out` in the caller's protocol.
    #[allow(clippy::too_many_arguments)]
    pub fn call_function(
        &mut self,
        func: &Function,
        name: &str,
        args: MultiValue,
        host: &mut dyn Host,
        client_resp3: bool,
        out: &mut Vec<u8>,
    ) {
        if let Some(mut st) = self.lua.app_data_mut::<RunState>() {
            st.running = true;
            st.resp3 = false;
        }
        let lua = &self.lua;
        let runner = &self.runner;
        let mut buf = Vec::with_capacity(256);
        let mut argv: Vec<Vec<u8>> = Vec::new();
        let result = lua.scope(|scope| {
            let dispatch = scope.create_function_mut(
                |lua, (kind, mut args): (i64, MultiValue)| -> Result<(Value, bool)> {
                    // kind 0/1: the command is in RunState::argv (put there by redis.call).
                    // kind: 0 redis.pcall, 1 redis.call, 2 redis.log, 3 redis.set_repl.
                    if kind >= 2 {
                        let n = args
                            .pop_front()
                            .and_then(|v| reply::lua_number(&v))
                            .unwrap_or(0.0) as i64;
                        match (kind, args.pop_front()) {
                            (2, Some(Value::String(m))) => host.log(n, &m.as_bytes()),
                            (3, _) => host.set_repl(n),
                            _ => {}
                        }
                        return Ok((Value::Nil, false));
                    }
                    let raise = kind == 1;
                    let Some(mut st) = lua.app_data_mut::<RunState>() else {
                        return Ok((Value::Nil, false));
                    };
                    // The arguments redis.call converted (see api.rs); swapped back after so
                    // both vectors keep their allocations.
                    std::mem::swap(&mut argv, &mut st.argv);
                    let resp3 = st.resp3;
                    drop(st);
                    buf.clear();
                    host.call(&argv, resp3, &mut buf);
                    if let Some(mut st) = lua.app_data_mut::<RunState>() {
                        std::mem::swap(&mut argv, &mut st.argv);
                    }
                    let mut pos = 0;
                    let v = reply::resp_to_lua(lua, &buf, &mut pos)?;
                    Ok((v, raise && buf.first() == Some(&b'-')))
                },
            )?;
            lua.set_named_registry_value(DISPATCH, dispatch)?;
            let mut a = MultiValue::with_capacity(args.len() + 1);
            a.push_back(Value::Function(func.clone()));
            a.extend(args);
            let r = runner.call::<(bool, Value)>(a);
            lua.set_named_registry_value(DISPATCH, Value::Nil)?;
            r
        });
        let script_resp3 = self.lua.app_data_ref::<RunState>().is_some_and(|s| s.resp3);
        if let Some(mut st) = self.lua.app_data_mut::<RunState>() {
            st.running = false;
        }
        match result {
            Ok((true, v)) => reply::lua_to_resp(&v, script_resp3, client_resp3, out, 0),
            Ok((false, Value::Table(t))) => {
                let err: Vec<u8> = t
                    .raw_get::<mlua::String>("err")
                    .map(|s| s.as_bytes().to_vec())
                    .unwrap_or_else(|_| b"ERR unknown error".to_vec());
                let mut msg = err;
                if let (Ok(src), Ok(line)) = (
                    t.raw_get::<mlua::String>("source"),
                    t.raw_get::<i64>("line"),
                ) {
                    msg.extend_from_slice(b" script: ");
                    msg.extend_from_slice(name.as_bytes());
                    msg.extend_from_slice(b", on ");
                    msg.extend_from_slice(&src.as_bytes());
                    msg.extend_from_slice(format!(":{line}.").as_bytes());
                }
                out.push(b'-');
                out.extend(
                    msg.iter()
                        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
                );
                out.extend_from_slice(b"\r\n");
            }
            Ok((false, other)) => {
                let msg = match other {
                    Value::String(s) => s.to_string_lossy().to_string(),
                    _ => "execution failure".into(),
                };
                out.extend_from_slice(
                    format!("-ERR Error running script {name}, {msg:.100}\r\n")
                        .replace('\n', " ")
                        .trim_end()
                        .as_bytes(),
                );
                out.extend_from_slice(b"\r\n");
            }
            Err(e) => {
                let msg = e.to_string().replace(['\r', '\n'], " ");
                out.extend_from_slice(
                    format!("-ERR Error running script {name}, {msg}\r\n").as_bytes(),
                );
            }
        }
    }

    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    pub fn env(&self) -> &Table {
        &self.env
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

/// The message handler every run's xpcall uses: makes the error a table and notes where in
/// the user's code it happened (the first frame of a `@user_...` chunk).
fn handler(lua: &Lua, e: Value) -> Result<Table> {
    let t = match e {
        Value::Table(t) => t,
        Value::String(s) => {
            let mut m = b"ERR ".to_vec();
            m.extend_from_slice(&s.as_bytes());
            error_table(lua, &m)?
        }
        Value::Error(err) => match script_error(&err) {
            Some(ScriptError::Table(text)) => error_table(lua, text)?,
            Some(ScriptError::Str(text)) => {
                let mut m = b"ERR ".to_vec();
                m.extend_from_slice(text);
                error_table(lua, &m)?
            }
            None => {
                let mut m = b"ERR ".to_vec();
                m.extend_from_slice(err.to_string().as_bytes());
                error_table(lua, &m)?
            }
        },
        other => {
            let s = lua.coerce_string(other.clone()).ok().flatten();
            let mut m = b"ERR ".to_vec();
            match s {
                Some(s) => m.extend_from_slice(&s.as_bytes()),
                None => m.extend_from_slice(other.type_name().as_bytes()),
            }
            error_table(lua, &m)?
        }
    };
    for level in 1..100 {
        let Some(d) = lua.inspect_stack(level) else {
            break;
        };
        let src = d.source();
        if let Some(s) = src.source.as_deref() {
            if s.starts_with("@user_") {
                if t.raw_get::<Value>("source")? == Value::Nil {
                    t.raw_set("source", s)?;
                    t.raw_set("line", d.curr_line())?;
                }
                break;
            }
        }
    }
    Ok(t)
}

/// A function a library registered.
#[derive(Clone)]
pub struct Registered {
    pub name: String,
    pub callback: Function,
    pub flags: u32,
    pub description: Option<Vec<u8>>,
}

/// Registry name of the list `redis.register_function` appends to while a library loads.
pub(super) const REGISTERED: &str = "readyloop.registered";

/// Registry name of the current run's dispatcher (absent between runs).
pub(super) const DISPATCH: &str = "readyloop.dispatch";

/// An error raised by the Rust side of the API: `Table` is the text of a Redis error table
/// (`{err=...}`), `Str` a plain Lua error message (position already prefixed).
#[derive(Debug)]
pub enum ScriptError {
    Table(Vec<u8>),
    Str(Vec<u8>),
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScriptError::Table(t) | ScriptError::Str(t) => f.write_str(&String::from_utf8_lossy(t)),
        }
    }
}

impl std::error::Error for ScriptError {}

/// The ScriptError inside an mlua error, through the callback wrappers.
pub fn script_error(e: &mlua::Error) -> Option<&ScriptError> {
    match e {
        mlua::Error::CallbackError { cause, .. } => script_error(cause),
        mlua::Error::ExternalError(x) => x.downcast_ref::<ScriptError>(),
        _ => None,
    }
}

/// Raise a Redis error table from Rust (no position: Redis's luaPushError + luaError).
pub fn raise_table<T>(text: &[u8]) -> Result<T> {
    Err(mlua::Error::external(ScriptError::Table(text.to_vec())))
}

/// Raise a Lua error message from Rust, prefixed with the caller's position when the caller
/// is Lua code (what C's luaL_error does).
pub fn raise_str<T>(lua: &Lua, msg: &str) -> Result<T> {
    let mut m = Vec::with_capacity(msg.len() + 20);
    if let Some(d) = lua.inspect_stack(1) {
        let src = d.source();
        if src.what != "C" {
            if let Some(s) = src.short_src.as_deref() {
                m.extend_from_slice(format!("{s}:{}: ", d.curr_line()).as_bytes());
            }
        }
    }
    m.extend_from_slice(msg.as_bytes());
    Err(mlua::Error::external(ScriptError::Str(m)))
}

/// What a script's `pcall` returns as the error: a Redis error table's message, a Rust-side
/// error's text, anything else unchanged.
fn unwrap(lua: &Lua, e: Value) -> Result<Value> {
    Ok(match e {
        Value::Table(ref t) => match t.raw_get::<Value>("err")? {
            s @ Value::String(_) => s,
            _ => e,
        },
        Value::Error(err) => {
            let text = match script_error(&err) {
                Some(ScriptError::Table(t) | ScriptError::Str(t)) => t.clone(),
                None => err.to_string().into_bytes(),
            };
            Value::String(lua.create_string(&text)?)
        }
        other => other,
    })
}

/// Lowercase hex SHA1 (script names, `redis.sha1hex`).
pub fn sha1hex(body: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    let d = Sha1::digest(body);
    let mut s = String::with_capacity(40);
    for b in d {
        s.push(char::from_digit((b >> 4) as u32, 16).unwrap_or('0'));
        s.push(char::from_digit((b & 15) as u32, 16).unwrap_or('0'));
    }
    s
}

/// `math.random` as Redis 7.0 (Lua's own with lrand48; the sequence runs on across scripts).
pub(super) fn random(lua: &Lua, args: MultiValue) -> Result<Value> {
    let r = match lua.app_data_mut::<RunState>() {
        Some(mut st) if st.running => (st.next() % LRAND48_MAX) as f64 / LRAND48_MAX as f64,
        _ => {
            return raise_str(
                lua,
                "math.random can only be called inside a script invocation",
            )
        }
    };
    let int = |i: usize| -> std::result::Result<i64, String> { int_arg(&args, i, "random") };
    let v = match args.len() {
        0 => r,
        1 => match int(0) {
            Ok(u) if u >= 1 => (r * u as f64).floor() + 1.0,
            Ok(_) => return raise_str(lua, "bad argument #1 to 'random' (interval is empty)"),
            Err(e) => return raise_str(lua, &e),
        },
        2 => match (int(0), int(1)) {
            (Ok(l), Ok(u)) if l <= u => (r * (u - l + 1) as f64).floor() + l as f64,
            (Ok(_), Ok(_)) => {
                return raise_str(lua, "bad argument #2 to 'random' (interval is empty)")
            }
            (Err(e), _) | (_, Err(e)) => return raise_str(lua, &e),
        },
        _ => return raise_str(lua, "wrong number of arguments"),
    };
    Ok(Value::Number(v))
}

/// luaL_checkint: a number, or a string that reads as one.
pub(super) fn int_arg(args: &MultiValue, i: usize, name: &str) -> std::result::Result<i64, String> {
    match args.get(i) {
        Some(v @ (Value::Integer(_) | Value::Number(_))) => {
            Ok(reply::lua_number(v).unwrap_or(0.0) as i64)
        }
        Some(Value::String(s)) => s
            .to_str()
            .ok()
            .and_then(|s| super::bitlib::parse_lua_number(s.trim()))
            .map(|f| f as i64)
            .ok_or_else(|| {
                format!(
                    "bad argument #{} to '{name}' (number expected, got string)",
                    i + 1
                )
            }),
        Some(v) => Err(format!(
            "bad argument #{} to '{name}' (number expected, got {})",
            i + 1,
            v.type_name()
        )),
        None => Err(format!(
            "bad argument #{} to '{name}' (number expected, got no value)",
            i + 1
        )),
    }
}

pub(super) fn randomseed(lua: &Lua, args: MultiValue) -> Result<()> {
    let seed = match int_arg(&args, 0, "randomseed") {
        Ok(s) => s as i32,
        Err(e) => return raise_str(lua, &e),
    };
    match lua.app_data_mut::<RunState>() {
        Some(mut st) if st.running => st.seed(seed),
        _ => {
            return raise_str(
                lua,
                "math.randomseed can only be called inside a script invocation",
            )
        }
    }
    Ok(())
}

/// `redis.setresp(n)`.
pub(super) fn setresp(lua: &Lua, args: MultiValue) -> Result<()> {
    if !lua.app_data_ref::<RunState>().is_some_and(|s| s.running) {
        return raise_table(b"ERR redis.setresp can only be called inside a script invocation");
    }
    if args.len() != 1 {
        return raise_table(b"ERR redis.setresp() requires one argument.");
    }
    let n = reply::lua_number(&args[0]).unwrap_or(0.0) as i64;
    if n != 2 && n != 3 {
        return raise_table(b"ERR RESP version must be 2 or 3.");
    }
    if let Some(mut st) = lua.app_data_mut::<RunState>() {
        st.resp3 = n == 3;
    }
    Ok(())
}
