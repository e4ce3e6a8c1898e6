//! The signature templates of the Outpost scheme: what is signed
//! (`DESTINATIONS_WEBHOOK_SIGNATURE_CONTENT_TEMPLATE`) and the signature
//! header's value (`DESTINATIONS_WEBHOOK_SIGNATURE_HEADER_TEMPLATE`).
//!
//! Two syntaxes, told apart by `{{`:
//!
//! - **Outpost's** (Go `text/template`), the subset Outpost documents and
//!   uses: the fields `{{.Body}}`, `{{.EventID}}`, `{{.Topic}}`,
//!   `{{.Timestamp.Unix}}` (and `.Timestamp.UnixMilli`), and
//!   `{{.Signatures | join "<sep>"}}` (or `{{join "<sep>" .Signatures}}`),
//!   with Go's `{{-`/`-}}` whitespace trimming and `{{/* comments */}}`.
//!   Anything else Go would accept (other fields, other functions, `if`,
//!   `range`, variables) is refused with the action it is in: outbound
//!   cannot promise to render it as Outpost does.
//! - **outbound's earlier one**, kept for existing deployments:
//!   `{body}`, `{timestamp}`, `{event_id}`, `{topic}`, `{signatures}` (the
//!   comma-joined list). A template with no `{{` is read this way; `{{`
//!   was always an error in it, so no template changes meaning.
//!
//! Both parse to the same [`Part`]s, once at start-up, so rendering cannot
//! fail and a mistake is a start-up error.

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    Body,
    EventId,
    Topic,
    /// Unix time of the attempt, in seconds.
    UnixSeconds,
    /// Unix time of the attempt, in milliseconds.
    UnixMillis,
    /// The signatures, newest secret first, joined with this separator.
    Signatures(String),
}

/// Which template: the fields each may use differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// What is signed: everything but the signatures.
    Content,
    /// The header's value: everything but the body.
    Header,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{0}}} (known: {{body}}, {{timestamp}}, {{event_id}}, {{topic}}, {{signatures}})")]
    UnknownPlaceholder(String),
    #[error("`{{` at byte {0} is never closed")]
    Unclosed(usize),
    #[error("`{{{{` at byte {0} is never closed by `}}}}`")]
    UnclosedAction(usize),
    #[error("{{{{{action}}}}} is not supported: {why}")]
    Unsupported { action: String, why: String },
    #[error("{0} is not available in this template: {1}")]
    NotHere(&'static str, &'static str),
}

/// Parses `source` as the `which` template, in whichever syntax it is.
pub fn parse(source: &str, which: Which) -> Result<Vec<Part>, TemplateError> {
    let parts = if source.contains("{{") {
        parse_go(source)?
    } else {
        parse_braces(source)?
    };
    for part in &parts {
        match (which, part) {
            (Which::Content, Part::Signatures(_)) => {
                return Err(TemplateError::NotHere(
                    ".Signatures",
                    "the signed content cannot contain the signatures",
                ))
            }
            (Which::Header, Part::Body) => {
                return Err(TemplateError::NotHere(
                    ".Body",
                    "the body does not belong in a header",
                ))
            }
            _ => {}
        }
    }
    Ok(parts)
}

/// outbound's earlier syntax: a `{` always opens a placeholder (no escape:
/// none of the formats in use needs a literal brace); a lone `}` is literal.
fn parse_braces(source: &str) -> Result<Vec<Part>, TemplateError> {
    let mut parts = Vec::new();
    let mut rest = source;
    let mut offset = 0;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Literal(rest[..open].to_owned()));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or(TemplateError::Unclosed(offset + open))?;
        let name = &after[..close];
        parts.push(match name {
            "body" => Part::Body,
            "timestamp" => Part::UnixSeconds,
            "event_id" => Part::EventId,
            "topic" => Part::Topic,
            "signatures" => Part::Signatures(",".to_owned()),
            _ => return Err(TemplateError::UnknownPlaceholder(name.to_owned())),
        });
        let consumed = open + 1 + close + 1;
        offset += consumed;
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_owned()));
    }
    Ok(parts)
}

