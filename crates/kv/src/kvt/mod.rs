pub mod bitops;
pub mod geohash;
pub mod hll;
