//! Bitmap commands on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD,
//! BITFIELD_RO (Redis 7.0 `bitops.c` behaviour: argument order of checks, error texts,
//! zero padding). The bit arithmetic is `kvtypes::bitops`; this file owns parsing, key
//! lookups and replies, and changes strings in place when their length allows.
//!
//! Writes are logged as the commands themselves: each is deterministic given the data.

use crate::commands::strings::{NOT_INT, SYNTAX};
use crate::commands::typed::{Wrong, WRONGTYPE};
use crate::keyspace::{Idx, NewValue, Value};
use crate::protocol::{parse_i64, Args};
use crate::service::Exec;
use kvtypes::bitops::{self, BitOp, Overflow};

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_BIT: &str = "ERR bit is not an integer or out of range";

/// Run `f` on the bytes of the string in slot `i` (an integer reads as its decimal text).
pub fn with_str<R>(x: &Exec<'_, '_>, i: Idx, f: impl FnOnce(&[u8]) -> R) -> R {
    match x.core.dbs[x.client.db].value(i) {
        Value::Str(s) => f(s),
        Value::Int(n) => f(itoa::Buffer::new().format(n).as_bytes()),
    }
}

/// A string key for reading: Ok(None) when absent; WRONGTYPE replied for a collection.
pub fn read_str(x: &mut Exec<'_, '_>, key: &[u8]) -> Result<Option<Idx>, Wrong> {
    match x.read(key) {
        Some(i) if x.db().obj(i).is_some() => {
            x.err(WRONGTYPE);
            Err(Wrong)
        }
        found => Ok(found),
    }
}

/// Redis's lookupStringForBitCommand: the string at `key`, created or zero-padded so that
/// it has at least `len` bytes and held as bytes (not as an integer) so it can change in
/// place. Returns the slot and whether it was created or grew.
pub fn string_for_write(x: &mut Exec<'_, '_>, key: &[u8], len: usize) -> Option<(Idx, bool)> {
    match x.write(key) {
        Some(i) if x.db().obj(i).is_some() => {
            x.err(WRONGTYPE);
            None
        }
        Some(i) => {
            let (cur, is_int) = match x.db().value(i) {
                Value::Str(s) => (s.len(), false),
                Value::Int(n) => (itoa::Buffer::new().format(n).len(), true),
            };
            if cur < len || is_int {
                // Growing reallocates, as Redis's sdsgrowzero: O(new length).
                let mut v = with_str(x, i, <[u8]>::to_vec);
                v.resize(cur.max(len), 0);
                x.db().replace_value(i, NewValue::Text(&v));
                x.db().mark_raw(i);
            }
            Some((i, cur < len))
        }
        None => {
            let i = crate::commands::strings::store(x, key, NewValue::Text(&vec![0; len]), false);
            x.db().mark_raw(i);
            Some((i, true))
        }
    }
}

/// A bit offset argument (`#n` form multiplies by `hash_bits` when given): Redis refuses
/// negatives and offsets past proto-max-bulk-len bytes.
fn bit_offset(x: &mut Exec<'_, '_>, arg: &[u8], hash_bits: Option<u32>) -> Option<u64> {
    let (digits, mul) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(b)) => (&arg[1..], b as i64),
        _ => (arg, 1),
    };
    let v = parse_i64(digits).and_then(|v| v.checked_mul(mul));
    match v {
        Some(v) if v >= 0 && ((v >> 3) as u64) < x.core.cfg.proto_max_bulk_len => Some(v as u64),
        _ => {
            x.err(BAD_OFFSET);
            None
        }
    }
}

pub fn setbit(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(offset) = bit_offset(x, a.get(2), None) else {
        return;
    };
    let on = match parse_i64(a.get(3)) {
        Some(v @ (0 | 1)) => v == 1,
        _ => return x.err(BAD_BIT),
    };
    let Some((i, grew)) = string_for_write(x, a.get(1), (offset >> 3) as usize + 1) else {
        return;
    };
    let old = with_str(x, i, |s| bitops::get_bit(s, offset));
    if grew || old != on {
        if let Some(s) = x.db().str_mut(i) {
            bitops::set_bit(s, offset, on);
        }
    }
    x.r().int(old as i64);
}

pub fn getbit(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(offset) = bit_offset(x, a.get(2), None) else {
        return;
    };
    let Ok(found) = read_str(x, a.get(1)) else {
        return;
    };
    let bit = found.is_some_and(|i| with_str(x, i, |s| bitops::get_bit(s, offset)));
    x.r().int(bit as i64);
}