/// Go `text/template`'s syntax, Outpost's subset of it.
fn parse_go(source: &str) -> Result<Vec<Part>, TemplateError> {
    let mut parts: Vec<Part> = Vec::new();
    let mut rest = source;
    let mut offset = 0;
    let mut trim_next = false;
    while let Some(open) = rest.find("{{") {
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start();
        }
        let inner_start = open + 2;
        let close = rest[inner_start..]
            .find("}}")
            .ok_or(TemplateError::UnclosedAction(offset + open))?;
        let mut inner = &rest[inner_start..inner_start + close];
        // `{{- ` and ` -}}` trim the white space around the action (Go
        // wants white space after or before the dash, so that `{{-3}}`
        // stays the number -3).
        if let Some(stripped) = inner
            .strip_prefix('-')
            .filter(|rest| rest.starts_with(is_go_space))
        {
            text = text.trim_end();
            inner = stripped;
        }
        trim_next = false;
        if let Some(stripped) = inner
            .strip_suffix('-')
            .filter(|rest| rest.ends_with(is_go_space))
        {
            trim_next = true;
            inner = stripped;
        }
        if !text.is_empty() {
            parts.push(Part::Literal(text.to_owned()));
        }
        if let Some(part) = action(inner.trim())? {
            parts.push(part);
        }
        let consumed = inner_start + close + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        parts.push(Part::Literal(text.to_owned()));
    }
    // Adjacent literals (around a comment) are one.
    let mut merged: Vec<Part> = Vec::with_capacity(parts.len());
    for part in parts {
        match (merged.last_mut(), part) {
            (Some(Part::Literal(a)), Part::Literal(b)) => a.push_str(&b),
            (_, part) => merged.push(part),
        }
    }
    Ok(merged)
}

/// The white space Go's trim markers go with.
fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// One action's pipeline; `None` for a comment.
fn action(inner: &str) -> Result<Option<Part>, TemplateError> {
    if inner.starts_with("/*") && inner.ends_with("*/") {
        return Ok(None);
    }
    let unsupported = |why: &str| TemplateError::Unsupported {
        action: inner.to_owned(),
        why: why.to_owned(),
    };
    let tokens = tokens(inner).map_err(|why| unsupported(&why))?;
    let words: Vec<&Token> = tokens.iter().collect();
    let part = match words.as_slice() {
        [Token::Field(f)] => match f.as_str() {
            ".Body" => Part::Body,
            ".EventID" => Part::EventId,
            ".Topic" => Part::Topic,
            ".Timestamp.Unix" => Part::UnixSeconds,
            ".Timestamp.UnixMilli" => Part::UnixMillis,
            ".Timestamp" => {
                return Err(unsupported(
                    "Go prints a time in its own layout; use .Timestamp.Unix",
                ))
            }
            ".Signatures" => {
                return Err(unsupported(
                    "Go prints a list as [a b]; use .Signatures | join \",\"",
                ))
            }
            _ => {
                return Err(unsupported(
                    "the fields are .Body, .EventID, .Topic, .Timestamp.Unix, \
                     .Timestamp.UnixMilli and .Signatures",
                ))
            }
        },
        [Token::Field(f), Token::Pipe, Token::Word(join), Token::Text(sep)]
        | [Token::Word(join), Token::Text(sep), Token::Field(f)]
            if f == ".Signatures" && join == "join" =>
        {
            Part::Signatures(sep.clone())
        }
        _ => {
            return Err(unsupported(
                "outbound renders Outpost's fields and `.Signatures | join \"<sep>\"` only \
                 (no other functions, conditions, loops or variables)",
            ))
        }
    };
    Ok(Some(part))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// `.A.B`: a field chain.
    Field(String),
    /// A bare word: a function name, a keyword, a variable.
    Word(String),
    /// A quoted string, unescaped.
    Text(String),
    Pipe,
}

