//! Tests of `source::text`: columnar runs against record-by-record reading, inference, line
//! numbers and malformed records.

use super::*;
use crate::data::batch::{Column, NULL_INT};

fn read(name: &str, text: &str) -> (TextReader, Batch) {
    let dir = std::env::temp_dir().join(format!("shardsql-text-{}-{name}", std::process::id()));
    std::fs::write(&dir, text).unwrap();
    let mut r = TextReader::open(dir.to_str().unwrap(), None, Dict::new(), OnError::Skip).unwrap();
    let mut b = Batch::new(r.schema(), 0);
    while r.read_block(&mut b, 1 << 20).unwrap() > 0 {}
    std::fs::remove_file(&dir).ok();
    (r, b)
}

/// Reads all of `bytes` (CSV), in runs or record by record, storing the columns `reads`.
fn read_all(bytes: &[u8], runs: bool, reads: &[bool]) -> (Vec<Vec<String>>, u64, Vec<Malformed>) {
    let input = Box::new(std::io::Cursor::new(bytes.to_vec()));
    let dict = Dict::new();
    let mut r = TextReader::from_reader(input, "t", Format::Csv, None, dict.clone(), OnError::Skip)
        .unwrap();
    r.set_projection(reads.to_vec());
    if !runs {
        r.force_record_by_record();
    }
    let mut b = Batch::new(r.schema(), 0);
    while {
        let max = b.len() + 777;
        r.read_block(&mut b, max).unwrap() > 0
    } {}
    // Values as text: string ids depend on the order strings were first seen, and the
    // columnar path also interns strings of records it then finds malformed.
    let text = b
        .columns
        .iter()
        .map(|c| {
            (0..c.len())
                .map(|i| match c {
                    Column::Str(v) if v[i] != crate::data::batch::NULL_STR => {
                        dict.get(v[i]).to_string()
                    }
                    _ => c.key_at(i).to_string(),
                })
                .collect()
        })
        .collect();
    (text, r.malformed, r.examples.clone())
}

#[test]
fn columnar_runs_read_exactly_what_record_by_record_reads() {
    let mut rng = crate::test_rng::xorshift(0xDEAD_BEEF_1234_5678u64);
    let mut next = move |n: u64| rng() % n;
    let ints = [
        "7",
        "-3",
        "+4",
        "",
        " ",
        "12345678901234567890",
        "1.5",
        "x",
        "007",
        "-",
    ];
    let floats = [
        "2.5",
        "-0.0",
        "1e3",
        "",
        "abc",
        ".5",
        "5.",
        "13362.699999999999",
        "NaN",
        "9",
    ];
    let strs = [
        "a",
        "",
        "dev-1",
        "\u{e9}t\u{e9}",
        "\"q,\"",
        "\"multi\nline\"",
        "x\"y",
    ];
    let times = [
        "2024-03-01T12:00:00Z",
        "1700000000000",
        "",
        "2024-02-30",
        "99999999999999999",
    ];
    for case in 0..40 {
        let mut text = String::from("i,f,s,t\n");
        for k in 0..1000 {
            text += &format!("{k},{k}.5,s{},2024-03-01T12:00:{:02}Z\n", k % 5, k % 60);
        }
        for _ in 0..3000 {
            let pick = |v: &[&str], n: &mut dyn FnMut(u64) -> u64| {
                v[n(v.len() as u64) as usize].to_string()
            };
            let mut fields = vec![
                pick(&ints, &mut next),
                pick(&floats, &mut next),
                pick(&strs, &mut next),
                pick(&times, &mut next),
            ];
            match next(25) {
                0 => {
                    fields.pop();
                }
                1 => fields.push("extra".into()),
                _ => {}
            }
            text += &fields.join(",");
            text += ["\n", "\r\n", "\r", "\n\n"][next(4) as usize];
        }
        let mut bytes = text.into_bytes();
        if case % 4 == 0 {
            let at = 9_000 + next(bytes.len() as u64 - 9_000) as usize;
            bytes[at] = 0xFF; // invalid UTF-8 somewhere
        }
        for reads in [
            [true; 4],
            [false; 4],
            [true, false, true, false],
            [false, true, false, true],
        ] {
            let want = read_all(&bytes, false, &reads);
            let got = read_all(&bytes, true, &reads);
            assert_eq!(got.1, want.1, "malformed, case {case}, reads {reads:?}");
            assert_eq!(got.2, want.2, "examples, case {case}, reads {reads:?}");
            for (c, (g, w)) in got.0.iter().zip(&want.0).enumerate() {
                if g != w {
                    let at = g.iter().zip(w).take_while(|(a, b)| a == b).count();
                    panic!(
                        "case {case}, reads {reads:?}: column {c} differs first at row {at} \
                         ({} vs {} rows)",
                        g.len(),
                        w.len()
                    );
                }
            }
        }
    }
}