/// BYTE|BIT unit argument; None after replying a syntax error.
fn unit(x: &mut Exec<'_, '_>, arg: &[u8]) -> Option<bool> {
    if arg.eq_ignore_ascii_case(b"bit") {
        Some(true)
    } else if arg.eq_ignore_ascii_case(b"byte") {
        Some(false)
    } else {
        x.err(SYNTAX);
        None
    }
}

pub fn bitcount(x: &mut Exec<'_, '_>, a: Args<'_>) {
    // Redis 7.0 looks the key up (and checks its type) before it reads the range.
    let i = match read_str(x, a.get(1)) {
        Err(Wrong) => return,
        Ok(None) => return x.r().int(0),
        Ok(Some(i)) => i,
    };
    let n = match a.len() {
        2 => with_str(x, i, bitops::popcount),
        4 | 5 => {
            let (Some(start), Some(end)) = (parse_i64(a.get(2)), parse_i64(a.get(3))) else {
                return x.err(NOT_INT);
            };
            // Redis 7.0 answers this empty range before it reads the unit.
            if start < 0 && end < 0 && start > end {
                return x.r().int(0);
            }
            let isbit = if a.len() == 5 {
                match unit(x, a.get(4)) {
                    Some(b) => b,
                    None => return,
                }
            } else {
                false
            };
            with_str(x, i, |s| bitops::count_range(s, start, end, isbit))
        }
        _ => return x.err(SYNTAX),
    };
    x.r().int(n as i64);
}

pub fn bitpos(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let bit = match parse_i64(a.get(2)) {
        Some(b @ (0 | 1)) => b == 1,
        Some(_) => return x.err("ERR The bit argument must be 1 or 0."),
        None => return x.err(NOT_INT),
    };
    // A missing key is an endless run of zeroes.
    let i = match read_str(x, a.get(1)) {
        Err(Wrong) => return,
        Ok(None) => return x.r().int(if bit { -1 } else { 0 }),
        Ok(Some(i)) => i,
    };
    if a.len() > 6 {
        return x.err(SYNTAX);
    }
    let mut start = 0;
    let mut end = None;
    let mut isbit = false;
    if a.len() >= 4 {
        let Some(s) = parse_i64(a.get(3)) else {
            return x.err(NOT_INT);
        };
        start = s;
        if a.len() == 6 {
            match unit(x, a.get(5)) {
                Some(b) => isbit = b,
                None => return,
            }
        }
        if a.len() >= 5 {
            let Some(e) = parse_i64(a.get(4)) else {
                return x.err(NOT_INT);
            };
            end = Some(e);
        }
    }
    let pos = with_str(x, i, |s| {
        if s.is_empty() {
            return -1;
        }
        bitops::bitpos(s, bit, start, end, isbit)
    });
    x.r().int(pos);
}

pub fn bitop(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let op = match a.get(1).to_ascii_lowercase().as_slice() {
        b"and" => BitOp::And,
        b"or" => BitOp::Or,
        b"xor" => BitOp::Xor,
        b"not" => BitOp::Not,
        _ => return x.err(SYNTAX),
    };
    if op == BitOp::Not && a.len() != 4 {
        return x.err("ERR BITOP NOT must be called with a single source key.");
    }
    let mut srcs: Vec<Vec<u8>> = Vec::with_capacity(a.len() - 3);
    for k in 3..a.len() {
        match read_str(x, a.get(k)) {
            Err(Wrong) => return,
            Ok(None) => srcs.push(Vec::new()),
            Ok(Some(i)) => srcs.push(with_str(x, i, <[u8]>::to_vec)),
        }
    }
    let refs: Vec<&[u8]> = srcs.iter().map(Vec::as_slice).collect();
    let out = bitops::bitop(op, &refs);
    let dst = a.get(2);
    if out.is_empty() {
        if let Some(i) = x.write(dst) {
            x.db().remove(i);
        }
    } else {
        let i = crate::commands::strings::store(x, dst, NewValue::Text(&out), false);
        x.db().mark_raw(i);
    }
    x.r().int(out.len() as i64);
}

#[derive(Clone, Copy)]
enum FieldOp {
    Get,
    Set(i64),
    Incr(i64),
}

struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    ow: Overflow,
}

fn field_type(x: &mut Exec<'_, '_>, arg: &[u8]) -> Option<(bool, u32)> {
    let ok = match arg.first() {
        Some(b'i') => parse_i64(&arg[1..])
            .filter(|b| (1..=64).contains(b))
            .map(|b| (true, b as u32)),
        Some(b'u') => parse_i64(&arg[1..])
            .filter(|b| (1..=63).contains(b))
            .map(|b| (false, b as u32)),
        _ => None,
    };
    if ok.is_none() {
        x.err("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.");
    }
    ok
}

