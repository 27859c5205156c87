//! Tests of the dataset readers: JSONL, CSV and Parquet rows, their errors, `scan`'s counts.

use super::*;
use finetune_fixtures::parquet::{write_parquet, Col, Compression};
use std::io::Write;

fn spec(path: &Path) -> DataSpec {
    serde_json::from_value(serde_json::json!({ "train": path })).unwrap()
}

fn file(name: &str, body: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    File::create(&path).unwrap().write_all(body).unwrap();
    (dir, path)
}

#[test]
fn csv_text_that_is_not_utf8_is_decoded_with_replacement_characters() {
    // "caf\xe9" is cp1252/latin-1 for "café".
    let (_d, p) = file("t.csv", b"text,label\ncaf\xe9 ok,pos\nfine,neg\n");
    let rows = read_all(&p, &spec(&p)).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].text, "caf\u{fffd} ok");
    assert_eq!(rows[0].line, 2);
}

#[test]
fn jsonl_rows_keep_line_numbers_and_integer_labels() {
    let (_d, p) = file(
        "t.jsonl",
        b"{\"text\":\"good\",\"label\":1}\n\n{\"text\":\"bad\",\"label\":\"neg\"}\r\n",
    );
    let rows = read_all(&p, &spec(&p)).unwrap();
    assert_eq!(
        rows,
        vec![
            Row {
                line: 1,
                text: "good".into(),
                label: "1".into()
            },
            Row {
                line: 3,
                text: "bad".into(),
                label: "neg".into()
            }
        ]
    );
}

#[test]
fn jsonl_errors_name_file_and_line() {
    let cases: &[(&str, &str)] = &[
        (
            "{\"text\":\"a\",\"label\":\"x\"}\n{oops\n",
            ":2: invalid JSON",
        ),
        (
            "{\"text\":\"a\",\"label\":\"x\"}\n{\"label\":\"x\"}\n",
            ":2: missing field `text`",
        ),
        (
            "{\"text\":\"  \",\"label\":\"x\"}\n",
            ":1: field `text` is empty",
        ),
        (
            "{\"text\":\"a\",\"label\":1.5}\n",
            ":1: field `label` must be a string or an integer",
        ),
        (
            "{\"text\":3,\"label\":\"x\"}\n",
            ":1: field `text` must be a string",
        ),
        ("[1]\n", ":1: invalid JSON: expected an object"),
    ];
    for (body, want) in cases {
        let (_d, p) = file("t.jsonl", body.as_bytes());
        let err = read_all(&p, &spec(&p)).unwrap_err().to_string();
        assert!(err.contains(want), "{body:?}: {err}");
        assert!(err.starts_with(&p.display().to_string()), "{err}");
    }
}

#[test]
fn unknown_labels_are_reported_when_a_label_set_is_given() {
    let (_d, p) = file(
        "t.jsonl",
        b"{\"text\":\"a\",\"label\":\"pos\"}\n{\"text\":\"b\",\"label\":\"meh\"}\n",
    );
    let mut s = spec(&p);
    assert_eq!(read_all(&p, &s).unwrap().len(), 2);
    s.labels = Some(vec!["neg".into(), "pos".into()]);
    let err = read_all(&p, &s).unwrap_err();
    assert_eq!(err.line(), Some(2));
    assert!(err
        .to_string()
        .contains("unknown label `meh`; known labels: neg, pos"));
}

#[test]
fn empty_unreadable_and_unknown_files_are_file_errors() {
    let (_d, p) = file("t.jsonl", b"\n  \n");
    assert!(matches!(
        read_all(&p, &spec(&p)),
        Err(DatasetError::Empty { .. })
    ));
    assert!(matches!(
        scan(&p, &spec(&p), 5),
        Err(DatasetError::Empty { .. })
    ));
    let (_d, p) = file("t.csv", b"text,label\n");
    assert!(matches!(
        read_all(&p, &spec(&p)),
        Err(DatasetError::Empty { .. })
    ));
    let (_d, p) = file("t.csv", b"");
    assert!(matches!(
        read_all(&p, &spec(&p)),
        Err(DatasetError::Empty { .. })
    ));
    let missing = Path::new("/nonexistent/train.jsonl");
    let err = read_all(missing, &spec(missing)).unwrap_err();
    assert!(matches!(err, DatasetError::Unreadable { .. }));
    assert!(err
        .to_string()
        .starts_with("/nonexistent/train.jsonl: cannot read"));
    let (_d, p) = file("t.txt", b"x");
    assert!(matches!(
        read_all(&p, &spec(&p)),
        Err(DatasetError::UnknownFormat { .. })
    ));
    let mut s = spec(&p);
    s.format = Some(DataFormat::Csv);
    // Read as CSV: its header `x` lacks the text column.
    assert!(matches!(
        read_all(&p, &s),
        Err(DatasetError::MissingField {
            at: At::Line(1),
            ..
        })
    ));
}

