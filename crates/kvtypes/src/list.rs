//! Lists: a ring buffer of boxed elements (pushes and pops at both ends in O(1)).

use std::collections::VecDeque;

#[derive(Clone, Default, Debug)]
pub struct List {
    pub items: VecDeque<Box<[u8]>>,
}

impl List {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn mem_bytes(&self) -> usize {
        self.items.capacity() * 16 + self.items.len() * 32
    }

    pub fn push(&mut self, v: &[u8], left: bool) {
        if left {
            self.items.push_front(v.into());
        } else {
            self.items.push_back(v.into());
        }
    }

    pub fn pop(&mut self, left: bool) -> Option<Box<[u8]>> {
        let v = if left {
            self.items.pop_front()
        } else {
            self.items.pop_back()
        };
        if self.items.capacity() > 64 && self.items.len() * 4 < self.items.capacity() {
            self.items.shrink_to(self.items.len() * 2);
        }
        v
    }

    /// A Redis index (negative from the end) as a position, if in range.
    pub fn index(&self, i: i64) -> Option<usize> {
        let n = self.items.len() as i64;
        let i = if i < 0 { n + i } else { i };
        (0..n).contains(&i).then_some(i as usize)
    }

    /// Redis's start/end clamping for LRANGE and LTRIM: None when the range is empty.
    pub fn range(&self, start: i64, end: i64) -> Option<(usize, usize)> {
        clamp_range(self.items.len(), start, end)
    }
}

/// Inclusive `start..=end` with negative indexes from the end, clamped as Redis does.
pub fn clamp_range(len: usize, mut start: i64, mut end: i64) -> Option<(usize, usize)> {
    let n = len as i64;
    if start < 0 {
        start += n;
    }
    if end < 0 {
        end += n;
    }
    if start < 0 {
        start = 0;
    }
    if start > end || start >= n {
        return None;
    }
    if end >= n {
        end = n - 1;
    }
    Some((start as usize, end as usize))
}
