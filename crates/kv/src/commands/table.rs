//! The command table: names, arity (Redis's convention: N exact, -N at least N, the name
//! counted), flags, key positions, documentation, handler.
//!
//! It names handlers and describes them; it holds no state and runs nothing (the dispatcher in
//! `service` looks commands up here).

use crate::commands::{
    acl_cmd, bitmaps, blocking, config_cmd, connection, debug, geo, hashes, hll, introspection,
    keys, lists, pubsub, scripting, server, sets, snapshot, sort, stream_groups, streams, strings,
    transactions, zsetops, zsets,
};
use crate::protocol::Args;
use crate::service::Exec;

pub const F_WRITE: u32 = 1;
pub const F_READONLY: u32 = 2;
pub const F_DENYOOM: u32 = 4;
pub const F_FAST: u32 = 8;
pub const F_NOAUTH: u32 = 16;
pub const F_ADMIN: u32 = 32;
pub const F_LOADING: u32 = 64;
pub const F_STALE: u32 = 128;
pub const F_NOSCRIPT: u32 = 256;
/// Refused inside MULTI (Redis 7.0's `no-multi`: SHUTDOWN must not run from EXEC).
pub const F_NOMULTI: u32 = 512;

pub const FLAG_NAMES: &[(u32, &str)] = &[
    (F_WRITE, "write"),
    (F_READONLY, "readonly"),
    (F_DENYOOM, "denyoom"),
    (F_ADMIN, "admin"),
    (F_NOSCRIPT, "noscript"),
    (F_LOADING, "loading"),
    (F_STALE, "stale"),
    (F_FAST, "fast"),
    (F_NOAUTH, "no_auth"),
    (F_NOMULTI, "no_multi"),
];

pub type Handler = fn(&mut Exec<'_, '_>, Args<'_>);

pub struct Command {
    pub name: &'static str,
    pub arity: i32,
    pub flags: u32,
    /// First key, last key (negative: from the end), step; 0 0 0 without keys.
    pub keys: (i32, i32, i32),
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    /// Subcommands (name, arity) for COMMAND INFO/DOCS and arity errors.
    pub subs: &'static [(&'static str, i32)],
    pub handler: Handler,
}

const W: u32 = F_WRITE;
const WD: u32 = F_WRITE | F_DENYOOM;
const WDF: u32 = F_WRITE | F_DENYOOM | F_FAST;
const WF: u32 = F_WRITE | F_FAST;
const R: u32 = F_READONLY;
const RF: u32 = F_READONLY | F_FAST;
const CONN: u32 = F_FAST | F_LOADING | F_STALE | F_NOSCRIPT;
/// PING, ECHO and SELECT may run inside scripts (Redis 7.0 flags them without `noscript`).
const CONN_SCRIPT: u32 = F_FAST | F_LOADING | F_STALE;

#[allow(clippy::too_many_arguments)]
const fn c(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    handler: Handler,
) -> Command {
    Command {
        name,
        arity,
        flags,
        keys,
        group,
        since,
        summary,
        subs: &[],
        handler,
    }
}

const fn with_subs(mut cmd: Command, subs: &'static [(&'static str, i32)]) -> Command {
    cmd.subs = subs;
    cmd
}

const K1: (i32, i32, i32) = (1, 1, 1);
const KALL: (i32, i32, i32) = (1, -1, 1);
const K12: (i32, i32, i32) = (1, 2, 1);
const NK: (i32, i32, i32) = (0, 0, 0);

