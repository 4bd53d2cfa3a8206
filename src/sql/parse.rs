//! Parsing: the streaming clauses sqlparser does not know (`WINDOW TUMBLING|HOPPING|SLIDING|
//! SESSION (...)` and `EMIT CHANGES|FINAL`) are lifted out at the token level, keeping every
//! token's location, and the rest is parsed by sqlparser, so errors anywhere in the query still
//! point at the right line and column.

use crate::error::{Pos, SqlError};
use sqlparser::ast::{Query, SetExpr, Statement};
use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Span, Token, TokenWithSpan, Tokenizer};

/// How a windowed query emits (SPEC.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmitMode {
    /// One row per group when its window closes (or at end of input without a window).
    Final,
    /// The group's updated row after every record that changes it.
    Changes,
}

/// The window kinds of the `WINDOW` clause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    Tumbling,
    Hopping,
    Session,
}

/// A lifted `WINDOW kind (time_col, INTERVAL ..., ...)` clause.
#[derive(Clone, Debug)]
pub struct WindowClause {
    pub kind: WindowKind,
    pub time_column: String,
    pub time_column_span: Span,
    /// The intervals in milliseconds, with their spans.
    pub intervals: Vec<(i64, Span)>,
    pub span: Span,
}

/// A parsed query: sqlparser's AST plus the lifted streaming clauses.
#[derive(Debug)]
pub struct ParsedQuery {
    pub query: Box<Query>,
    pub window: Option<WindowClause>,
    pub emit: Option<(EmitMode, Span)>,
    /// `ALLOWED LATENESS INTERVAL ...`: the query's own allowed lateness (ms).
    pub lateness: Option<(i64, Span)>,
}

impl ParsedQuery {
    pub fn select(&self) -> &sqlparser::ast::Select {
        match &*self.query.body {
            SetExpr::Select(s) => s,
            _ => unreachable!("checked in parse"),
        }
    }
}

/// Parses one streaming SELECT statement.
pub fn parse(sql: &str) -> Result<ParsedQuery, SqlError> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| {
            let p = Pos {
                line: e.location.line,
                column: e.location.column,
            };
            SqlError::new(format!("syntax error: {}", e.message), Some((p, p)))
        })?;
    check_size(&tokens, MAX_TOKENS)?;
    let Lifted {
        tokens,
        window,
        emit,
        lateness,
    } = lift_streaming_clauses(tokens)?;
    let marks = Landmarks::of(&tokens, sql);
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let statements = parser
        .parse_statements()
        .map_err(|e| parser_error(e, sql, &marks))?;
    let mut statements = statements.into_iter();
    let stmt = statements.next().ok_or_else(|| {
        SqlError::at("the query file holds no statement", marks.end)
            .with_hint("write one SELECT statement, e.g. SELECT * FROM <stream>")
    })?;
    if statements.next().is_some() {
        return Err(SqlError::at(
            "the query file holds more than one statement",
            marks.second_statement.unwrap_or(marks.first),
        )
        .with_hint("shardsql runs one SELECT per query file"));
    }
    let query = match stmt {
        Statement::Query(q) => q,
        other => {
            let name = other.to_string();
            let word = name.split_whitespace().next().unwrap_or("").to_uppercase();
            return Err(SqlError::at(
                format!("unsupported statement `{word}`: shardsql runs SELECT queries"),
                marks.first,
            )
            .with_hint("write a SELECT ... FROM <stream> query"));
        }
    };
    if let Some(with) = &query.with {
        let span = if with.with_token.0.span.start.line > 0 {
            with.with_token.0.span
        } else {
            marks.first
        };
        return Err(
            SqlError::at("unsupported: WITH (common table expressions)", span)
                .with_hint("write the query as one SELECT ... FROM <stream>"),
        );
    }
    match &*query.body {
        SetExpr::Select(_) => {}
        SetExpr::SetOperation {
            op, set_quantifier, ..
        } => {
            let q = set_quantifier.to_string();
            let what = if q.is_empty() {
                op.to_string()
            } else {
                format!("{op} {q}")
            };
            return Err(SqlError::at(
                format!("unsupported: {what}"),
                marks.set_operation.unwrap_or(marks.first),
            )
            .with_hint(
                "UNION / INTERSECT / EXCEPT are not supported; run each SELECT as its own query",
            ));
        }
        _ => {
            return Err(SqlError::at(
                "unsupported: only a plain SELECT ... FROM ... query is supported",
                marks.first,
            )
            .with_hint("write one SELECT ... FROM <stream>, without parentheses around it"));
        }
    }
    Ok(ParsedQuery {
        query,
        window,
        emit,
        lateness,
    })
}