fn bitfield_generic(x: &mut Exec<'_, '_>, a: Args<'_>, readonly_cmd: bool) {
    let mut ops = Vec::new();
    let mut ow = Overflow::Wrap;
    let mut highest: u64 = 0;
    let mut writes = false;
    let mut j = 2;
    while j < a.len() {
        let rem = a.len() - j - 1;
        let sub = a.get(j).to_ascii_lowercase();
        let op = match sub.as_slice() {
            b"get" if rem >= 2 => FieldOp::Get,
            b"set" if rem >= 3 => FieldOp::Set(0),
            b"incrby" if rem >= 3 => FieldOp::Incr(0),
            b"overflow" if rem >= 1 => {
                ow = match a.get(j + 1).to_ascii_lowercase().as_slice() {
                    b"wrap" => Overflow::Wrap,
                    b"sat" => Overflow::Sat,
                    b"fail" => Overflow::Fail,
                    _ => return x.err("ERR Invalid OVERFLOW type specified"),
                };
                j += 2;
                continue;
            }
            _ => return x.err(SYNTAX),
        };
        let Some((signed, bits)) = field_type(x, a.get(j + 1)) else {
            return;
        };
        let Some(offset) = bit_offset(x, a.get(j + 2), Some(bits)) else {
            return;
        };
        let op = match op {
            FieldOp::Get => FieldOp::Get,
            FieldOp::Set(_) | FieldOp::Incr(_) => {
                writes = true;
                highest = highest.max(offset + bits as u64 - 1);
                let Some(v) = parse_i64(a.get(j + 3)) else {
                    return x.err(NOT_INT);
                };
                if matches!(op, FieldOp::Set(_)) {
                    FieldOp::Set(v)
                } else {
                    FieldOp::Incr(v)
                }
            }
        };
        ops.push(Field {
            op,
            signed,
            bits,
            offset,
            ow,
        });
        j += if matches!(op, FieldOp::Get) { 3 } else { 4 };
    }
    let key = a.get(1);
    let slot = if !writes {
        match read_str(x, key) {
            Err(Wrong) => return,
            Ok(i) => i,
        }
    } else {
        if readonly_cmd {
            return x.err("ERR BITFIELD_RO only supports the GET subcommand");
        }
        match string_for_write(x, key, (highest >> 3) as usize + 1) {
            None => return,
            Some((i, _)) => Some(i),
        }
    };
    let mut replies: Vec<Option<i64>> = Vec::with_capacity(ops.len());
    for f in &ops {
        let cur = |x: &Exec<'_, '_>| match slot {
            None => (0i64, 0u64),
            Some(i) => with_str(x, i, |s| {
                (
                    bitops::get_signed(s, f.offset, f.bits),
                    bitops::get_unsigned(s, f.offset, f.bits),
                )
            }),
        };
        let (sv, uv) = cur(x);
        let (incr, base_s, base_u, ret_old) = match f.op {
            FieldOp::Get => {
                replies.push(Some(if f.signed { sv } else { uv as i64 }));
                continue;
            }
            // SET checks the new value as an increment of 0 from it.
            FieldOp::Set(v) => (0, v, v as u64, true),
            FieldOp::Incr(v) => (v, sv, uv, false),
        };
        let new_bits = if f.signed {
            signed_new(base_s, incr, f.bits, f.ow).map(|n| (n as u64, if ret_old { sv } else { n }))
        } else {
            bitops::unsigned_update(base_u, incr, f.bits, f.ow)
                .map(|n| (n, if ret_old { uv as i64 } else { n as i64 }))
        };
        match new_bits {
            None => replies.push(None),
            Some((n, reply)) => {
                replies.push(Some(reply));
                let old = if f.signed { sv as u64 } else { uv };
                let mask = if f.bits == 64 {
                    u64::MAX
                } else {
                    (1u64 << f.bits) - 1
                };
                if (n & mask) != (old & mask) {
                    if let Some(s) = slot.and_then(|i| x.db().str_mut(i)) {
                        bitops::set_field(s, f.offset, f.bits, n);
                    }
                }
            }
        }
    }
    let mut r = x.r();
    r.array(replies.len());
    for v in replies {
        match v {
            Some(n) => r.int(n),
            None => r.null(),
        }
    }
}

fn signed_new(v: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    bitops::signed_update(v, incr, bits, ow)
}

pub fn bitfield(x: &mut Exec<'_, '_>, a: Args<'_>) {
    bitfield_generic(x, a, false);
}

pub fn bitfield_ro(x: &mut Exec<'_, '_>, a: Args<'_>) {
    bitfield_generic(x, a, true);
}