#[rustfmt::skip]
pub static COMMANDS: &[Command] = &[
    // strings
    c("get", 2, RF, K1, "string", "1.0.0", "Returns the string value of a key.", strings::get),
    c("set", -3, WD, K1, "string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", strings::set),
    c("setnx", 3, WDF, K1, "string", "1.0.0", "Set the string value of a key only when the key doesn't exist.", strings::setnx),
    c("setex", 4, WD, K1, "string", "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", strings::setex),
    c("psetex", 4, WD, K1, "string", "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", strings::psetex),
    c("getset", 3, WDF, K1, "string", "1.0.0", "Returns the previous string value of a key after setting it to a new value.", strings::getset),
    c("getdel", 2, WF, K1, "string", "6.2.0", "Returns the string value of a key after deleting the key.", strings::getdel),
    c("getex", -2, WF, K1, "string", "6.2.0", "Returns the string value of a key after setting its expiration time.", strings::getex),
    c("mget", -2, RF, KALL, "string", "1.0.0", "Atomically returns the string values of one or more keys.", strings::mget),
    c("mset", -3, WD, (1, -1, 2), "string", "1.0.1", "Atomically creates or modifies the string values of one or more keys.", strings::mset),
    c("msetnx", -3, WD, (1, -1, 2), "string", "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", strings::msetnx),
    c("append", 3, WDF, K1, "string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", strings::append),
    c("strlen", 2, RF, K1, "string", "2.2.0", "Returns the length of a string value.", strings::strlen),
    c("getrange", 4, R, K1, "string", "2.4.0", "Returns a substring of the string stored at a key.", strings::getrange),
    c("substr", 4, R, K1, "string", "1.0.0", "Returns a substring from a string value.", strings::getrange),
    c("setrange", 4, WD, K1, "string", "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", strings::setrange),
    c("incr", 2, WDF, K1, "string", "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", strings::incr),
    c("decr", 2, WDF, K1, "string", "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", strings::decr),
    c("incrby", 3, WDF, K1, "string", "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", strings::incrby),
    c("decrby", 3, WDF, K1, "string", "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", strings::decrby),
    c("incrbyfloat", 3, WDF, K1, "string", "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", strings::incrbyfloat),
    c("lcs", -3, R, K12, "string", "7.0.0", "Finds the longest common substring.", strings::lcs),
    // bitmaps
    c("setbit", 4, WD, K1, "bitmap", "2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", bitmaps::setbit),
    c("getbit", 3, RF, K1, "bitmap", "2.2.0", "Returns a bit value by offset.", bitmaps::getbit),
    c("bitcount", -2, R, K1, "bitmap", "2.6.0", "Counts the number of set bits (population counting) in a string.", bitmaps::bitcount),
    c("bitpos", -3, R, K1, "bitmap", "2.8.7", "Finds the first set (1) or clear (0) bit in a string.", bitmaps::bitpos),
    c("bitop", -4, WD, (2, -1, 1), "bitmap", "2.6.0", "Performs bitwise operations on multiple strings, and stores the result.", bitmaps::bitop),
    c("bitfield", -2, WD, K1, "bitmap", "3.2.0", "Performs arbitrary bitfield integer operations on strings.", bitmaps::bitfield),
    c("bitfield_ro", -2, RF, K1, "bitmap", "6.0.0", "Performs arbitrary read-only bitfield integer operations on strings.", bitmaps::bitfield_ro),
    // HyperLogLog
    c("pfadd", -2, WDF, K1, "hyperloglog", "2.8.9", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.", hll::pfadd),
    c("pfcount", -2, R, KALL, "hyperloglog", "2.8.9", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).", hll::pfcount),
    c("pfmerge", -2, WD, KALL, "hyperloglog", "2.8.9", "Merges one or more HyperLogLog values into a single key.", hll::pfmerge),
    c("pfdebug", 3, WD | F_ADMIN, (2, 2, 1), "hyperloglog", "2.8.9", "Internal commands for debugging HyperLogLog values.", hll::pfdebug),
    c("pfselftest", 1, F_ADMIN, NK, "hyperloglog", "2.8.9", "An internal command for testing HyperLogLog values.", hll::pfselftest),
    // geo
    c("geoadd", -5, WD, K1, "geo", "3.2.0", "Adds one or more members to a geospatial index. The key is created if it doesn't exist.", geo::geoadd),
    c("geodist", -4, R, K1, "geo", "3.2.0", "Returns the distance between two members of a geospatial index.", geo::geodist),
    c("geohash", -2, R, K1, "geo", "3.2.0", "Returns members from a geospatial index as geohash strings.", geo::geohash_cmd),
    c("geopos", -2, R, K1, "geo", "3.2.0", "Returns the longitude and latitude of members from a geospatial index.", geo::geopos),
    c("georadius", -6, WD, K1, "geo", "3.2.0", "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.", geo::georadius),
    c("georadius_ro", -6, R, K1, "geo", "3.2.10", "Returns members from a geospatial index that are within a distance from a coordinate.", geo::georadius_ro),
    c("georadiusbymember", -5, WD, K1, "geo", "3.2.0", "Queries a geospatial index for members within a distance from a member, optionally stores the result.", geo::georadiusbymember),
    c("georadiusbymember_ro", -5, R, K1, "geo", "3.2.10", "Returns members from a geospatial index that are within a distance from a member.", geo::georadiusbymember_ro),
    c("geosearch", -7, R, K1, "geo", "6.2.0", "Queries a geospatial index for members inside an area of a box or a circle.", geo::geosearch),
    c("geosearchstore", -8, WD, K12, "geo", "6.2.0", "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.", geo::geosearchstore),
    // SORT
    c("sort", -2, WD, K1, "generic", "1.0.0", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", sort::sort),
    c("sort_ro", -2, R, K1, "generic", "7.0.0", "Returns the sorted elements of a list, a set, or a sorted set.", sort::sort_ro),
    // sorted-set algebra
    c("zunion", -3, R, NK, "sorted-set", "6.2.0", "Returns the union of multiple sorted sets.", zsetops::zunion),
    c("zinter", -3, R, NK, "sorted-set", "6.2.0", "Returns the intersect of multiple sorted sets.", zsetops::zinter),
    c("zdiff", -3, R, NK, "sorted-set", "6.2.0", "Returns the difference between multiple sorted sets.", zsetops::zdiff),
    c("zdiffstore", -4, WD, K1, "sorted-set", "6.2.0", "Stores the difference of multiple sorted sets in a key.", zsetops::zdiffstore),
    c("zintercard", -3, R, NK, "sorted-set", "7.0.0", "Returns the number of members of the intersect of multiple sorted sets.", zsetops::zintercard),
    c("bzmpop", -5, W, NK, "sorted-set", "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", blocking::bzmpop),
    // keyspace
    c("del", -2, W, KALL, "generic", "1.0.0", "Deletes one or more keys.", keys::del),
    c("unlink", -2, WF, KALL, "generic", "4.0.0", "Asynchronously deletes one or more keys.", keys::del),
    c("exists", -2, RF, KALL, "generic", "1.0.0", "Determines whether one or more keys exist.", keys::exists),
    c("touch", -2, RF, KALL, "generic", "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", keys::touch),
    c("type", 2, RF, K1, "generic", "1.0.0", "Determines the type of value stored at a key.", keys::type_),
    c("dump", 2, R, K1, "generic", "2.6.0", "Returns a serialized representation of the value stored at a key.", snapshot::dump),
    c("restore", -4, WD, K1, "generic", "2.6.0", "Creates a key from the serialized representation of a value.", snapshot::restore),
    c("rename", 3, W, K12, "generic", "1.0.0", "Renames a key and overwrites the destination.", keys::rename),
    c("renamenx", 3, WF, K12, "generic", "1.0.0", "Renames a key only when the target key name doesn't exist.", keys::renamenx),
    c("copy", -3, WD, K12, "generic", "6.2.0", "Copies the value of a key to a new key.", keys::copy),
    c("move", 3, WF, K1, "generic", "1.0.0", "Moves a key to another database.", keys::move_),
    c("keys", 2, R, NK, "generic", "1.0.0", "Returns all key names that match a pattern.", keys::keys),
    c("scan", -2, R, NK, "generic", "2.8.0", "Iterates over the key names in the database.", keys::scan),
    c("randomkey", 1, R, NK, "generic", "1.0.0", "Returns a random key name from the database.", keys::randomkey),
    c("expire", -3, WF, K1, "generic", "1.0.0", "Sets the expiration time of a key in seconds.", keys::expire),
    c("pexpire", -3, WF, K1, "generic", "2.6.0", "Sets the expiration time of a key in milliseconds.", keys::pexpire),
    c("expireat", -3, WF, K1, "generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", keys::expireat),
    c("pexpireat", -3, WF, K1, "generic", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", keys::pexpireat),
    c("ttl", 2, RF, K1, "generic", "1.0.0", "Returns the expiration time in seconds of a key.", keys::ttl),
    c("pttl", 2, RF, K1, "generic", "2.6.0", "Returns the expiration time in milliseconds of a key.", keys::pttl),
    c("expiretime", 2, RF, K1, "generic", "7.0.0", "Returns the expiration time of a key as a Unix timestamp.", keys::expiretime),
    c("pexpiretime", 2, RF, K1, "generic", "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.", keys::pexpiretime),
    c("persist", 2, WF, K1, "generic", "2.2.0", "Removes the expiration time of a key.", keys::persist),
    with_subs(
        c("object", -2, R, NK, "generic", "2.2.3", "A container for object introspection commands.", keys::object),
        &[("encoding", 3), ("freq", 3), ("idletime", 3), ("refcount", 3), ("help", 2)],
    ),
    // connection
    c("ping", -1, CONN_SCRIPT, NK, "connection", "1.0.0", "Returns the server's liveliness response.", connection::ping),
    c("echo", 2, CONN_SCRIPT, NK, "connection", "1.0.0", "Returns the given string.", connection::echo),
    c("hello", -1, CONN | F_NOAUTH, NK, "connection", "6.0.0", "Handshakes with the Redis server.", connection::hello),
    c("auth", -2, CONN | F_NOAUTH, NK, "connection", "1.0.0", "Authenticates the connection.", connection::auth),
    c("quit", -1, CONN | F_NOAUTH, NK, "connection", "1.0.0", "Closes the connection.", connection::quit),
    c("reset", 1, CONN | F_NOAUTH, NK, "connection", "6.2.0", "Resets the connection.", connection::reset),
    c("select", 2, CONN_SCRIPT, NK, "connection", "1.0.0", "Changes the selected database.", server::select),
    with_subs(
        c("client", -2, F_NOSCRIPT | F_LOADING | F_STALE, NK, "connection", "2.4.0", "A container for client connection commands.", connection::client),
        &[("id", 2), ("setname", 3), ("getname", 2), ("list", -2), ("info", 2), ("kill", -3), ("setinfo", 4), ("unblock", -3), ("no-evict", 3), ("pause", -3), ("unpause", 2), ("reply", 3), ("help", 2)],
    ),
    // server
    with_subs(
        c("command", -1, F_LOADING | F_STALE, NK, "server", "2.8.13", "Returns detailed information about all commands.", server::command),
        &[("count", 2), ("docs", -2), ("info", -2), ("list", -2), ("getkeys", -4), ("getkeysandflags", -4), ("help", 2)],
    ),
    c("info", -1, F_LOADING | F_STALE, NK, "server", "1.0.0", "Returns information and statistics about the server.", server::info),
    with_subs(
        c("config", -2, F_ADMIN | F_NOSCRIPT | F_LOADING | F_STALE, NK, "server", "2.0.0", "A container for server configuration commands.", config_cmd::config),
        &[("get", -3), ("set", -4), ("resetstat", 2), ("rewrite", 2), ("help", 2)],
    ),
    c("dbsize", 1, RF, NK, "server", "1.0.0", "Returns the number of keys in the database.", server::dbsize),
    c("flushdb", -1, W, NK, "server", "1.0.0", "Remove all keys from the current database.", server::flushdb),
    c("flushall", -1, W, NK, "server", "1.0.0", "Removes all keys from all databases.", server::flushall),
    c("time", 1, F_LOADING | F_STALE | F_FAST, NK, "server", "2.6.0", "Returns the server time.", server::time),
    c("swapdb", 3, WF, NK, "server", "4.0.0", "Swaps two Redis databases.", server::swapdb),
    c("bgrewriteaof", 1, F_NOSCRIPT | F_ADMIN, NK, "server", "1.0.0", "Asynchronously rewrites the append-only file to disk.", server::bgrewriteaof),
    c("debug", -2, F_ADMIN | F_NOSCRIPT | F_LOADING | F_STALE, NK, "server", "1.0.0", "A container for debugging commands.", debug::debug),
    c("shutdown", -1, F_ADMIN | F_NOSCRIPT | F_LOADING | F_STALE | F_NOMULTI, NK, "server", "1.0.0", "Synchronously saves the database(s) to disk and shuts down the Redis server.", server::shutdown),
    c("lastsave", 1, F_LOADING | F_STALE | F_FAST, NK, "server", "1.0.0", "Returns the Unix timestamp of the last successful save to disk.", snapshot::lastsave),
    c("save", 1, F_NOSCRIPT | F_ADMIN, NK, "server", "1.0.0", "Synchronously saves the database(s) to disk.", snapshot::save),
    c("bgsave", -1, F_NOSCRIPT | F_ADMIN, NK, "server", "1.0.0", "Asynchronously saves the database(s) to disk.", snapshot::bgsave),
    // scripting (scripting/): Lua scripts and function libraries
    with_subs(
        c("function", -2, F_NOSCRIPT, NK, "scripting", "7.0.0", "A container for function commands.", scripting::functions::function),
        &[("load", -3), ("delete", 3), ("flush", -2), ("list", -2), ("dump", 2), ("restore", -3), ("stats", 2), ("kill", 2), ("help", 2)],
    ),
    with_subs(
        c("script", -2, F_NOSCRIPT, NK, "scripting", "2.6.0", "A container for Lua scripts management commands.", scripting::script),
        &[("load", 3), ("exists", -3), ("flush", -2), ("kill", 2), ("debug", 3), ("help", 2)],
    ),
    c("fcall", -3, F_NOSCRIPT | F_STALE, NK, "scripting", "7.0.0", "Invokes a function.", scripting::functions::fcall),
    c("fcall_ro", -3, F_NOSCRIPT | F_STALE, NK, "scripting", "7.0.0", "Invokes a read-only function.", scripting::functions::fcall_ro),
    c("eval_ro", -3, F_NOSCRIPT | F_STALE, NK, "scripting", "7.0.0", "Executes a read-only server-side Lua script.", scripting::eval_ro),
    c("evalsha_ro", -3, F_NOSCRIPT | F_STALE, NK, "scripting", "7.0.0", "Executes a read-only server-side Lua script by SHA1 digest.", scripting::evalsha_ro),
    with_subs(
        c("cluster", -2, F_NOSCRIPT, NK, "cluster", "3.0.0", "A container for Redis Cluster commands.", server::cluster),
        &[("addslots", -3), ("addslotsrange", -4), ("bumpepoch", 2), ("count-failure-reports", 3), ("countkeysinslot", 3), ("delslots", -3), ("delslotsrange", -4), ("failover", -2), ("flushslots", 2), ("forget", 3), ("getkeysinslot", 4), ("help", 2), ("info", 2), ("keyslot", 3), ("links", 2), ("meet", -4), ("myid", 2), ("nodes", 2), ("replicas", 3), ("replicate", 3), ("reset", -2), ("saveconfig", 2), ("set-config-epoch", 3), ("setslot", -4), ("shards", 2), ("slaves", 3), ("slots", 2)],
    ),
    c("eval", -3, F_NOSCRIPT | F_STALE, NK, "scripting", "2.6.0", "Executes a server-side Lua script.", scripting::eval),
    c("evalsha", -3, F_NOSCRIPT | F_STALE, NK, "scripting", "2.6.0", "Executes a server-side Lua script by SHA1 digest.", scripting::evalsha),
    // data types: lists, hashes, sets, sorted sets
    c("lpush", -3, WDF, K1, "list", "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", lists::lpush),
    c("rpush", -3, WDF, K1, "list", "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist.", lists::rpush),
    c("lpushx", -3, WDF, K1, "list", "2.2.0", "Prepends one or more elements to a list only when the list exists.", lists::lpushx),
    c("rpushx", -3, WDF, K1, "list", "2.2.0", "Appends an element to a list only when the list exists.", lists::rpushx),
    c("lpop", -2, WF, K1, "list", "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", lists::lpop),
    c("rpop", -2, WF, K1, "list", "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", lists::rpop),
    c("llen", 2, RF, K1, "list", "1.0.0", "Returns the length of a list.", lists::llen),
    c("lrange", 4, R, K1, "list", "1.0.0", "Returns a range of elements from a list.", lists::lrange),
    c("lindex", 3, R, K1, "list", "1.0.0", "Returns an element from a list by its index.", lists::lindex),
    c("lset", 4, WD, K1, "list", "1.0.0", "Sets the value of an element in a list by its index.", lists::lset),
    c("lrem", 4, W, K1, "list", "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed.", lists::lrem),
    c("ltrim", 4, W, K1, "list", "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", lists::ltrim),
    c("linsert", 5, WD, K1, "list", "2.2.0", "Inserts an element before or after another element in a list.", lists::linsert),
    c("lpos", -3, R, K1, "list", "6.0.6", "Returns the index of matching elements in a list.", lists::lpos),
    c("lmove", 5, WD, K12, "list", "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", lists::lmove),
    c("rpoplpush", 3, WD, K12, "list", "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", lists::rpoplpush),
    c("hset", -4, WDF, K1, "hash", "2.0.0", "Creates or modifies the value of a field in a hash.", hashes::hset),
    c("hmset", -4, WDF, K1, "hash", "2.0.0", "Sets the values of multiple fields.", hashes::hmset),
    c("hsetnx", 4, WDF, K1, "hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", hashes::hsetnx),
    c("hget", 3, RF, K1, "hash", "2.0.0", "Returns the value of a field in a hash.", hashes::hget),
    c("hmget", -3, RF, K1, "hash", "2.0.0", "Returns the values of all fields in a hash.", hashes::hmget),
    c("hdel", -3, WF, K1, "hash", "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", hashes::hdel),
    c("hexists", 3, RF, K1, "hash", "2.0.0", "Determines whether a field exists in a hash.", hashes::hexists),
    c("hlen", 2, RF, K1, "hash", "2.0.0", "Returns the number of fields in a hash.", hashes::hlen),
    c("hstrlen", 3, RF, K1, "hash", "3.2.0", "Returns the length of the value of a field.", hashes::hstrlen),
    c("hgetall", 2, R, K1, "hash", "2.0.0", "Returns all fields and values in a hash.", hashes::hgetall),
    c("hkeys", 2, R, K1, "hash", "2.0.0", "Returns all fields in a hash.", hashes::hkeys),
    c("hvals", 2, R, K1, "hash", "2.0.0", "Returns all values in a hash.", hashes::hvals),
    c("hincrby", 4, WDF, K1, "hash", "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", hashes::hincrby),
    c("hincrbyfloat", 4, WDF, K1, "hash", "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", hashes::hincrbyfloat),
    c("hrandfield", -2, R, K1, "hash", "6.2.0", "Returns one or more random fields from a hash.", hashes::hrandfield),
    c("hscan", -3, R, K1, "hash", "2.8.0", "Iterates over fields and values of a hash.", hashes::hscan),
    c("sadd", -3, WDF, K1, "set", "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist.", sets::sadd),
    c("srem", -3, WF, K1, "set", "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed.", sets::srem),
    c("sismember", 3, RF, K1, "set", "1.0.0", "Determines whether a member belongs to a set.", sets::sismember),
    c("smismember", -3, RF, K1, "set", "6.2.0", "Determines whether multiple members belong to a set.", sets::smismember),
    c("scard", 2, RF, K1, "set", "1.0.0", "Returns the number of members in a set.", sets::scard),
    c("smembers", 2, R, K1, "set", "1.0.0", "Returns all members of a set.", sets::smembers),
    c("spop", -2, WF, K1, "set", "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", sets::spop),
    c("srandmember", -2, R, K1, "set", "1.0.0", "Get one or multiple random members from a set", sets::srandmember),
    c("smove", 4, WF, K12, "set", "1.0.0", "Moves a member from one set to another.", sets::smove),
    c("sinter", -2, R, KALL, "set", "1.0.0", "Returns the intersect of multiple sets.", sets::sinter),
    c("sunion", -2, R, KALL, "set", "1.0.0", "Returns the union of multiple sets.", sets::sunion),
    c("sdiff", -2, R, KALL, "set", "1.0.0", "Returns the difference of multiple sets.", sets::sdiff),
    c("sinterstore", -3, WD, KALL, "set", "1.0.0", "Stores the intersect of multiple sets in a key.", sets::sinterstore),
    c("sunionstore", -3, WD, KALL, "set", "1.0.0", "Stores the union of multiple sets in a key.", sets::sunionstore),
    c("sdiffstore", -3, WD, KALL, "set", "1.0.0", "Stores the difference of multiple sets in a key.", sets::sdiffstore),
    c("sintercard", -3, R, NK, "set", "7.0.0", "Returns the number of members of the intersect of multiple sets.", sets::sintercard),
    c("sscan", -3, R, K1, "set", "2.6.0", "Iterates over members of a set.", sets::sscan),
    c("zadd", -4, WDF, K1, "sorted-set", "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", zsets::zadd),
    c("zincrby", 4, WDF, K1, "sorted-set", "1.2.0", "Increments the score of a member in a sorted set.", zsets::zincrby),
    c("zrem", -3, WF, K1, "sorted-set", "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", zsets::zrem),
    c("zcard", 2, RF, K1, "sorted-set", "1.2.0", "Returns the number of members in a sorted set.", zsets::zcard),
    c("zscore", 3, RF, K1, "sorted-set", "1.2.0", "Returns the score of a member in a sorted set.", zsets::zscore),
    c("zmscore", -3, RF, K1, "sorted-set", "6.2.0", "Returns the score of one or more members in a sorted set.", zsets::zmscore),
    c("zrank", 3, RF, K1, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores.", zsets::zrank),
    c("zrevrank", 3, RF, K1, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores.", zsets::zrevrank),
    c("zcount", 4, RF, K1, "sorted-set", "2.0.0", "Returns the count of members in a sorted set that have scores within a range.", zsets::zcount),
    c("zlexcount", 4, RF, K1, "sorted-set", "2.8.9", "Returns the number of members in a sorted set within a lexicographical range.", zsets::zlexcount),
    c("zrange", -4, R, K1, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes.", zsets::zrange),
    c("zrangestore", -5, WD, K12, "sorted-set", "6.2.0", "Stores a range of members from sorted set in a key.", zsets::zrangestore),
    c("zrevrange", -4, R, K1, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order.", zsets::zrevrange),
    c("zrangebyscore", -4, R, K1, "sorted-set", "1.0.5", "Returns members in a sorted set within a range of scores.", zsets::zrangebyscore),
    c("zrevrangebyscore", -4, R, K1, "sorted-set", "2.2.0", "Returns members in a sorted set within a range of scores in reverse order.", zsets::zrevrangebyscore),
    c("zrangebylex", -4, R, K1, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range.", zsets::zrangebylex),
    c("zrevrangebylex", -4, R, K1, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order.", zsets::zrevrangebylex),
    c("zremrangebyscore", 4, W, K1, "sorted-set", "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", zsets::zremrangebyscore),
    c("zremrangebyrank", 4, W, K1, "sorted-set", "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", zsets::zremrangebyrank),
    c("zremrangebylex", 4, W, K1, "sorted-set", "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", zsets::zremrangebylex),
    c("zpopmin", -2, WF, K1, "sorted-set", "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", zsets::zpopmin),
    c("zpopmax", -2, WF, K1, "sorted-set", "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", zsets::zpopmax),
    c("zmpop", -4, W, NK, "sorted-set", "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", zsets::zmpop),
    c("zrandmember", -2, R, K1, "sorted-set", "6.2.0", "Returns one or more random members from a sorted set.", zsets::zrandmember),
    c("zscan", -3, R, K1, "sorted-set", "2.8.0", "Iterates over members and scores of a sorted set.", zsets::zscan),
    c("zunionstore", -4, WD, K1, "sorted-set", "2.0.0", "Stores the union of multiple sorted sets in a key.", zsetops::zunionstore),
    c("zinterstore", -4, WD, K1, "sorted-set", "2.0.0", "Stores the intersect of multiple sorted sets in a key.", zsetops::zinterstore),
    c("blpop", -3, W | F_NOSCRIPT, (1, -2, 1), "list", "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", blocking::blpop),
    c("brpop", -3, W | F_NOSCRIPT, (1, -2, 1), "list", "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", blocking::brpop),
    c("blmove", 6, WD | F_NOSCRIPT, K12, "list", "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", blocking::blmove),
    c("brpoplpush", 4, WD | F_NOSCRIPT, K12, "list", "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", blocking::brpoplpush),
    c("blmpop", -5, W, NK, "list", "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", blocking::blmpop),
    c("bzpopmin", -3, WF | F_NOSCRIPT, (1, -2, 1), "sorted-set", "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", blocking::bzpopmin),
    c("bzpopmax", -3, WF | F_NOSCRIPT, (1, -2, 1), "sorted-set", "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", blocking::bzpopmax),
    c("subscribe", -2, F_NOSCRIPT | F_LOADING | F_STALE, NK, "pubsub", "2.0.0", "Listens for messages published to channels.", pubsub::subscribe),
    c("unsubscribe", -1, F_NOSCRIPT | F_LOADING | F_STALE, NK, "pubsub", "2.0.0", "Stops listening to messages posted to channels.", pubsub::unsubscribe),
    c("psubscribe", -2, F_NOSCRIPT | F_LOADING | F_STALE, NK, "pubsub", "2.0.0", "Listens for messages published to channels that match one or more patterns.", pubsub::psubscribe),
    c("punsubscribe", -1, F_NOSCRIPT | F_LOADING | F_STALE, NK, "pubsub", "2.0.0", "Stops listening to messages published to channels that match one or more patterns.", pubsub::punsubscribe),
    c("ssubscribe", -2, F_NOSCRIPT | F_LOADING | F_STALE, KALL, "pubsub", "7.0.0", "Listens for messages published to shard channels.", pubsub::ssubscribe),
    c("sunsubscribe", -1, F_NOSCRIPT | F_LOADING | F_STALE, KALL, "pubsub", "7.0.0", "Stops listening to messages posted to shard channels.", pubsub::sunsubscribe),
    c("spublish", 3, F_NOSCRIPT | F_LOADING | F_STALE | F_FAST, K1, "pubsub", "7.0.0", "Post a message to a shard channel", pubsub::spublish),
    c("publish", 3, F_NOSCRIPT | F_LOADING | F_STALE | F_FAST, NK, "pubsub", "2.0.0", "Posts a message to a channel.", pubsub::publish),
    with_subs(
        c("pubsub", -2, F_NOSCRIPT | F_LOADING | F_STALE, NK, "pubsub", "2.8.0", "A container for Pub/Sub commands.", pubsub::pubsub),
        &[("channels", -2), ("numsub", -2), ("numpat", 2), ("shardchannels", -2), ("shardnumsub", -2), ("help", 2)],
    ),
    c("multi", 1, F_NOSCRIPT | F_LOADING | F_STALE | F_FAST, NK, "transactions", "1.2.0", "Starts a transaction.", transactions::multi),
    c("exec", 1, F_NOSCRIPT | F_LOADING | F_STALE, NK, "transactions", "1.2.0", "Executes all commands in a transaction.", transactions::exec),
    c("discard", 1, F_NOSCRIPT | F_LOADING | F_STALE | F_FAST, NK, "transactions", "2.0.0", "Discards a transaction.", transactions::discard),
    c("watch", -2, F_NOSCRIPT | F_LOADING | F_STALE | F_FAST, KALL, "transactions", "2.2.0", "Monitors changes to keys to determine the execution of a transaction.", transactions::watch),
    c("unwatch", 1, F_NOSCRIPT | F_LOADING | F_STALE | F_FAST, NK, "transactions", "2.2.0", "Forgets about watched keys of a transaction.", transactions::unwatch),
    c("lmpop", -4, W, NK, "list", "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", lists::lmpop),
    // streams
    c("xadd", -5, WDF, K1, "stream", "5.0.0", "Appends a new message to a stream. Creates the key if it doesn't exist.", streams::xadd),
    c("xrange", -4, R, K1, "stream", "5.0.0", "Returns the messages from a stream within a range of IDs.", streams::xrange),
    c("xrevrange", -4, R, K1, "stream", "5.0.0", "Returns the messages from a stream within a range of IDs in reverse order.", streams::xrevrange),
    c("xlen", 2, RF, K1, "stream", "5.0.0", "Return the number of messages in a stream.", streams::xlen),
    c("xdel", -3, WF, K1, "stream", "5.0.0", "Returns the number of messages after removing them from a stream.", streams::xdel),
    c("xtrim", -4, W, K1, "stream", "5.0.0", "Deletes messages from the beginning of a stream.", streams::xtrim),
    c("xsetid", -3, WDF, K1, "stream", "5.0.0", "An internal command for replicating stream values.", streams::xsetid),
    c("xread", -4, R, NK, "stream", "5.0.0", "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.", streams::xread),
    c("xreadgroup", -7, W, NK, "stream", "5.0.0", "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.", streams::xreadgroup),
    c("xack", -4, WF, K1, "stream", "5.0.0", "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.", stream_groups::xack),
    c("xpending", -3, R, K1, "stream", "5.0.0", "Returns the information and entries from a stream consumer group's pending entries list.", stream_groups::xpending),
    c("xclaim", -6, WF, K1, "stream", "5.0.0", "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.", stream_groups::xclaim),
    c("xautoclaim", -6, WF, K1, "stream", "6.2.0", "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.", stream_groups::xautoclaim),
    with_subs(
        c("xgroup", -2, W, NK, "stream", "5.0.0", "A container for consumer groups commands.", stream_groups::xgroup),
        &[("create", -5), ("setid", -5), ("destroy", 4), ("createconsumer", 5), ("delconsumer", 5), ("help", 2)],
    ),
    with_subs(
        c("xinfo", -2, R, NK, "stream", "5.0.0", "A container for stream introspection commands.", stream_groups::xinfo),
        &[("consumers", 4), ("groups", 3), ("stream", -3), ("help", 2)],
    ),
    // introspection
    with_subs(
        c("slowlog", -2, F_ADMIN | F_LOADING | F_STALE, NK, "server", "2.2.12", "A container for slow log commands.", introspection::slowlog),
        &[("get", -2), ("len", 2), ("reset", 2), ("help", 2)],
    ),
    with_subs(
        c("latency", -2, F_ADMIN | F_NOSCRIPT | F_LOADING | F_STALE, NK, "server", "2.8.13", "A container for latency diagnostics commands.", introspection::latency),
        &[("latest", 2), ("history", 3), ("reset", -2), ("doctor", 2), ("histogram", -2), ("help", 2)],
    ),
    with_subs(
        c("memory", -2, 0, NK, "server", "4.0.0", "A container for memory diagnostics commands.", introspection::memory),
        &[("usage", -3), ("stats", 2), ("doctor", 2), ("malloc-stats", 2), ("purge", 2), ("help", 2)],
    ),
    c("monitor", 1, F_ADMIN | F_NOSCRIPT | F_LOADING | F_STALE, NK, "server", "1.0.0", "Listens for all requests received by the server in real-time.", introspection::monitor),
    c("role", 1, F_NOSCRIPT | F_LOADING | F_STALE | F_FAST, NK, "server", "2.8.12", "Returns the replication role.", introspection::role),
    c("wait", 3, F_NOSCRIPT, NK, "generic", "3.0.0", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.", introspection::wait),
    with_subs(
        c("acl", -2, F_ADMIN | F_NOSCRIPT | F_LOADING | F_STALE, NK, "server", "6.0.0", "A container for Access List Control commands.", acl_cmd::acl),
        &[("cat", -2), ("deluser", -3), ("dryrun", -4), ("genpass", -2), ("getuser", 3), ("list", 2), ("load", 2), ("log", -2), ("save", 2), ("setuser", -3), ("users", 2), ("whoami", 2), ("help", 2)],
    ),
    c("lolwut", -1, F_READONLY | F_FAST, NK, "server", "5.0.0", "Displays computer art and the Redis version", introspection::lolwut),
];

/// Index of a command by exact lowercase name.
pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Subcommand arity check; replies Redis's error and returns false if wrong.
pub fn check_sub(x: &mut Exec<'_, '_>, a: &Args<'_>, parent: &str) -> Option<&'static str> {
    let cmd = find(parent)?;
    let sub = String::from_utf8_lossy(a.get(1)).to_ascii_lowercase();
    match cmd.subs.iter().find(|(n, _)| *n == sub) {
        None => {
            let mut msg = b"ERR unknown subcommand '".to_vec();
            msg.extend_from_slice(crate::service::cstr(a.get(1), 128));
            msg.extend_from_slice(
                format!("'. Try {} HELP.", parent.to_ascii_uppercase()).as_bytes(),
            );
            x.r().error_bytes(&msg);
            None
        }
        Some(&(name, arity)) => {
            if (arity > 0 && a.len() != arity as usize) || a.len() < arity.unsigned_abs() as usize {
                x.err(&format!(
                    "ERR wrong number of arguments for '{parent}|{name}' command"
                ));
                None
            } else {
                Some(name)
            }
        }
    }
}