/// Where some errors found after parsing point: sqlparser's tree does not keep the tokens
/// (UNION, `;`) they are about. Found on the token stream, so never inside a string literal or
/// a comment.
struct Landmarks {
    /// The first token (the statement's keyword), or the start of the text.
    first: Span,
    /// The first UNION / INTERSECT / EXCEPT outside parentheses.
    set_operation: Option<Span>,
    /// The first token after a `;` that ends the first statement.
    second_statement: Option<Span>,
    /// The deepest `(`: where a too deeply nested query is too deep.
    deepest_paren: Option<Span>,
    /// Just past the last character.
    end: Span,
}

impl Landmarks {
    fn of(tokens: &[TokenWithSpan], sql: &str) -> Landmarks {
        let end = {
            let trimmed = sql.trim_end();
            let line = trimmed.lines().count().max(1) as u64;
            let column = trimmed.lines().last().map_or(0, |l| l.chars().count()) as u64 + 1;
            let at = sqlparser::tokenizer::Location::new(line, column);
            Span::new(at, at)
        };
        let sig = || tokens.iter().filter(|t| is_significant(t));
        let first = sig()
            .find(|t| t.token != Token::SemiColon)
            .map_or(end, |t| t.span);
        let mut set_operation = None;
        let mut second_statement = None;
        let mut deepest_paren = None;
        let (mut depth, mut max_depth, mut seen_statement, mut after_semicolon) =
            (0usize, 0usize, false, false);
        for t in sig() {
            match &t.token {
                Token::LParen => {
                    depth += 1;
                    if depth > max_depth {
                        max_depth = depth;
                        deepest_paren = Some(t.span);
                    }
                }
                Token::RParen => depth = depth.saturating_sub(1),
                Token::SemiColon => after_semicolon = seen_statement,
                Token::EOF => {}
                Token::Word(w)
                    if depth == 0
                        && set_operation.is_none()
                        && matches!(
                            w.keyword,
                            Keyword::UNION | Keyword::INTERSECT | Keyword::EXCEPT
                        ) =>
                {
                    set_operation = Some(t.span);
                }
                _ => {}
            }
            if !matches!(t.token, Token::SemiColon | Token::EOF) {
                if after_semicolon && second_statement.is_none() {
                    second_statement = Some(t.span);
                }
                seen_statement = true;
            }
        }
        Landmarks {
            first,
            set_operation,
            second_statement,
            deepest_paren,
            end,
        }
    }
}

/// The most tokens (words, numbers, operators; not spaces or comments) a query may have.
/// sqlparser nests a flat chain such as `a + b + ...` one level per operator and drops and
/// prints that tree by recursion; 4,000,000 tokens (a chain of 2,000,000 terms) stay well
/// inside the planning thread's stack (`sql::COMPILE_STACK`).
pub const MAX_TOKENS: usize = 4_000_000;