#[test]
fn csv_reads_configured_columns_with_quoted_newlines() {
    let (_d, p) = file(
        "t.csv",
        b"sentiment,confidence,tweet\npositive,1,\"hello\nworld\"\nnegative,0.5,bye\n",
    );
    let mut s = spec(&p);
    s.text = "tweet".into();
    s.label = "sentiment".into();
    let rows = read_all(&p, &s).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].text, "hello\nworld");
    assert_eq!((rows[0].line, rows[1].line), (2, 4));
    assert_eq!(rows[1].label, "negative");
}

#[test]
fn csv_errors_name_the_line() {
    let (_d, p) = file("t.csv", b"text,label\na,x\n,y\nb\n");
    let s = spec(&p);
    let err = read_all(&p, &s).unwrap_err();
    assert_eq!(err.line(), Some(3), "{err}");
    let sc = scan(&p, &s, 10).unwrap();
    assert_eq!((sc.rows, sc.good_rows, sc.bad_rows), (3, 1, 2));
    assert_eq!(sc.error_lines, vec![3, 4]);
    let (_d, p) = file("t.csv", b"body,label\na,x\n");
    let err = read_all(&p, &spec(&p)).unwrap_err();
    assert!(
        err.to_string().contains(":1: missing field `text`"),
        "{err}"
    );
}

#[test]
fn scan_counts_labels_and_keeps_the_first_errors() {
    let mut body = String::new();
    for i in 0..10 {
        body.push_str(&format!("{{\"text\":\"t{i}\",\"label\":\"{}\"}}\n", i % 3));
    }
    body.push_str("bad\nbad\nbad\n");
    let (_d, p) = file("t.jsonl", body.as_bytes());
    let sc = scan(&p, &spec(&p), 2).unwrap();
    assert_eq!((sc.rows, sc.good_rows, sc.bad_rows), (13, 10, 3));
    assert_eq!(sc.labels.get("0"), Some(&4));
    assert_eq!(sc.labels.get("2"), Some(&3));
    assert_eq!(sc.error_lines, vec![11, 12]);
    assert_eq!(sc.errors.len(), 2);
}

#[test]
fn a_field_no_row_has_is_recorded_once_not_per_row() {
    let mut body = String::new();
    for i in 0..12 {
        body.push_str(&format!("{{\"text\":\"t{i}\",\"intent\":\"x\"}}\n"));
    }
    body.push_str("broken\n");
    let (_d, p) = file("t.jsonl", body.as_bytes());
    let mut s = spec(&p);
    s.label = "category".into();
    let sc = scan(&p, &s, 10).unwrap();
    assert_eq!(sc.absent, BTreeMap::from([("category".to_string(), 12)]));
    assert_eq!(sc.error_lines, vec![13], "{:?}", sc.errors);
    assert_eq!((sc.rows, sc.bad_rows), (13, 13));
    assert!(sc.fields.contains("intent") && sc.fields.contains("text"));
    // Neither field: both are named, though only the text was looked for.
    s.text = "body".into();
    let sc = scan(&p, &s, 10).unwrap();
    assert_eq!(sc.absent.keys().collect::<Vec<_>>(), ["body", "category"]);
    let (_d, p) = file("t.csv", b"text,intent\na,x\nb,y\n");
    let mut s = spec(&p);
    s.label = "category".into();
    let sc = scan(&p, &s, 10).unwrap();
    assert_eq!(sc.absent, BTreeMap::from([("category".to_string(), 0)]));
    assert_eq!(sc.fields, BTreeSet::from(["intent".into(), "text".into()]));
    // Rows lacking a field that other rows have stay row errors, in file order.
    let (_d, p) = file(
        "t.jsonl",
        b"{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\"}\n[1]\n{\"label\":\"y\"}\n",
    );
    let sc = scan(&p, &spec(&p), 10).unwrap();
    assert!(sc.absent.is_empty());
    assert_eq!(sc.error_lines, vec![2, 3, 4]);
}

