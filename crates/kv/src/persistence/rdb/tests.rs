use super::*;

fn lim() -> Limits {
    Limits::default()
}

fn sample_db() -> Db {
    let mut db = Db::default();
    db.insert_new(b"int", NewValue::Int(-123456789012));
    db.insert_new(b"small", NewValue::Int(7));
    db.insert_new(b"text", NewValue::Str(b"hello"));
    let long = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabc".repeat(10);
    db.insert_new(b"long", NewValue::Str(&long));
    let mut l = List::default();
    for e in [&b"a"[..], b"12", b""] {
        l.push(e, false);
    }
    db.insert_obj(b"list", Object::List(l));
    let mut s = Set::for_member(b"1", 512);
    for m in [&b"1"[..], b"2", b"-3"] {
        s.add(m, 512);
    }
    db.insert_obj(b"intset", Object::Set(s));
    let mut h = Hash::default();
    h.set(b"f", b"v", &lim());
    h.set(b"n", b"42", &lim());
    db.insert_obj(b"hash", Object::Hash(h));
    let mut z = ZSet::for_member(b"m", &lim());
    z.insert(b"m", 1.5, &lim());
    z.insert(b"n", f64::NEG_INFINITY, &lim());
    db.insert_obj(b"zset", Object::ZSet(z));
    let i = db.find(b"text").unwrap();
    db.set_deadline(i, 4_000_000_000_000);
    db
}

/// Everything a key holds, as text, for comparisons.
fn describe(db: &Db, key: &[u8]) -> String {
    let i = db.find(key).unwrap();
    let v = match db.obj(i) {
        None => match db.value(i) {
            Value::Int(n) => n.to_string(),
            Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
        },
        Some(Object::List(l)) => format!("{:?}", l.items),
        Some(Object::Set(s)) => {
            let mut m: Vec<_> = s.members().iter().map(|m| m.to_vec()).collect();
            m.sort();
            format!("{m:?}")
        }
        Some(Object::Hash(h)) => {
            let mut p: Vec<_> = h
                .pairs()
                .iter()
                .map(|(f, v)| (f.to_vec(), v.to_vec()))
                .collect();
            p.sort();
            format!("{p:?}")
        }
        Some(Object::ZSet(z)) => format!("{:?}", z.iter().collect::<Vec<_>>()),
        Some(Object::Stream(_)) => unreachable!("no stream in these samples"),
    };
    format!("{v} ttl={:?}", db.deadline(i))
}

#[test]
fn a_file_reads_back_every_type_and_deadline() {
    let db = sample_db();
    let file = write_file(
        std::slice::from_ref(&db),
        0,
        true,
        &[("redis-ver", b"7.0.15".to_vec())],
    );
    let mut back = Db::default();
    let info = read_file(&file, &lim(), |k| {
        assert_eq!(k.db, 0);
        let i = k.value.insert(&mut back, &k.key);
        if let Some(at) = k.expire_ms {
            back.set_deadline(i, at);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(info.keys, 8);
    assert_eq!(info.aux, vec![(b"redis-ver".to_vec(), b"7.0.15".to_vec())]);
    for key in [
        &b"int"[..],
        b"small",
        b"text",
        b"long",
        b"list",
        b"intset",
        b"hash",
        b"zset",
    ] {
        assert_eq!(
            describe(&db, key),
            describe(&back, key),
            "{}",
            String::from_utf8_lossy(key)
        );
    }
}

#[test]
fn a_flipped_byte_fails_the_checksum_and_a_cut_file_is_refused() {
    let file = write_file(std::slice::from_ref(&sample_db()), 0, true, &[]);
    let mut bad = file.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x20;
    assert!(read_file(&bad, &lim(), |_| Ok(())).is_err());
    for cut in 0..file.len() {
        assert!(
            read_file(&file[..cut], &lim(), |_| Ok(())).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn dump_payloads_verify_and_read_back() {
    let db = sample_db();
    for key in [&b"int"[..], b"long", b"list", b"intset", b"hash", b"zset"] {
        let p = dump_payload(&db, db.find(key).unwrap());
        let value = verify_payload(&p).expect("valid payload");
        let mut back = Db::default();
        read_payload(value, &lim()).unwrap().insert(&mut back, key);
        let strip = |s: String| s.split(" ttl=").next().unwrap().to_string();
        assert_eq!(strip(describe(&db, key)), strip(describe(&back, key)));
        let mut wrong = p.clone();
        wrong[0] ^= 1;
        assert!(verify_payload(&wrong).is_none());
    }
}

/// Payloads made by redis-server 7.0.15 (`DUMP` after `SET s 12345`, `RPUSH l a 1 -2 300
/// hello`, `HSET h f v n 42`, `ZADD z 1.5 m -inf n 3 o`, `SADD si 1 2 -3`, `SADD ss a b`, `SET
/// lz` of 126 repeating bytes), so reading Redis's compact encodings is checked against Redis's
/// own bytes, checksums included.
#[test]
fn reads_payloads_written_by_redis() {
    let cases: &[(&str, &str)] = &[
        ("00c139300a009d94ea2793fc08b9", "12345"),
        (
            "120102191900000005008161020101dffe02c12c028568656c6c6f06ff0a00821fc187a7f201e9",
            r#"["a", "1", "-2", "300", "hello"]"#,
        ),
        (
            "1012120000000400816602817602816e022a01ff0a00ff30e87f7262d991",
            r#"[("f", "v"), ("n", "42")]"#,
        ),
        (
            "111d1d0000000600816e02842d696e6605816d0283312e3504816f020301ff0a005602737fd3a46a02",
            r#"[(-inf, "n"), (1.5, "m"), (3.0, "o")]"#,
        ),
        ("0b0e0200000003000000fdff010002000a00d1b78ed9bc07c27f", r#"["-3", "1", "2"]"#),
        ("0202016201610a0075d99d835ef85f65", r#"["a", "b"]"#),
        (
            "00c30b407e0361626361e06f020162630a007e4ace70ba08fb90",
            "abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc",
        ),
    ];
    for (hex, want) in cases {
        let p: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let v = verify_payload(&p).expect("Redis's checksum verifies");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let got = match read_payload(v, &lim()).unwrap() {
            Loaded::Str(s) => text(&s),
            Loaded::Obj(Object::List(l)) => {
                format!("{:?}", l.items.iter().map(|e| text(e)).collect::<Vec<_>>())
            }
            Loaded::Obj(Object::Hash(h)) => {
                let mut p: Vec<_> = h.pairs().iter().map(|(f, v)| (text(f), text(v))).collect();
                p.sort();
                format!("{p:?}")
            }
            Loaded::Obj(Object::ZSet(z)) => {
                format!(
                    "{:?}",
                    z.iter().map(|(s, m)| (s, text(m))).collect::<Vec<_>>()
                )
            }
            Loaded::Obj(Object::Set(s)) => {
                let mut m: Vec<_> = s.members().iter().map(|m| text(m)).collect();
                m.sort();
                format!("{m:?}")
            }
            Loaded::Obj(Object::Stream(_)) => unreachable!("streams are refused on load"),
        };
        assert_eq!(&got, want, "payload {hex}");
    }
}
