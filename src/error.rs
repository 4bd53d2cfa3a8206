//! The crate error, its variants sorted by whose fault it is. Nothing on the hot path builds
//! one: errors are found while planning, reading input, or starting the runtime.

use std::fmt;

/// Everything that can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query is malformed or unsupported (the user's fault). Already rendered with the
    /// query line and a caret.
    #[error("{0}")]
    Query(String),
    /// A flag or flag combination is wrong (the user's fault).
    #[error("{0}")]
    Usage(String),
    /// The input data is wrong and `--on-error fail` asked to stop (the user's fault).
    #[error("{0}")]
    Input(String),
    /// A file could not be read or written (the environment's fault).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A Kafka broker could not be reached, refused a request or did not acknowledge a
    /// message (the environment's fault), with the broker's or librdkafka's message.
    #[error("{0}")]
    Kafka(String),
    /// The runtime could not start (the environment's fault), with how to fix it.
    #[error("{0}")]
    Runtime(String),
    /// The run was stopped by a signal after emitting the results of what it had read (the
    /// user's request): exit with the status it carries (128 + the signal).
    #[error("{message}")]
    Interrupted { message: String, status: i32 },
    /// A bug in shardsql: no input or query may trigger it.
    #[error("internal error (a bug in shardsql): {0}")]
    Internal(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A position in the query text, 1-based, as sqlparser reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

/// A query error with the span it points at and a hint; rendered against the query text.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlError {
    pub message: String,
    /// Start and (inclusive) end of the offending text; `None` when no position is known.
    pub span: Option<(Pos, Pos)>,
    pub hint: Option<String>,
}

impl SqlError {
    pub fn new(message: impl Into<String>, span: Option<(Pos, Pos)>) -> SqlError {
        SqlError {
            message: message.into(),
            span,
            hint: None,
        }
    }

    pub fn at(message: impl Into<String>, span: sqlparser::tokenizer::Span) -> SqlError {
        SqlError::new(message, pos_of(span))
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> SqlError {
        self.hint = Some(hint.into());
        self
    }

    /// Renders `error: ...`, ` --> file:line:col`, the query line with a caret, and the hint.
    pub fn render(&self, sql: &str, file: &str) -> String {
        let mut out = self.message.clone();
        if let Some((start, end)) = self.span {
            out.push_str(&format!("\n --> {file}:{}:{}", start.line, start.column));
            // An empty file, or a position just past the end: a caret under nothing.
            let text = sql.lines().nth(start.line.saturating_sub(1) as usize);
            if let Some(text) = text.or((start.line <= 1).then_some("")) {
                let gutter = start.line.to_string();
                let pad = " ".repeat(gutter.len());
                let col = start.column.max(1) as usize;
                let width = if end.line == start.line && end.column >= start.column {
                    (end.column - start.column + 1) as usize
                } else {
                    1
                };
                let lead: String = text
                    .chars()
                    .take(col - 1)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                out.push_str(&format!(
                    "\n{pad} |\n{gutter} | {text}\n{pad} | {lead}{}",
                    "^".repeat(width.clamp(1, 200))
                ));
            }
        } else {
            out.push_str(&format!("\n --> {file}"));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("\n = hint: {hint}"));
        }
        out
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Converts a sqlparser span (0 = unknown) to positions.
pub fn pos_of(span: sqlparser::tokenizer::Span) -> Option<(Pos, Pos)> {
    if span.start.line == 0 {
        return None;
    }
    Some((
        Pos {
            line: span.start.line,
            column: span.start.column,
        },
        Pos {
            line: span.end.line,
            column: span.end.column.saturating_sub(1).max(span.start.column),
        },
    ))
}