#[test]
fn limit_takes_the_first_rows() {
    let (_d, p) = file(
        "t.jsonl",
        b"{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\",\"label\":\"y\"}\nbroken\n",
    );
    let mut s = spec(&p);
    s.limit = Some(crate::Count::of(2));
    let rows = read_all(&p, &s).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(scan(&p, &s, 5).unwrap().rows, 2);
}

#[test]
fn sha256_of_a_file() {
    let (_d, p) = file("t.jsonl", b"abc");
    assert_eq!(
        file_sha256(&p).unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

fn sentiment() -> Vec<(&'static str, &'static str)> {
    vec![
        ("good film", "positive"),
        ("bad film", "negative"),
        ("it was fine", "neutral"),
        ("great fun", "positive"),
        ("dull", "negative"),
    ]
}

#[test]
fn parquet_rows_read_back_as_their_jsonl_equivalent() {
    let rows = sentiment();
    let jsonl: String = rows
        .iter()
        .map(|(t, l)| format!("{}\n", serde_json::json!({"text": t, "label": l})))
        .collect();
    let (_d, jp) = file("t.jsonl", jsonl.as_bytes());
    let want = read_all(&jp, &spec(&jp)).unwrap();
    for compression in [
        Compression::SNAPPY,
        Compression::ZSTD(Default::default()),
        Compression::UNCOMPRESSED,
    ] {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("train.parquet");
        let texts = rows.iter().map(|r| Some(r.0)).collect();
        let labels = rows.iter().map(|r| Some(r.1)).collect();
        // Two row groups (2 + 2 + 1 rows): row numbers run on across them.
        write_parquet(
            &p,
            &[
                ("idx", Col::Int((0..5).collect())),
                ("text", Col::Str(texts)),
                ("label", Col::Str(labels)),
            ],
            2,
            compression,
        )
        .unwrap();
        assert_eq!(read_all(&p, &spec(&p)).unwrap(), want, "{compression:?}");
        let sc = scan(&p, &spec(&p), 5).unwrap();
        assert_eq!((sc.rows, sc.good_rows), (5, 5));
        assert_eq!(sc.labels.get("positive"), Some(&2));
        assert_eq!(
            sc.fields,
            BTreeSet::from(["idx".into(), "label".into(), "text".into()])
        );
        let mut s = spec(&p);
        s.limit = Some(crate::Count::of(3));
        assert_eq!(read_all(&p, &s).unwrap(), want[..3]);
    }
}

#[test]
fn parquet_integer_labels_and_configured_columns() {
    let (d, _) = file("x", b"");
    let p = d.path().join("t.pq");
    write_parquet(
        &p,
        &[
            ("sentence", Col::Str(vec![Some("a"), Some("b"), Some("c")])),
            ("class", Col::Int(vec![0, 2, 1])),
        ],
        10,
        Compression::SNAPPY,
    )
    .unwrap();
    let mut s = spec(&p);
    s.text = "sentence".into();
    s.label = "class".into();
    let rows = read_all(&p, &s).unwrap();
    let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["0", "2", "1"]);
    assert_eq!(rows[2].line, 3);
    // The label column read as text: integers are not text.
    s.text = "class".into();
    let err = read_all(&p, &s).unwrap_err().to_string();
    assert!(
        err.ends_with("t.pq: row group 0, row 0: field `class` must be a string, found an integer"),
        "{err}"
    );
}

#[test]
fn parquet_row_errors_name_the_row_group_and_row() {
    let (d, _) = file("x", b"");
    let p = d.path().join("t.parquet");
    write_parquet(
        &p,
        &[
            (
                "text",
                Col::Str(vec![Some("a"), Some("b"), None, Some(" ")]),
            ),
            (
                "label",
                Col::Str(vec![Some("x"), Some("y"), Some("x"), Some("y")]),
            ),
        ],
        2,
        Compression::SNAPPY,
    )
    .unwrap();
    let err = read_all(&p, &spec(&p)).unwrap_err();
    assert_eq!(err.line(), Some(3));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: row group 1, row 0: field `text` must be a string, found null",
            p.display()
        )
    );
    let sc = scan(&p, &spec(&p), 10).unwrap();
    assert_eq!((sc.rows, sc.good_rows, sc.bad_rows), (4, 2, 2));
    assert_eq!(sc.error_lines, vec![3, 4]);
    assert_eq!(
        sc.error_places[1],
        format!("{}: row group 1, row 1", p.display())
    );
    assert!(sc.errors[1].ends_with("row group 1, row 1: field `text` is empty"));
}