/// Refuses a query of more than `max` significant tokens, pointing at the first one too many.
fn check_size(tokens: &[TokenWithSpan], max: usize) -> Result<(), SqlError> {
    match tokens.iter().filter(|t| is_significant(t)).nth(max) {
        Some(t) if t.token != Token::EOF => Err(SqlError::at(
            format!("the query is too large: more than {max} tokens"),
            t.span,
        )
        .with_hint(format!(
            "shardsql plans queries of up to {max} tokens (words, numbers, operators); shorten \
             long lists or chains, e.g. filter on a range instead of listing every value"
        ))),
        _ => Ok(()),
    }
}

/// sqlparser reports positions inside its message ("... at Line: 2, Column: 7").
/// Errors at end of input carry no position: they point just past the last character.
fn parser_error(e: sqlparser::parser::ParserError, sql: &str, marks: &Landmarks) -> SqlError {
    let msg = match e {
        sqlparser::parser::ParserError::TokenizerError(m)
        | sqlparser::parser::ParserError::ParserError(m) => m,
        sqlparser::parser::ParserError::RecursionLimitExceeded => {
            return SqlError::at(
                "the query is nested too deeply: the SQL parser allows at most 50 levels",
                marks.deepest_paren.unwrap_or(marks.first),
            )
            .with_hint("remove redundant parentheses or split the expression");
        }
    };
    let (text, pos) = match msg.rfind(" at Line: ") {
        Some(i) => {
            let tail = &msg[i + " at Line: ".len()..];
            let mut parts = tail.split(", Column: ");
            let line = parts.next().and_then(|l| l.trim().parse().ok());
            let column = parts.next().and_then(|c| c.trim().parse().ok());
            match (line, column) {
                (Some(line), Some(column)) => {
                    let p = Pos { line, column };
                    (msg[..i].to_string(), Some((p, p)))
                }
                _ => (msg.clone(), None),
            }
        }
        None => (msg.clone(), None),
    };
    let pos = pos.or_else(|| {
        let trimmed = sql.trim_end();
        let line = trimmed.lines().count().max(1) as u64;
        let column = trimmed.lines().last().map_or(0, |l| l.chars().count()) as u64 + 1;
        let p = Pos { line, column };
        Some((p, p))
    });
    SqlError::new(format!("syntax error: {text}"), pos)
        .with_hint("check the SQL near the marked position")
}

struct Lifted {
    tokens: Vec<TokenWithSpan>,
    window: Option<WindowClause>,
    emit: Option<(EmitMode, Span)>,
    lateness: Option<(i64, Span)>,
}

