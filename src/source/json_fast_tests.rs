//! The JSON fast path against the general path: rows, counts and reasons, on hostile lines.

use super::*;
use crate::data::{Dict, Schema};

#[test]
fn a_generated_line_takes_the_fast_path() {
    let s = Schema::market_data();
    let keys: Vec<String> = s.names().map(str::to_string).collect();
    let mut f = FastJson::new(&keys, &s.fields, |_| true).unwrap();
    let mut b = Batch::new(&s, 4);
    let mut i = Interner::new(Dict::new());
    for line in [
        &br#"{"trade_id":0,"trader_id":"TRADER_0007","symbol":"AAPL","price":162.8,"quantity":505,"value":82214.0,"trade_time":1700000000000,"event_time":1700000000000}"#[..],
        b"{\"trade_id\":1,\"trader_id\":\"TRADER_0005\",\"symbol\":\"GOOGL\",\"price\":484.67,\"quantity\":836,\"value\":405184.12,\"trade_time\":1700000000001,\"event_time\":1700000000001}\n",
    ] {
        assert!(f.append(line, &mut b, &mut i), "{}", String::from_utf8_lossy(line));
    }
}

/// A tiny deterministic generator (xorshift64*), so the tests need no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T: ?Sized>(&mut self, xs: &[&'a T]) -> &'a T {
        xs[self.below(xs.len())]
    }
}

const COLS: [&str; 7] = ["i", "s", "f", "b", "t", "ts", "u"];

fn digits(r: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|k| {
            let d = r.below(10) as u8;
            (b'0' + if k == 0 && n > 1 { d.max(1) } else { d }) as char
        })
        .collect()
}

/// One JSON value's text: common ones most of the time, every hostile shape some of it.
fn value(r: &mut Rng) -> String {
    let sign = if r.below(4) == 0 { "-" } else { "" };
    match r.below(12) {
        0..=2 => {
            let n = 1 + r.below(20);
            format!("{sign}{}", digits(r, n))
        }
        3..=4 => {
            let (a, b) = (1 + r.below(10), 1 + r.below(12));
            format!("{sign}{}.{}", digits(r, a), digits(r, b))
        }
        5 => {
            let n = 1 + r.below(22);
            format!("{sign}0.{}", digits(r, n))
        }
        6..=7 => format!(
            "\"{}\"",
            r.pick(&[
                "TRADER_0007",
                "AAPL",
                "",
                " ",
                "é",
                "日本語",
                "a\\\"b",
                "\\u00e9",
                "\\n",
                "2024-03-01T12:00:00Z",
                "2024-03-01",
                "2024-02-30",
                " 2024-03-01 ",
                "42",
                "+5",
                "-0",
                "true",
                "t",
                "1",
                "1700000000000",
                "1700000000",
                "  12  ",
                "1.5",
                "x",
                "a string longer than sixteen bytes",
                "99999999999999999999",
                "NaN",
                "\u{1}",
                "\t",
            ])
        ),
        8 => r
            .pick(&[
                "true", "false", "null", "null", "tru", "nul", "True", "NULL",
            ])
            .into(),
        9 => r
            .pick(&[
                "-0",
                "0",
                "-0.0",
                "0.0",
                "1e3",
                "1E-2",
                "1.5e3",
                "-1e400",
                "1e400",
                ".5",
                "5.",
                "-",
                "+1",
                "NaN",
                "Infinity",
                "1.50",
                "007",
                "00.5",
                "0x1F",
                "9223372036854775807",
                "-9223372036854775808",
                "18446744073709551616",
                "123456789012345678",
                "12345678901234567",
                "99999999999999999",
                "3875334047727647.7",
                "410.458098536264801",
                "549968344652.8355980",
                "1.7976931348623157e308",
                "253402300800000",
                "-62135596800001",
                "1700000000000",
                "1700000000",
            ])
            .into(),
        10 => r
            .pick(&["{}", "{\"a\":1}", "[]", "[1,2]", "[", "{\"a\":"])
            .into(),
        _ => format!("{}", r.below(1000)),
    }
}

