//! Glob matching with Redis's `stringmatchlen` semantics (`*`, `?`, `[...]` with `^`, ranges
//! and `\` escapes; an unclosed `[` class runs to the end of the pattern). Every token but `*`
//! matches exactly one byte, so one backtrack point is enough: linear in practice, never the
//! exponential blow-up of naive recursion on `a*a*a*a*b`.

/// True if `s` matches `pat`.
pub fn matches(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() && pat[p] == b'*' {
            while p < pat.len() && pat[p] == b'*' {
                p += 1;
            }
            if p == pat.len() {
                return true;
            }
            star = Some((p, i));
            continue;
        }
        if p < pat.len() {
            let (ok, next) = one(pat, p, s[i]);
            if ok {
                p = next;
                i += 1;
                continue;
            }
        }
        match star.as_mut() {
            Some((sp, si)) => {
                *si += 1;
                i = *si;
                p = *sp;
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Does the single-byte token at `pat[p]` match `c`? Returns the match and the next token.
fn one(pat: &[u8], p: usize, c: u8) -> (bool, usize) {
    match pat[p] {
        b'?' => (true, p + 1),
        b'\\' if p + 1 < pat.len() => (pat[p + 1] == c, p + 2),
        b'[' => class(pat, p + 1, c),
        lit => (lit == c, p + 1),
    }
}

fn class(pat: &[u8], mut q: usize, c: u8) -> (bool, usize) {
    let negate = pat.get(q) == Some(&b'^');
    if negate {
        q += 1;
    }
    let mut hit = false;
    loop {
        if q >= pat.len() {
            break;
        }
        if pat[q] == b'\\' && q + 1 < pat.len() {
            hit |= pat[q + 1] == c;
            q += 2;
        } else if pat[q] == b']' {
            q += 1;
            break;
        } else if q + 2 < pat.len() && pat[q + 1] == b'-' {
            let (mut lo, mut hi) = (pat[q], pat[q + 2]);
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            hit |= (lo..=hi).contains(&c);
            q += 3;
        } else {
            hit |= pat[q] == c;
            q += 1;
        }
    }
    (hit != negate, q)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn redis_glob_cases() {
        let yes: &[(&str, &str)] = &[
            ("*", ""),
            ("*", "abc"),
            ("h?llo", "hello"),
            ("h*llo", "heeeello"),
            ("h[ae]llo", "hallo"),
            ("h[^e]llo", "hallo"),
            ("h[a-b]llo", "hbllo"),
            ("h[b-a]llo", "hallo"),
            ("a\\*b", "a*b"),
            ("*a*a*a*b", "aaaaaaaaaaaaab"),
            ("[abc", "b"),
            ("key:*", "key:000000000001"),
            ("a**", "a"),
        ];
        let no: &[(&str, &str)] = &[
            ("h[^e]llo", "hello"),
            ("h?llo", "hllo"),
            ("a\\*b", "axb"),
            ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaac"),
            ("[", "a"),
            ("abc", "ab"),
            ("ab", "abc"),
        ];
        for (p, s) in yes {
            assert!(matches(p.as_bytes(), s.as_bytes()), "{p} {s}");
        }
        for (p, s) in no {
            assert!(!matches(p.as_bytes(), s.as_bytes()), "{p} {s}");
        }
    }
}