/// Removes `WINDOW <kind> (...)`, `EMIT CHANGES|FINAL` and `ALLOWED LATENESS INTERVAL ...`
/// from the token stream.
fn lift_streaming_clauses(tokens: Vec<TokenWithSpan>) -> Result<Lifted, SqlError> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut window = None;
    let mut emit = None;
    let mut lateness = None;
    let mut i = 0;
    while i < tokens.len() {
        if is_word(&tokens[i], "ALLOWED")
            && let Some(k) = next_significant(&tokens, i + 1)
            && is_word(&tokens[k], "LATENESS")
        {
            let hint = "write ALLOWED LATENESS INTERVAL '5' SECOND";
            if lateness.is_some() {
                return Err(SqlError::at(
                    "a query may have one ALLOWED LATENESS clause",
                    tokens[i].span,
                ));
            }
            let sig: Vec<usize> = (k + 1..tokens.len())
                .filter(|&j| is_significant(&tokens[j]))
                .collect();
            let (ms, span, next) = parse_interval(&tokens, &sig, 0).map_err(|t| {
                SqlError::at(
                    "ALLOWED LATENESS needs an INTERVAL 'n' unit",
                    t.map_or(tokens[k].span, |j| tokens[j].span),
                )
                .with_hint(hint)
            })?;
            if ms < 0 {
                return Err(
                    SqlError::at("the allowed lateness cannot be negative", span).with_hint(hint),
                );
            }
            lateness = Some((ms, tokens[i].span.union(&span)));
            i = sig.get(next).copied().unwrap_or(tokens.len());
            continue;
        }
        if is_word(&tokens[i], "WINDOW")
            && let Some(k) = next_significant(&tokens, i + 1)
            && let Some(kind) = window_kind(&tokens[k])
        {
            if window.is_some() {
                return Err(SqlError::at(
                    "a query may have one WINDOW clause",
                    tokens[i].span,
                ));
            }
            let (clause, end) = parse_window(&tokens, i, k, kind)?;
            window = Some(clause);
            i = end;
            continue;
        }
        if is_word(&tokens[i], "EMIT") {
            let Some(k) = next_significant(&tokens, i + 1) else {
                return Err(SqlError::at("EMIT needs CHANGES or FINAL", tokens[i].span)
                    .with_hint("write EMIT CHANGES or EMIT FINAL"));
            };
            let mode = if is_word(&tokens[k], "CHANGES") {
                EmitMode::Changes
            } else if is_word(&tokens[k], "FINAL") {
                EmitMode::Final
            } else {
                return Err(SqlError::at(
                    format!("EMIT needs CHANGES or FINAL, found `{}`", tokens[k].token),
                    tokens[k].span,
                )
                .with_hint("write EMIT CHANGES or EMIT FINAL"));
            };
            if emit.is_some() {
                return Err(SqlError::at(
                    "a query may have one EMIT clause",
                    tokens[i].span,
                ));
            }
            emit = Some((mode, tokens[i].span.union(&tokens[k].span)));
            i = k + 1;
            continue;
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    Ok(Lifted {
        tokens: out,
        window,
        emit,
        lateness,
    })
}

fn is_word(t: &TokenWithSpan, w: &str) -> bool {
    matches!(&t.token, Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w))
}

fn is_significant(t: &TokenWithSpan) -> bool {
    !matches!(t.token, Token::Whitespace(_))
}

fn next_significant(tokens: &[TokenWithSpan], from: usize) -> Option<usize> {
    (from..tokens.len()).find(|&j| is_significant(&tokens[j]))
}

fn window_kind(t: &TokenWithSpan) -> Option<WindowKind> {
    if is_word(t, "TUMBLING") {
        Some(WindowKind::Tumbling)
    } else if is_word(t, "HOPPING") || is_word(t, "SLIDING") {
        Some(WindowKind::Hopping)
    } else if is_word(t, "SESSION") {
        Some(WindowKind::Session)
    } else {
        None
    }
}