/// Whitespace JSON allows between tokens (mostly none), sometimes a form feed, which it
/// does not.
fn ws(r: &mut Rng) -> &'static str {
    match r.below(400) {
        0..=9 => " ",
        10..=14 => "\t",
        15..=17 => " \r ",
        18 => "  \n",
        19 => "\x0c",
        _ => "",
    }
}

/// One line: keys in order mostly; sometimes reordered, missing, extra, repeated, cased
/// or escaped; sometimes truncated, blank, not an object, or with invalid UTF-8.
fn line(r: &mut Rng) -> Vec<u8> {
    match r.below(40) {
        0 => return b"".to_vec(),
        1 => return r.pick(&["   ", "\t", "\r", "\x0c"]).as_bytes().to_vec(),
        2 => {
            return r
                .pick(&["[1]", "null", "1", "\"x\"", "{", "}", "{}"])
                .as_bytes()
                .to_vec();
        }
        _ => {}
    }
    let mut keys: Vec<String> = COLS.iter().map(|k| k.to_string()).collect();
    match r.below(12) {
        0 => keys.swap(r.below(7), r.below(7)),
        1 => {
            keys.remove(r.below(7));
        }
        2 => keys.insert(
            r.below(7),
            r.pick(&["extra", "I", "i", "s", "i\\u0000", "\\u0069", "é"])
                .into(),
        ),
        3 => keys.truncate(r.below(3)),
        _ => {}
    }
    let mut out = String::new();
    out.push_str(ws(r));
    out.push('{');
    for (n, k) in keys.iter().enumerate() {
        if n > 0 {
            out.push_str(ws(r));
            out.push(',');
        }
        out.push_str(ws(r));
        out.push_str(&format!("\"{k}\""));
        out.push_str(ws(r));
        out.push(':');
        out.push_str(ws(r));
        let v = if r.below(10) == 0 {
            value(r)
        } else {
            common(r, k)
        };
        out.push_str(&v);
    }
    out.push_str(ws(r));
    out.push('}');
    out.push_str(ws(r));
    if r.below(30) == 0 {
        out.push_str(r.pick(&["x", ",", "}", " {}", "\"", "// c"]));
    }
    let mut bytes = out.into_bytes();
    match r.below(40) {
        0 => bytes.truncate(r.below(bytes.len() + 1)),
        1 => {
            let at = r.below(bytes.len() + 1);
            bytes.insert(at, [0xff, 0xc3, 0x80, 0xe6][r.below(4)]);
        }
        _ => {}
    }
    if r.below(10) == 0 {
        bytes.push(b'\r');
    }
    bytes
}

/// A valid value for column `k` (or a random one for an unknown key).
fn common(r: &mut Rng, k: &str) -> String {
    match k {
        "i" => format!("{}", r.next() % 1_000_000),
        "s" | "u" => format!(
            "\"{}\"",
            r.pick(&["AAPL", "GOOGL", "TRADER_0001", "TRADER_0002", "MSFT"])
        ),
        "f" => format!("{}.{}", r.below(1000), r.below(100)),
        "b" => r.pick(&["true", "false"]).into(),
        "t" => format!("{}", 1_700_000_000_000u64 + r.next() % 1_000_000),
        "ts" => format!("\"2024-03-0{}T12:00:0{}Z\"", 1 + r.below(9), r.below(10)),
        _ => value(r),
    }
}

fn input(seed: u64, lines: usize) -> Vec<u8> {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut out = Vec::new();
    // Well-formed objects name the columns and fill the schema sample (which both modes
    // read on the slow path); the rest is hostile.
    for _ in 0..1000 {
        let cols = COLS
            .iter()
            .map(|k| format!("\"{k}\":{}", common(&mut r, k)));
        out.extend(format!("{{{}}}\n", cols.collect::<Vec<_>>().join(",")).into_bytes());
    }
    for _ in 1000..lines {
        out.extend(line(&mut r));
        out.push(b'\n');
    }
    out
}

