//! redis.conf's lexical rules: one line split into arguments (`sdssplitargs`: bare words,
//! "double quotes" with C escapes and \xHH, 'single quotes' with only \'), the quoting Redis
//! uses to print an argument back (`sdscatrepr`), and redis-server's command line turned
//! into config text (`--port 6380 --save ""` becomes the lines `port "6380"`, `save ""`).
//! What it may not touch: what a directive means (see `table`).

/// Split one config line (or inline command) into arguments; None for unbalanced quotes or a
/// closing quote not followed by a space, as Redis refuses them.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let (mut inq, mut insq) = (false, false);
        loop {
            if inq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    let h = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                    cur.push(h(line[i + 2]) * 16 + h(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    // The closing quote must be followed by a space or the end.
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

/// An argument as Redis prints it back (`sdscatrepr`): double-quoted, with C escapes and
/// \xHH for anything not printable.
pub fn repr(arg: &[u8]) -> String {
    let mut s = String::with_capacity(arg.len() + 2);
    s.push('"');
    for &c in arg {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

/// An argument for a config file: bare when it needs no quoting, else `repr` (CONFIG REWRITE).
pub fn quote_if_needed(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|c| c.is_ascii_graphic() && c != b'"' && c != b'\'' && c != b'\\');
    if plain {
        arg.to_string()
    } else {
        repr(arg.as_bytes())
    }
}

/// What redis-server's command line says, split into its parts.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CommandLine {
    /// The first argument when it does not start with `-`.
    pub config_file: Option<String>,
    /// `-` as the first or last argument: read config text from stdin too.
    pub stdin: bool,
    /// The options as config text, parsed after the file and stdin.
    pub options: String,
}

/// Redis's rules: an `--opt` element starts a directive (with spaces, the element is itself
/// name and values); the elements after it that do not start with `--` are its arguments,
/// except that the element right after a lone `--opt` is always its argument even if it
/// starts with `--`; `--save` with no argument means `save ""`.
pub fn command_line(args: &[String]) -> CommandLine {
    let mut cl = CommandLine::default();
    let mut j = 0;
    if let Some(first) = args.first() {
        if !first.starts_with('-') {
            cl.config_file = Some(first.clone());
            j = 1;
        }
    }
    let mut opts = String::new();
    let mut handled_last = true;
    let last = args.len().saturating_sub(1);
    while j < args.len() {
        let a = &args[j];
        let next_is_opt = args.get(j + 1).is_some_and(|n| n.starts_with("--"));
        if a == "-" && (j == 0 || j == last) {
            cl.stdin = true;
        } else if handled_last && a.starts_with("--") {
            if !opts.is_empty() {
                opts.push('\n');
            }
            opts.push_str(&a[2..]);
            opts.push(' ');
            let words = split_args(a.as_bytes()).map_or(1, |w| w.len());
            if words == 1 {
                handled_last = false;
                if a.eq_ignore_ascii_case("--save") && (j == last || next_is_opt) {
                    opts.push_str("\"\"");
                    handled_last = true;
                }
            } else {
                handled_last = true;
            }
        } else {
            opts.push_str(&repr(a.as_bytes()));
            opts.push(' ');
            handled_last = true;
        }
        j += 1;
    }
    cl.options = opts;
    cl
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(line: &str) -> Option<Vec<String>> {
        split_args(line.as_bytes()).map(|v| {
            v.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        })
    }

    #[test]
    fn splits_as_sdssplitargs() {
        assert_eq!(s("logfile ''").unwrap(), ["logfile", ""]);
        assert_eq!(s("save ").unwrap(), ["save"]);
        assert_eq!(
            s(r#"appendfilename " file seq \n\n.aof ""#).unwrap(),
            ["appendfilename", " file seq \n\n.aof "]
        );
        assert_eq!(s(r#"a "\x41\t" 'it\'s'"#).unwrap(), ["a", "A\t", "it's"]);
        assert_eq!(s("  \t ").unwrap(), Vec::<String>::new());
        assert_eq!(s(r#"a "b"c"#), None, "closing quote must end the argument");
        assert_eq!(s(r#"a "bc"#), None, "unbalanced");
        assert_eq!(s("a 'b"), None);
        assert_eq!(s(r#"user default on nopass ~* +@all"#).unwrap().len(), 6);
    }

    #[test]
    fn repr_round_trips() {
        for a in ["", "a b", "x\"y\\z", "\n\r\t\x01\x7f", "plain"] {
            let line = format!("k {}", repr(a.as_bytes()));
            assert_eq!(s(&line).unwrap()[1], a);
            let line = format!("k {}", quote_if_needed(a));
            assert_eq!(s(&line).unwrap()[1], a);
        }
        assert_eq!(quote_if_needed("100mb"), "100mb");
    }

    fn cl(args: &[&str]) -> CommandLine {
        command_line(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn command_line_as_redis_server() {
        let c = cl(&["./redis.conf", "--port", "6380", "--appendonly", "yes"]);
        assert_eq!(c.config_file.as_deref(), Some("./redis.conf"));
        assert_eq!(c.options, "port \"6380\" \nappendonly \"yes\" ");
        assert_eq!(cl(&["--save"]).options, "save \"\"");
        assert_eq!(
            cl(&["--save", "--loglevel", "verbose"]).options,
            "save \"\"\nloglevel \"verbose\" "
        );
        assert_eq!(
            cl(&[
                "--proc-title-template",
                "--my--title",
                "--loglevel",
                "verbose"
            ])
            .options,
            "proc-title-template \"--my--title\" \nloglevel \"verbose\" "
        );
        assert_eq!(
            cl(&["--maxmemory '700mb'", "--maxmemory-policy volatile-lru"]).options,
            "maxmemory '700mb' \nmaxmemory-policy volatile-lru "
        );
        assert_eq!(
            cl(&["f", "loglevel", "verbose", "--port", "1"]).options,
            "\"loglevel\" \"verbose\" \nport \"1\" "
        );
        let c = cl(&["-", "--port", "1"]);
        assert!(c.stdin && c.config_file.is_none());
        let c = cl(&["a.conf", "--port", "1", "-"]);
        assert!(c.stdin);
        assert_eq!(cl(&["--port"]).options, "port ");
    }
}