/// Parses `WINDOW kind ( col , INTERVAL n unit [, INTERVAL n unit] )` starting at `start`
/// (the WINDOW token); `k` is the kind token. Returns the clause and the index after `)`.
fn parse_window(
    tokens: &[TokenWithSpan],
    start: usize,
    k: usize,
    kind: WindowKind,
) -> Result<(WindowClause, usize), SqlError> {
    let sig: Vec<usize> = (k + 1..tokens.len())
        .filter(|&j| is_significant(&tokens[j]))
        .collect();
    let mut p = 0;
    let at = |p: usize| sig.get(p).map(|&j| &tokens[j]);
    // The usage names the user's own time column when the clause has one.
    let col = match at(1).map(|t| &t.token) {
        Some(Token::Word(w)) if w.keyword != Keyword::INTERVAL => w.value.clone(),
        _ => "<time column>".to_string(),
    };
    let usage = match kind {
        WindowKind::Tumbling => format!("WINDOW TUMBLING ({col}, INTERVAL '1' MINUTE)"),
        WindowKind::Hopping => {
            format!("WINDOW HOPPING ({col}, INTERVAL '5' MINUTE, INTERVAL '1' MINUTE)")
        }
        WindowKind::Session => format!("WINDOW SESSION ({col}, INTERVAL '30' SECOND)"),
    };
    let fail = |t: Option<&TokenWithSpan>, what: &str| {
        let span = t.map_or(tokens[k].span, |t| t.span);
        SqlError::at(format!("malformed WINDOW clause: {what}"), span)
            .with_hint(format!("write it as {usage}"))
    };
    if !matches!(at(p).map(|t| &t.token), Some(Token::LParen)) {
        return Err(fail(at(p), "expected `(` after the window kind"));
    }
    p += 1;
    let (time_column, time_column_span) = match at(p) {
        Some(TokenWithSpan {
            token: Token::Word(w),
            span,
        }) if w.keyword != Keyword::INTERVAL => (w.value.clone(), *span),
        t => return Err(fail(t, "expected the time column first")),
    };
    p += 1;
    if matches!(at(p).map(|t| &t.token), Some(Token::LParen))
        || time_column.eq_ignore_ascii_case("CURRENT_TIMESTAMP")
    {
        return Err(SqlError::at(
            format!(
                "a window's time column must be an input column, not `{time_column}(…)`{}",
                if is_processing_time(&time_column) {
                    ": it is processing time (the clock when a batch is evaluated), and a \
                     window needs the event time each record carries"
                } else {
                    ""
                }
            ),
            time_column_span,
        )
        .with_hint(format!(
            "name the input's TIMESTAMP column, e.g. {}",
            usage.replace(&col, "ts")
        )));
    }
    let mut intervals = Vec::new();
    loop {
        match at(p).map(|t| &t.token) {
            Some(Token::Comma) => p += 1,
            Some(Token::RParen) => break,
            _ => return Err(fail(at(p), "expected `,` or `)`")),
        }
        let (ms, span, next) = parse_interval(tokens, &sig, p)
            .map_err(|t| fail(t.map(|j| &tokens[j]), "expected INTERVAL 'n' unit"))?;
        intervals.push((ms, span));
        p = next;
    }
    let close = sig[p];
    let expected = if kind == WindowKind::Hopping { 2 } else { 1 };
    if intervals.len() != expected {
        return Err(SqlError::at(
            format!(
                "malformed WINDOW clause: {} takes {expected} interval(s), found {}",
                format!("{kind:?}").to_uppercase(),
                intervals.len()
            ),
            tokens[start].span.union(&tokens[close].span),
        )
        .with_hint(format!("write it as {usage}")));
    }
    for &(ms, span) in &intervals {
        if ms <= 0 {
            return Err(SqlError::at("window intervals must be positive", span)
                .with_hint(format!("write it as {usage}")));
        }
    }
    Ok((
        WindowClause {
            kind,
            time_column,
            time_column_span,
            intervals,
            span: tokens[start].span.union(&tokens[close].span),
        },
        close + 1,
    ))
}

/// `NOW` / `CURRENT_TIMESTAMP`: the clock, not a record's time.
pub fn is_processing_time(name: &str) -> bool {
    name.eq_ignore_ascii_case("NOW") || name.eq_ignore_ascii_case("CURRENT_TIMESTAMP")
}

/// Parses `INTERVAL 'n' unit`, `INTERVAL n unit` or `INTERVAL 'n unit'` at `sig[p]`.
/// Returns milliseconds, the span, and the next significant position; on failure the token
/// index that was wrong.
fn parse_interval(
    tokens: &[TokenWithSpan],
    sig: &[usize],
    p: usize,
) -> Result<(i64, Span, usize), Option<usize>> {
    let tok = |p: usize| sig.get(p).map(|&j| &tokens[j]);
    let first = tok(p).ok_or(None)?;
    if !is_word(first, "INTERVAL") {
        return Err(sig.get(p).copied());
    }
    let (amount_text, mut unit_text, mut q) = match tok(p + 1).map(|t| &t.token) {
        Some(Token::SingleQuotedString(s)) => {
            let mut parts = s.split_whitespace();
            let n = parts.next().unwrap_or("").to_string();
            (n, parts.next().map(str::to_string), p + 2)
        }
        Some(Token::Number(n, _)) => (n.clone(), None, p + 2),
        _ => return Err(sig.get(p + 1).copied()),
    };
    if unit_text.is_none() {
        match tok(q).map(|t| &t.token) {
            Some(Token::Word(w)) => {
                unit_text = Some(w.value.clone());
                q += 1;
            }
            _ => return Err(sig.get(q).copied()),
        }
    }
    let amount: i64 = amount_text.parse().map_err(|_| sig.get(p + 1).copied())?;
    let unit_ms = unit_millis(unit_text.as_deref().unwrap_or("")).ok_or(sig.get(q - 1).copied())?;
    let ms = amount.checked_mul(unit_ms).ok_or(sig.get(p + 1).copied())?;
    let span = first.span.union(&tokens[sig[q - 1]].span);
    Ok((ms, span, q))
}