/// Everything a read produces: each row's values as text (strings through the
/// dictionary, floats as bits), the counts and the kept malformed examples.
#[derive(Debug, PartialEq)]
struct Outcome {
    rows: Vec<Vec<String>>,
    malformed: u64,
    records_read: u64,
    examples: Vec<(u64, String)>,
}

fn read(
    bytes: &[u8],
    schema: Option<&Schema>,
    reads: Option<Vec<bool>>,
    slow: bool,
) -> (Outcome, u64) {
    let dict = Dict::new();
    let mut r = crate::source::text::TextReader::from_reader(
        Box::new(std::io::Cursor::new(bytes.to_vec())),
        "diff.jsonl",
        crate::sink::Format::JsonLines,
        schema,
        dict.clone(),
        crate::source::text::OnError::Skip,
    )
    .unwrap();
    if let Some(reads) = reads {
        r.set_projection(reads);
    }
    if slow {
        r.force_json_slow_path();
    }
    let mut rows = Vec::new();
    loop {
        let mut b = Batch::new(r.schema(), 64);
        if r.read_block(&mut b, 64).unwrap() == 0 {
            break;
        }
        for row in 0..b.len() {
            rows.push(
                b.columns
                    .iter()
                    .map(|c| match c {
                        Column::Int(v) => v[row].to_string(),
                        Column::Float(v) => format!("{:x}", v[row].to_bits()),
                        Column::Bool(v) => v[row].to_string(),
                        Column::Str(v) if v[row] == NULL_STR => "NULL".into(),
                        Column::Str(v) => format!("'{}'", dict.get(v[row])),
                    })
                    .collect(),
            );
        }
    }
    let examples = r
        .examples
        .iter()
        .map(|m| (m.line, m.reason.clone()))
        .collect();
    (
        Outcome {
            rows,
            malformed: r.malformed,
            records_read: r.records_read,
            examples,
        },
        r.json_fast_lines,
    )
}

fn fixed_schema() -> Schema {
    Schema::new(vec![
        Field::new("i", DataType::Int),
        Field::new("s", DataType::Str),
        Field::new("f", DataType::Float),
        Field::new("b", DataType::Bool),
        Field::new("t", DataType::Timestamp),
        Field::timestamp("ts", EpochUnit::Seconds),
        Field::new("u", DataType::Str),
    ])
}

/// The differential test: hostile JSON lines through the fast path and through the
/// forced slow path give the same rows, counts, lines and reasons, at every projection,
/// with the schema inferred and fixed, over several seeds; the fast path must be taken.
#[test]
fn differential_fast_vs_slow_json_path_over_hostile_lines_seeds_0_to_7_projections_all_none_random()
{
    let fixed = fixed_schema();
    let mut fast_total = 0;
    for seed in 0..8u64 {
        let bytes = input(seed, 4000);
        let mut r = Rng(seed + 99);
        let random: Vec<bool> = (0..7).map(|_| r.below(2) == 0).collect();
        for schema in [None, Some(&fixed)] {
            for reads in [None, Some(vec![false; 7]), Some(random.clone())] {
                let (slow, n) = read(&bytes, schema, reads.clone(), true);
                assert_eq!(n, 0);
                let (fast, n) = read(&bytes, schema, reads.clone(), false);
                fast_total += n;
                assert_eq!(fast.malformed, slow.malformed, "seed {seed} {reads:?}");
                assert_eq!(fast.examples, slow.examples, "seed {seed} {reads:?}");
                assert_eq!(fast.records_read, slow.records_read, "seed {seed}");
                for (k, (a, b)) in fast.rows.iter().zip(&slow.rows).enumerate() {
                    assert_eq!(a, b, "seed {seed} {reads:?} row {k}");
                }
                assert_eq!(fast.rows.len(), slow.rows.len(), "seed {seed}");
                assert!(
                    slow.malformed > 100,
                    "the input is hostile: {}",
                    slow.malformed
                );
            }
        }
    }
    assert!(
        fast_total > 8 * 6 * 1000,
        "the fast path is taken: {fast_total}"
    );
}

