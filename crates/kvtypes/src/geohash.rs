//! Redis's geo arithmetic: the 52-bit interleaved geohash stored as a sorted-set score, the
//! haversine distance on Redis's Earth radius, the standard base-32 geohash string, and the
//! neighbour-box plan of a radius or box search, so results and their order match Redis.
//!
//! Owns: encode/decode of (longitude, latitude) within Redis's Web-Mercator limits, the
//! nine search boxes (centre and eight neighbours) as score ranges, and the in-shape test.
//! It may not touch clients, replies or the keyspace: numbers in, numbers out.
//!
//! Costs: every function is O(1).

pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
pub const LAT_MIN: f64 = -85.051_128_78;
pub const LAT_MAX: f64 = 85.051_128_78;
/// Bits per coordinate (52 in all).
pub const STEP_MAX: u8 = 26;
/// Redis's quadratic mean Earth radius for WGS-84.
pub const EARTH_RADIUS_M: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

/// A geohash of `step` bits per coordinate: latitude in the even bits, longitude in the odd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Hash {
    pub bits: u64,
    pub step: u8,
}

impl Hash {
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Area {
    pub long_min: f64,
    pub long_max: f64,
    pub lat_min: f64,
    pub lat_max: f64,
}

/// Spread the 32 bits of `x` to the even bit positions of a u64.
fn spread(x: u32) -> u64 {
    let mut v = x as u64;
    v = (v | (v << 16)) & 0x0000_ffff_0000_ffff;
    v = (v | (v << 8)) & 0x00ff_00ff_00ff_00ff;
    v = (v | (v << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    v = (v | (v << 2)) & 0x3333_3333_3333_3333;
    (v | (v << 1)) & 0x5555_5555_5555_5555
}

/// Gather the even bits of `v` into 32 bits.
fn squash(v: u64) -> u32 {
    let mut v = v & 0x5555_5555_5555_5555;
    v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
    v = (v | (v >> 2)) & 0x0f0f_0f0f_0f0f_0f0f;
    v = (v | (v >> 4)) & 0x00ff_00ff_00ff_00ff;
    v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff;
    ((v | (v >> 16)) & 0x0000_0000_ffff_ffff) as u32
}

/// Encode within the given latitude range (Redis's own ±85.05..., or ±90 for the standard
/// geohash string). None outside Redis's limits.
pub fn encode_in(lon: f64, lat: f64, lat_min: f64, lat_max: f64, step: u8) -> Option<Hash> {
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_min || lat > lat_max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_off = (lat - lat_min) / (lat_max - lat_min) * scale;
    let lon_off = (lon - LONG_MIN) / (LONG_MAX - LONG_MIN) * scale;
    // C's double -> uint32_t conversion truncates.
    let bits = spread(lat_off as u32) | (spread(lon_off as u32) << 1);
    Some(Hash { bits, step })
}

pub fn encode(lon: f64, lat: f64, step: u8) -> Option<Hash> {
    encode_in(lon, lat, LAT_MIN, LAT_MAX, step)
}

/// The score a member at (lon, lat) gets: 52 bits.
pub fn score_of(lon: f64, lat: f64) -> Option<f64> {
    encode(lon, lat, STEP_MAX).map(|h| align52(h) as f64)
}

pub fn align52(h: Hash) -> u64 {
    h.bits << (52 - h.step as u32 * 2)
}

pub fn decode(h: Hash) -> Area {
    let lat_i = squash(h.bits);
    let lon_i = squash(h.bits >> 1);
    let div = (1u64 << h.step) as f64;
    let (lat_scale, lon_scale) = (LAT_MAX - LAT_MIN, LONG_MAX - LONG_MIN);
    Area {
        lat_min: LAT_MIN + (lat_i as f64 / div) * lat_scale,
        lat_max: LAT_MIN + ((lat_i as f64 + 1.0) / div) * lat_scale,
        long_min: LONG_MIN + (lon_i as f64 / div) * lon_scale,
        long_max: LONG_MIN + ((lon_i as f64 + 1.0) / div) * lon_scale,
    }
}

/// The (longitude, latitude) a score stands for: the centre of its cell, clamped.
pub fn decode_score(score: f64) -> (f64, f64) {
    let a = decode(Hash {
        bits: score as u64,
        step: STEP_MAX,
    });
    let lon = ((a.long_min + a.long_max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat_min + a.lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// GEOHASH's 11-character string: the position re-encoded on the standard ±90 latitude
/// range; the 11th character has no bits left and is always '0'.
pub fn hash_string(lon: f64, lat: f64) -> Option<[u8; 11]> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let h = encode_in(lon, lat, -90.0, 90.0, STEP_MAX)?;
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        *c = ALPHABET[((h.bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    Some(out)
}

fn rad(deg: f64) -> f64 {
    deg * D_R
}

fn deg(r: f64) -> f64 {
    r / D_R
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (rad(lat2) - rad(lat1)).abs()
}

/// Haversine distance in metres, as Redis computes it (same operations, same order).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (lon1r, lon2r) = (rad(lon1), rad(lon2));
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (rad(lat1), rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// A search shape, sizes in the unit given by `conversion` (metres per unit).
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Radius(f64),
    /// Width, height.
    Box(f64, f64),
}

#[derive(Clone, Copy, Debug)]
pub struct Search {
    pub lon: f64,
    pub lat: f64,
    pub shape: Shape,
    pub conversion: f64,
}

impl Search {
    /// The distance in metres of a point inside the shape, None outside.
    pub fn within(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.shape {
            Shape::Radius(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                (d <= r * self.conversion).then_some(d)
            }
            Shape::Box(w, h) => {
                let (w, h) = (w * self.conversion, h * self.conversion);
                if lat_distance(lat, self.lat) > h / 2.0 {
                    return None;
                }
                if distance(lon, lat, self.lon, lat) > w / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }

    /// Min/max longitude and latitude around the centre.
    fn bounds(&self) -> [f64; 4] {
        let (height, width) = match self.shape {
            Shape::Radius(r) => (r * self.conversion, r * self.conversion),
            Shape::Box(w, h) => (h / 2.0 * self.conversion, w / 2.0 * self.conversion),
        };
        let lat_delta = deg(height / EARTH_RADIUS_M);
        let top = deg(width / EARTH_RADIUS_M / rad(self.lat + lat_delta).cos());
        let bottom = deg(width / EARTH_RADIUS_M / rad(self.lat - lat_delta).cos());
        // Towards the pole the box is wider: the far edge decides.
        let d = if self.lat < 0.0 { bottom } else { top };
        [
            self.lon - d,
            self.lat - lat_delta,
            self.lon + d,
            self.lat + lat_delta,
        ]
    }

    /// The score ranges `[min, max)` to scan, in Redis's order (centre, N, S, E, W, NE, NW,
    /// SE, SW), skipping boxes the shape cannot reach and a box equal to the one before.
    pub fn ranges(&self) -> Vec<(f64, f64)> {
        let b = self.bounds();
        let radius_m = match self.shape {
            Shape::Radius(r) => r,
            Shape::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
        } * self.conversion;
        let mut step = estimate_step(radius_m, self.lat);
        let mut hash = encode(self.lon, self.lat, step).unwrap_or_default();
        let mut n = neighbours(hash);
        let (north, south) = (decode(n[1]), decode(n[2]));
        let (east, west) = (decode(n[3]), decode(n[4]));
        let decrease = north.lat_max < b[3]
            || south.lat_min > b[1]
            || east.long_max < b[2]
            || west.long_min > b[0];
        if step > 1 && decrease {
            step -= 1;
            hash = encode(self.lon, self.lat, step).unwrap_or_default();
            n = neighbours(hash);
        }
        let area = decode(hash);
        if step >= 2 {
            let z = Hash::default();
            // Indexes: 0 centre, 1 N, 2 S, 3 E, 4 W, 5 NE, 6 NW, 7 SE, 8 SW.
            if area.lat_min < b[1] {
                n[2] = z;
                n[8] = z;
                n[7] = z;
            }
            if area.lat_max > b[3] {
                n[1] = z;
                n[5] = z;
                n[6] = z;
            }
            if area.long_min < b[0] {
                n[4] = z;
                n[8] = z;
                n[6] = z;
            }
            if area.long_max > b[2] {
                n[3] = z;
                n[7] = z;
                n[5] = z;
            }
        }
        let mut out = Vec::with_capacity(9);
        let mut last: usize = 0;
        for i in 0..9 {
            if n[i].is_zero() {
                continue;
            }
            // Redis compares with the previous box only once that is not the centre.
            if last != 0 && n[i] == n[last] {
                continue;
            }
            let min = align52(n[i]);
            let max = align52(Hash {
                bits: n[i].bits + 1,
                step: n[i].step,
            });
            out.push((min as f64, max as f64));
            last = i;
        }
        out
    }
}

/// Bits per coordinate for boxes that cover `range_m` around latitude `lat`.
fn estimate_step(mut range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_m < MERCATOR_MAX {
        range_m *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn move_x(h: &mut Hash, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - h.step as u32 * 2;
    let mut x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    h.bits = x | y;
}

fn move_y(h: &mut Hash, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - h.step as u32 * 2;
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = h.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> shift;
    h.bits = x | y;
}

/// Centre and its eight neighbours in Redis's scan order: C, N, S, E, W, NE, NW, SE, SW.
fn neighbours(h: Hash) -> [Hash; 9] {
    let at = |dx: i8, dy: i8| {
        let mut n = h;
        move_x(&mut n, dx);
        move_y(&mut n, dy);
        n
    };
    [
        h,
        at(0, 1),
        at(0, -1),
        at(1, 0),
        at(-1, 0),
        at(1, 1),
        at(-1, 1),
        at(1, -1),
        at(-1, -1),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for x in [0u32, 1, 0xffff_ffff, 0x1234_5678, 0x0300_0001] {
            assert_eq!(squash(spread(x)), x);
            assert_eq!(squash(spread(x) << 1 >> 1), x);
        }
    }

    #[test]
    fn palermo_score_and_position() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" stores this score in Redis.
        let s = score_of(13.361389, 38.115556).unwrap();
        assert_eq!(s, 3479099956230698.0);
        let (lon, lat) = decode_score(s);
        assert!((lon - 13.361389338970184).abs() < 1e-12, "{lon}");
        assert!((lat - 38.1155563954963).abs() < 1e-12, "{lat}");
        assert_eq!(&hash_string(lon, lat).unwrap(), b"sqc8b49rny0");
    }

    #[test]
    fn distance_palermo_catania() {
        let (a, b) = (
            decode_score(score_of(13.361389, 38.115556).unwrap()),
            decode_score(score_of(15.087269, 37.502669).unwrap()),
        );
        let d = distance(a.0, a.1, b.0, b.1);
        assert_eq!(format!("{:.4}", d), "166274.1516");
    }

    #[test]
    fn out_of_range_is_refused() {
        assert!(score_of(181.0, 0.0).is_none());
        assert!(score_of(0.0, 86.0).is_none());
    }

    #[test]
    fn ranges_cover_the_centre() {
        let s = Search {
            lon: 15.0,
            lat: 37.0,
            shape: Shape::Radius(100.0),
            conversion: 1000.0,
        };
        let r = s.ranges();
        assert!(!r.is_empty() && r.len() <= 9);
        let me = score_of(15.0, 37.0).unwrap();
        assert!(r.iter().any(|&(a, b)| me >= a && me < b));
        assert!(s.within(15.087269, 37.502669).is_some());
        assert!(s.within(13.361389, 38.115556).is_none());
    }

    #[test]
    fn neighbours_of_a_cell_are_adjacent() {
        let h = encode(10.0, 10.0, 10).unwrap();
        let n = neighbours(h);
        let c = decode(h);
        let e = decode(n[3]);
        assert!((e.long_min - c.long_max).abs() < 1e-9);
        let no = decode(n[1]);
        assert!((no.lat_min - c.lat_max).abs() < 1e-9);
    }
}