/// Milliseconds in one `unit` (singular or plural, any case).
pub fn unit_millis(unit: &str) -> Option<i64> {
    Some(match unit.to_ascii_uppercase().trim_end_matches('S') {
        "MILLISECOND" | "M" => 1,
        "SECOND" | "" => 1_000,
        "MINUTE" | "MIN" => 60_000,
        "HOUR" | "H" => 3_600_000,
        "DAY" | "D" => 86_400_000,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifts_window_and_emit_from_the_seed_query() {
        let q = parse(
            "SELECT trader_id, COUNT(*) FROM market_data GROUP BY trader_id \
             WINDOW TUMBLING (trade_time, INTERVAL '1' MINUTE) EMIT CHANGES",
        )
        .unwrap();
        let w = q.window.unwrap();
        assert_eq!(w.kind, WindowKind::Tumbling);
        assert_eq!(w.time_column, "trade_time");
        assert_eq!(w.intervals[0].0, 60_000);
        assert_eq!(q.emit.unwrap().0, EmitMode::Changes);
    }

    #[test]
    fn hopping_takes_two_intervals_and_sliding_is_an_alias() {
        let q = parse(
            "SELECT COUNT(*) FROM t WINDOW SLIDING (ts, INTERVAL 10 SECONDS, INTERVAL '5 seconds')",
        )
        .unwrap();
        let w = q.window.unwrap();
        assert_eq!(w.kind, WindowKind::Hopping);
        assert_eq!(
            w.intervals.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![10_000, 5_000]
        );
    }

    #[test]
    fn errors_point_at_the_right_line() {
        let e = parse(
            "SELECT *\nFROM market_data\nWINDOW TUMBLING (trade_time, INTERVAL '1' FORTNIGHT)",
        )
        .unwrap_err();
        assert_eq!(e.span.unwrap().0.line, 3);
        let e = parse("SELECT a\n  FROM t WHERE (").unwrap_err();
        assert!(e.message.starts_with("syntax error"), "{}", e.message);
        assert_eq!(e.span.unwrap().0.line, 2);
    }

    #[test]
    fn queries_beyond_the_token_limit_are_refused_at_the_first_token_too_many() {
        let sql = "SELECT a\n  FROM t WHERE a IN (1, 2)";
        let tokens = Tokenizer::new(&GenericDialect {}, sql)
            .tokenize_with_location()
            .unwrap();
        // SELECT a FROM t WHERE a IN ( 1 , 2 ): 12 tokens.
        assert!(check_size(&tokens, 12).is_ok());
        let e = check_size(&tokens, 10).unwrap_err();
        assert_eq!(e.message, "the query is too large: more than 10 tokens");
        let (start, _) = e.span.unwrap();
        assert_eq!((start.line, start.column), (2, 25), "the 11th token, `2`");
    }

    #[test]
    fn emit_needs_a_mode() {
        let e = parse("SELECT * FROM t EMIT SOMETIMES").unwrap_err();
        assert!(e.message.contains("CHANGES or FINAL"));
    }
}