/// The kept examples above are only the first few of each input; here each hostile line
/// is read on its own (a chunk parser of one opened input, as parallel parsing does), so
/// every line's outcome and reason is compared.
#[test]
fn differential_fast_vs_slow_json_path_line_by_line_seeds_1_2() {
    for seed in [1u64, 2] {
        let bytes = input(seed, 1000);
        for schema in [None, Some(&fixed_schema())] {
            let opened = crate::source::text::TextReader::from_reader(
                Box::new(std::io::Cursor::new(bytes.clone())),
                "diff.jsonl",
                crate::sink::Format::JsonLines,
                schema,
                Dict::new(),
                crate::source::text::OnError::Skip,
            )
            .unwrap();
            let mut r = Rng(seed);
            let mut fast_lines = 0;
            for k in 0..4000 {
                let mut text = line(&mut r);
                text.push(b'\n');
                let mut outcomes = [true, false].map(|slow| {
                    let mut p = opened.chunk_parser();
                    if slow {
                        p.force_json_slow_path();
                    }
                    p.load_chunk(text.clone(), 7);
                    let mut b = Batch::new(p.schema(), 4);
                    while p.read_block(&mut b, 4).unwrap() > 0 {}
                    let ex: Vec<_> = p
                        .examples
                        .iter()
                        .map(|m| (m.line, m.reason.clone()))
                        .collect();
                    (
                        format!("{b:?}"),
                        p.malformed,
                        p.records_read,
                        ex,
                        p.json_fast_lines,
                    )
                });
                fast_lines += outcomes[1].4;
                outcomes[1].4 = 0;
                assert_eq!(
                    outcomes[0],
                    outcomes[1],
                    "line {k}: {:?}",
                    String::from_utf8_lossy(&text)
                );
            }
            assert!(fast_lines > 1000, "the fast path is taken: {fast_lines}");
        }
    }
}

#[test]
fn digits_in_word_counts_and_reads_the_leading_digits() {
    let mut r = Rng(6);
    for _ in 0..20_000 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = match r.below(5) {
                0 => b"/:a\x00\xff\xfa,}"[r.below(8)],
                _ => b'0' + r.below(10) as u8,
            };
        }
        let n = b.iter().take_while(|d| d.is_ascii_digit()).count();
        let v = b[..n].iter().fold(0u64, |v, d| v * 10 + (d - b'0') as u64);
        assert_eq!(digits_in_word(u64::from_le_bytes(b)), (n, v), "{b:?}");
    }
}

#[test]
fn short_words_tell_short_strings_apart() {
    let xs: [&[u8]; 9] = [
        b"",
        b"a",
        b"ab",
        b"ba",
        b"abc",
        b"abcd",
        b"abcde",
        b"TRADER_0007",
        b"TRADER_0017",
    ];
    for a in xs {
        for b in xs {
            assert_eq!(
                (a.len(), short_words(a)) == (b.len(), short_words(b)),
                a == b
            );
        }
    }
}

#[test]
fn serde_json_reads_long_decimals_as_the_fast_path_does() {
    assert_eq!(max_decimal_digits(), 19);
    for t in [
        "13362.699999999999",
        "0.30000000000000004",
        "3875334047727647.7",
    ] {
        let (int, frac) = t.split_once('.').unwrap();
        let m: u64 = format!("{int}{frac}").parse().unwrap();
        assert_eq!(
            serde_json::from_str::<f64>(t).unwrap(),
            decimal_value(false, m, frac.len())
        );
    }
}

#[test]
fn a_column_name_a_raw_compare_could_mistake_turns_the_fast_path_off() {
    let fields = vec![Field::new("a\"b", DataType::Int)];
    assert!(FastJson::new(&["a\"b".to_string()], &fields, |_| true).is_none());
}
