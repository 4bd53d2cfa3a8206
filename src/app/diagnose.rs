//! Query errors made clearer for the user: a FROM name the generator does not answer to, an
//! unknown column named beside the input's columns, and a type error on a column whose type
//! was inferred, with the sample that decided it and the `--schema` that would fix it.
//!
//! Threading: runs on the main thread, before the run starts.

use super::GENERATOR_STREAM;
use crate::data::Schema;
use crate::error::{Error, Result};
use crate::sql;

/// Without `--input` the query reads the built-in generator, which answers to `market_data`
/// only: another FROM name is a query meant for a file the user forgot to pass. With `--input`
/// the file is the stream, whatever the query calls it.
pub(super) fn check_source_name(
    plan: &sql::Plan,
    has_input: bool,
    sql_text: &str,
    file: &str,
) -> Result<()> {
    if has_input || plan.source_name.eq_ignore_ascii_case(GENERATOR_STREAM) {
        return Ok(());
    }
    let e = crate::error::SqlError::at(
        format!(
            "no --input was given, so the query reads the built-in generator, whose stream is \
             `{GENERATOR_STREAM}`, not `{}`",
            plan.source_name
        ),
        plan.source_span,
    )
    .with_hint(format!(
        "pass --input FILE to read `{}` from a file, or write FROM {GENERATOR_STREAM} for the \
         built-in generator",
        plan.source_name
    ));
    Err(Error::Query(e.render(sql_text, file)))
}

/// A query naming a column the input file lacks (a header without it) gets a note listing
/// the columns the file does have, so the user sees it is the input, not the query, at fault.
pub(super) fn with_input_columns(e: Error, input: Option<&str>, schema: &Schema) -> Error {
    match (e, input) {
        (Error::Query(msg), Some(path)) if msg.starts_with("unknown column") => {
            let cols = schema.names().collect::<Vec<_>>().join(", ");
            Error::Query(format!(
                "{msg}\n = note: --input {path} has the columns: {cols}"
            ))
        }
        (e, _) => e,
    }
}

/// A query error about types that names a column whose type was inferred gets a note saying
/// so, with the sampled text that decided it and the `--schema` that would fix it.
pub(super) fn with_inference_notes(
    e: Error,
    input: Option<&str>,
    schema: &Schema,
    inferred: &[Option<crate::source::text::Inferred>],
) -> Error {
    let (Error::Query(msg), Some(path)) = (&e, input) else {
        return e;
    };
    let first = msg.lines().next().unwrap_or_default();
    let about_types = [
        "VARCHAR",
        "BIGINT",
        "DOUBLE",
        "BOOLEAN",
        "TIMESTAMP",
        "numer",
        "number",
    ]
    .iter()
    .any(|t| first.contains(t));
    if !about_types || first.starts_with("unknown column") {
        return e;
    }
    let words = words_under_caret(msg);
    let mut notes = String::new();
    for (f, how) in schema.fields.iter().zip(inferred) {
        let Some(how) = how else { continue };
        if !words.contains(&f.name.to_ascii_lowercase()) {
            continue;
        }
        let why = match &how.first_text {
            Some((line, text)) => format!(" (line {line} holds `{text}`, which is not a number)"),
            None => String::new(),
        };
        let other = if how.ty == crate::data::DataType::Str {
            "double"
        } else {
            "varchar"
        };
        notes.push_str(&format!(
            "\n = note: `{}` is {} because its type was inferred from the first records of \
             --input {path}{why}; declare its type with --schema {}:{other} (or another type)",
            f.name, how.ty, f.name
        ));
    }
    if notes.is_empty() {
        e
    } else {
        Error::Query(format!("{msg}{notes}"))
    }
}

/// The identifiers a rendered query error's caret points at (lowercased), widened to whole
/// words: `SUM(v)` with the caret under `v` gives `["v"]`.
pub(super) fn words_under_caret(rendered: &str) -> Vec<String> {
    let lines: Vec<&str> = rendered.lines().collect();
    let Some(at) = lines
        .iter()
        .position(|l| l.contains('^') && l.trim_start().starts_with('|'))
    else {
        return Vec::new();
    };
    let (Some(caret), Some(text)) = (lines.get(at), at.checked_sub(1).map(|i| lines[i])) else {
        return Vec::new();
    };
    let chars: Vec<char> = text.chars().collect();
    let Some(from) = caret.find('^') else {
        return Vec::new();
    };
    let to = caret.rfind('^').unwrap_or(from) + 1;
    let word = |c: &char| c.is_alphanumeric() || *c == '_';
    let mut start = from.min(chars.len());
    while start > 0 && word(&chars[start - 1]) {
        start -= 1;
    }
    let mut end = to.min(chars.len());
    while end < chars.len() && word(&chars[end]) {
        end += 1;
    }
    chars[start..end]
        .split(|c| !word(c))
        .filter(|w| !w.is_empty())
        .map(|w| w.iter().collect::<String>().to_ascii_lowercase())
        .collect()
}