/// Splits an action into tokens; the error says what could not be read.
fn tokens(inner: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = inner.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '|' => {
                chars.next();
                out.push(Token::Pipe);
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err("a string is never closed".into()),
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => text.push('\n'),
                            Some((_, 't')) => text.push('\t'),
                            Some((_, c @ ('"' | '\\'))) => text.push(c),
                            _ => {
                                return Err(
                                    "a string has an escape other than \\\" \\\\ \\n \\t".into()
                                )
                            }
                        },
                        Some((_, c)) => text.push(c),
                    }
                }
                out.push(Token::Text(text));
            }
            '`' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err("a raw string is never closed".into()),
                        Some((_, '`')) => break,
                        Some((_, c)) => text.push(c),
                    }
                }
                out.push(Token::Text(text));
            }
            _ => {
                let end = inner[at..]
                    .find(|c: char| c.is_whitespace() || matches!(c, '|' | '"' | '`'))
                    .map_or(inner.len(), |n| at + n);
                let word = &inner[at..end];
                while chars.peek().is_some_and(|&(i, _)| i < end) {
                    chars.next();
                }
                out.push(if word.starts_with('.') {
                    Token::Field(word.to_owned())
                } else {
                    Token::Word(word.to_owned())
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Part {
        Part::Literal(s.to_owned())
    }

    #[test]
    fn outposts_documented_templates() {
        assert_eq!(parse("{{.Body}}", Which::Content), Ok(vec![Part::Body]));
        assert_eq!(
            parse("{{.Timestamp.Unix}}.{{.Body}}", Which::Content),
            Ok(vec![Part::UnixSeconds, lit("."), Part::Body])
        );
        assert_eq!(
            parse(r#"v0={{.Signatures | join ","}}"#, Which::Header),
            Ok(vec![lit("v0="), Part::Signatures(",".into())])
        );
        assert_eq!(
            parse(
                r#"t={{.Timestamp.Unix}},v0={{.Signatures | join ","}}"#,
                Which::Header
            ),
            Ok(vec![
                lit("t="),
                Part::UnixSeconds,
                lit(",v0="),
                Part::Signatures(",".into())
            ])
        );
    }

    #[test]
    fn go_forms_of_the_same_thing() {
        let expected = Ok(vec![lit("s="), Part::Signatures(" ".into())]);
        for t in [
            r#"s={{.Signatures | join " "}}"#,
            r#"s={{ .Signatures|join " " }}"#,
            r#"s={{join " " .Signatures}}"#,
            "s={{.Signatures | join ` `}}",
            r#"s={{/* a comment */}}{{.Signatures | join " "}}"#,
            "s=  {{- .Signatures | join \" \" -}}  \n",
            "s=\n{{-\t.Signatures | join \" \"\n-}}\n",
        ] {
            assert_eq!(parse(t, Which::Header), expected, "{t}");
        }
        assert_eq!(
            parse(
                "{{.EventID}}:{{.Topic}}:{{.Timestamp.UnixMilli}}:{{.Body}}",
                Which::Content
            ),
            Ok(vec![
                Part::EventId,
                lit(":"),
                Part::Topic,
                lit(":"),
                Part::UnixMillis,
                lit(":"),
                Part::Body
            ])
        );
        assert_eq!(
            parse(r#"{{.Signatures | join "\"\\\n"}}"#, Which::Header),
            Ok(vec![Part::Signatures("\"\\\n".into())])
        );
    }

    #[test]
    fn outbounds_earlier_syntax_still_parses() {
        assert_eq!(
            parse("{timestamp}.{body}", Which::Content),
            Ok(vec![Part::UnixSeconds, lit("."), Part::Body])
        );
        assert_eq!(
            parse("t={timestamp},v0={signatures}}", Which::Header),
            Ok(vec![
                lit("t="),
                Part::UnixSeconds,
                lit(",v0="),
                Part::Signatures(",".into()),
                lit("}")
            ])
        );
    }

    #[test]
    fn what_is_refused_and_why() {
        let cases = [
            ("{{.Body", Which::Content, "never closed by `}}`"),
            ("{{.Timestamp}}", Which::Content, "use .Timestamp.Unix"),
            ("{{.Signatures}}", Which::Header, "join"),
            (
                "{{.Signatures | join \",\"}}",
                Which::Content,
                ".Signatures is not available",
            ),
            ("{{.Body}}", Which::Header, ".Body is not available"),
            (
                "{{.Payload}}",
                Which::Content,
                "{{.Payload}} is not supported: the fields are",
            ),
            (
                "{{.Timestamp.Format \"2006\"}}",
                Which::Content,
                "not supported",
            ),
            (
                "{{.Signatures | join \",\" | upper}}",
                Which::Header,
                "no other functions",
            ),
            (
                "{{if .Body}}x{{end}}",
                Which::Content,
                "{{if .Body}} is not supported",
            ),
            ("{{$x := .Body}}", Which::Content, "not supported"),
            ("{{.Signatures | join \",}}", Which::Header, "never closed"),
            ("{{.Signatures | join \"\\x\"}}", Which::Header, "escape"),
            ("{bdy}", Which::Content, "unknown placeholder {bdy}"),
            ("{body", Which::Content, "never closed"),
            (
                "{signatures}",
                Which::Content,
                ".Signatures is not available",
            ),
        ];
        for (source, which, message) in cases {
            let err = parse(source, which).unwrap_err().to_string();
            assert!(err.contains(message), "{source}: {err}");
        }
    }
}