#[test]
fn a_parquet_column_the_schema_lacks_is_absent_like_a_jsonl_field() {
    let (d, _) = file("x", b"");
    let p = d.path().join("t.parquet");
    write_parquet(
        &p,
        &[
            ("text", Col::Str(vec![Some("a"), Some("b")])),
            ("intent", Col::Str(vec![Some("x"), Some("y")])),
        ],
        10,
        Compression::SNAPPY,
    )
    .unwrap();
    let sc = scan(&p, &spec(&p), 10).unwrap();
    assert_eq!(sc.absent, BTreeMap::from([("label".to_string(), 0)]));
    assert_eq!(sc.fields, BTreeSet::from(["intent".into(), "text".into()]));
    let err = read_all(&p, &spec(&p)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: schema: missing field `label`; set `data.text`/`data.label` to the field names the file uses",
            p.display()
        )
    );
}

#[test]
fn corrupt_and_truncated_parquet_files_are_one_line_errors() {
    let (d, _) = file("x", b"");
    let p = d.path().join("t.parquet");
    let rows: Vec<Option<&str>> = (0..200).map(|_| Some("some text")).collect();
    write_parquet(
        &p,
        &[("text", Col::Str(rows.clone())), ("label", Col::Str(rows))],
        50,
        Compression::SNAPPY,
    )
    .unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let cases: Vec<Vec<u8>> = vec![
        b"text,label\nnot,parquet\n".to_vec(),
        bytes[..bytes.len() - 9].to_vec(),
        bytes[..bytes.len() / 2].to_vec(),
        // The footer intact, a data page scribbled over.
        {
            let mut b = bytes.clone();
            for x in &mut b[8..200] {
                *x = 0xAB;
            }
            b
        },
    ];
    for body in cases {
        std::fs::write(&p, &body).unwrap();
        let err = read_all(&p, &spec(&p)).unwrap_err();
        assert!(matches!(err, DatasetError::BadParquet { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(!msg.contains('\n'), "{msg}");
        assert!(
            msg.starts_with(&format!("{}: not a readable Parquet file", p.display())),
            "{msg}"
        );
        assert!(scan(&p, &spec(&p), 5).is_err());
    }
}

#[test]
fn bom_crlf_and_quoted_newlines_read_correctly() {
    let (_d, p) = file(
        "t.csv",
        b"\xEF\xBB\xBFtext,label\r\n\"one\r\ntwo\",pos\r\nthree,neg\r\n\"say \"\"hi\"\"\",pos\r\n",
    );
    let rows = read_all(&p, &spec(&p)).unwrap();
    let got: Vec<(usize, &str, &str)> = rows
        .iter()
        .map(|r| (r.line, r.text.as_str(), r.label.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (2, "one\r\ntwo", "pos"),
            (4, "three", "neg"),
            (5, "say \"hi\"", "pos")
        ]
    );
    // The text last: the CR of each line end is not part of it, quoted or not.
    let (_d, p) = file(
        "t.csv",
        b"label,text\r\npos,\"a\r\nb\"\r\nneg,c\r\n\r\nneg,d",
    );
    let rows = read_all(&p, &spec(&p)).unwrap();
    let got: Vec<(usize, &str)> = rows.iter().map(|r| (r.line, r.text.as_str())).collect();
    assert_eq!(got, [(2, "a\r\nb"), (4, "c"), (6, "d")]);
    let (_d, p) = file(
        "t.jsonl",
        b"\xEF\xBB\xBF{\"text\":\"a\",\"label\":\"x\"}\r\n\r\n{\"text\":\"b\",\"label\":\"y\"}\r\n",
    );
    let rows = read_all(&p, &spec(&p)).unwrap();
    let got: Vec<(usize, &str, &str)> = rows
        .iter()
        .map(|r| (r.line, r.text.as_str(), r.label.as_str()))
        .collect();
    assert_eq!(got, [(1, "a", "x"), (3, "b", "y")]);
}

#[test]
fn a_10_mb_line_is_an_error_naming_file_and_line() {
    let long = "x".repeat(10 << 20);
    let jsonl =
        format!("{{\"text\":\"a\",\"label\":\"x\"}}\n{{\"text\":\"{long}\",\"label\":\"y\"}}\n");
    let csv = format!("text,label\na,x\n\"{long}\",y\n");
    for (name, body, line) in [("t.jsonl", jsonl, 2), ("t.csv", csv, 3)] {
        let (_d, p) = file(name, body.as_bytes());
        let err = read_all(&p, &spec(&p)).unwrap_err();
        assert!(
            matches!(err, DatasetError::LineTooLong { line: l, .. } if l == line),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "{}: line {line} is longer than the 1 MiB limit",
                p.display()
            )),
            "{msg}"
        );
        assert!(scan(&p, &spec(&p), 5).is_err());
    }
    // Just under the limit is fine.
    let text = "y".repeat(MAX_LINE - 40);
    let body = format!("{{\"text\":\"{text}\",\"label\":\"x\"}}\n");
    let (_d, p) = file("t.jsonl", body.as_bytes());
    assert_eq!(read_all(&p, &spec(&p)).unwrap()[0].text.len(), text.len());
}

#[test]
fn duplicate_texts_between_files_are_counted() {
    let (_d, t) = file(
        "t.jsonl",
        b"{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\",\"label\":\"y\"}\n",
    );
    let (_e, e) = file(
        "e.jsonl",
        b"{\"text\":\" a \",\"label\":\"x\"}\n{\"text\":\"c\",\"label\":\"y\"}\n{\"text\":\"b\",\"label\":\"x\"}\n{\"text\":\"a\",\"label\":\"x\"}\n",
    );
    let (st, se) = (
        scan(&t, &spec(&t), 0).unwrap(),
        scan(&e, &spec(&e), 0).unwrap(),
    );
    assert_eq!(duplicate_texts(&st, &se), 3);
    assert_eq!(duplicate_texts(&st, &st), 2);
}

#[test]
fn scan_counts_what_data_redact_would_replace_in_good_rows_only() {
    let body = concat!(
        "{\"text\":\"mail bob@example.com or call (212) 736-5000\",\"label\":\"a\"}\n",
        "{\"text\":\"card 4111 1111 1111 1111, bad card 4111 1111 1111 1112\",\"label\":\"b\"}\n",
        "{\"text\":\"no label bob@example.com\"}\n",
        "{\"text\":\"version 10.0.0.1 is not an address\",\"label\":\"a\"}\n",
    );
    let (_d, p) = file("t.jsonl", body.as_bytes());
    let mut s = spec(&p);
    assert_eq!(
        scan(&p, &s, 5).unwrap().redacted,
        None,
        "no redact: no counts"
    );
    s.redact = crate::redact::EntitySelection::All;
    let counts = scan(&p, &s, 5).unwrap().redacted.unwrap();
    let json = serde_json::to_value(&counts).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"email": 1, "phone": 1, "credit_card": 1, "iban": 0, "ip": 0, "url": 0})
    );
    s.redact = crate::redact::EntitySelection::Only(vec![crate::redact::Entity::Email]);
    let only = scan(&p, &s, 5).unwrap().redacted.unwrap();
    assert_eq!(
        serde_json::to_value(&only).unwrap(),
        serde_json::json!({"email": 1})
    );
}