#[test]
fn csv_infers_types_and_skips_bad_rows_with_line_numbers() {
    let (r, b) = read("a.csv", "k,n,x\na,1,1.5\nb,oops,2\nc,3\nd,4,4.5\n");
    assert_eq!(
        r.schema().fields.iter().map(|f| f.ty).collect::<Vec<_>>(),
        vec![DataType::Str, DataType::Str, DataType::Float]
    );
    assert_eq!(b.len(), 3);
    assert_eq!(r.malformed, 1);
    assert_eq!(r.examples[0].line, 4);
}

#[test]
fn known_market_data_columns_keep_their_types() {
    let (r, b) = read("b.csv", "trade_id,price\n1,2\n2,x\n");
    assert_eq!(r.schema().fields[1].ty, DataType::Float);
    assert_eq!(b.len(), 1);
    assert_eq!(
        r.examples[0].reason,
        "column `price` (DOUBLE): cannot parse `x`"
    );
}

#[test]
fn json_lines_follow_the_first_objects_keys() {
    let (r, b) = read(
        "c.jsonl",
        "{\"s\":\"x\",\"v\":1}\n\n{\"v\":2,\"s\":\"y\"}\n{\"s\":\"z\"}\nnot json\n",
    );
    assert_eq!(r.schema().names().collect::<Vec<_>>(), ["s", "v"]);
    assert_eq!(b.len(), 3);
    assert_eq!(b.columns[1].as_int(), &[1, 2, NULL_INT]);
    assert_eq!(r.malformed, 1);
}

#[test]
fn iso_times_are_inferred_and_read_and_epoch_units_convert() {
    let noon = 1_709_294_400_000;
    let (r, b) = read(
        "d.csv",
        "t,d,n\n2024-03-01T12:00:00Z,2024-03-01,1\n2024-03-01 14:00:00.5+02:00,2024-03-02,2\n\
         2024-03-01 12:00:00.123456789,,3\n",
    );
    let types: Vec<_> = r.schema().fields.iter().map(|f| f.ty).collect();
    assert_eq!(
        types,
        [DataType::Timestamp, DataType::Timestamp, DataType::Int]
    );
    assert_eq!(b.columns[0].as_int(), &[noon, noon + 500, noon + 123]);
    assert_eq!(b.columns[1].as_int()[2], NULL_INT);
    assert_eq!(r.malformed, 0);

    let path = std::env::temp_dir().join(format!("shardsql-text-{}-e.csv", std::process::id()));
    std::fs::write(&path, "t,u\n1709294400,1709294400123456\n2024-02-30,1\n").unwrap();
    let fixed = Schema::new(vec![
        Field::timestamp("t", EpochUnit::Seconds),
        Field::timestamp("u", EpochUnit::Micros),
    ]);
    let mut r = TextReader::open(
        path.to_str().unwrap(),
        Some(&fixed),
        Dict::new(),
        OnError::Skip,
    )
    .unwrap();
    let mut b = Batch::new(r.schema(), 0);
    while r.read_block(&mut b, 1 << 20).unwrap() > 0 {}
    std::fs::remove_file(&path).ok();
    assert_eq!(b.columns[0].as_int(), &[noon]);
    assert_eq!(b.columns[1].as_int(), &[noon + 123]);
    assert_eq!(r.malformed, 1);
    assert!(
        r.examples[0].reason.contains("not an ISO-8601 time"),
        "{:?}",
        r.examples
    );
}
