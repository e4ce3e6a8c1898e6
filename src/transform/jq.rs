//! jq, sandboxed: jaq's language with the parts of its standard library
//! that touch nothing outside the program's input.
//!
//! What is left out, and why: `input`/`inputs` (read more input), `env` and
//! `$ENV` (the process's environment: secrets), `now` (the clock: a preview
//! would not show what a delivery sends), `localtime`, `strflocaltime` (the
//! machine's time zone), `debug`, `stderr` (write to the log) and `halt`,
//! `halt_error` (exit the process). A program that names one is refused
//! when it is compiled ("undefined filter"), so at save time. Modules
//! (`import`, `include`) cannot be loaded: jaq's loader refuses them unless
//! it is given a file reader, and it is given none.
//!
//! What this does not bound, because jaq has no fuel or depth limit: time
//! (`repeat`, `def f: f; f`), recursion depth (`def f: 1 + f; f` overflows
//! the stack, which aborts the process) and memory (`[range(1e9)]`). That
//! is why programs run in a child process ([`super::runner`]) that the
//! parent kills at its deadline and whose memory is limited.

use std::fmt::Write as _;

use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{data, Compiler, Ctx, Vars};
use jaq_json::Val;

/// A compiled program.
pub type Program = jaq_core::Filter<data::JustLut<Val>>;

/// The natives left out ([module docs](self)).
const LEFT_OUT: [&str; 10] = [
    "input",
    "inputs",
    "env",
    "now",
    "localtime",
    "strflocaltime",
    "debug_empty",
    "stderr_empty",
    "halt",
    "halt_error",
];

/// The definitions left out with them: they call the natives above.
const LEFT_OUT_DEFS: [&str; 5] = ["debug", "stderr", "halt", "halt_error", "input_line_number"];

fn natives() -> impl Iterator<Item = jaq_core::native::Fun<data::JustLut<Val>>> {
    jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, _, _)| !LEFT_OUT.contains(name))
}

fn definitions() -> impl Iterator<Item = load::parse::Def<&'static str>> {
    jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
        .filter(|d| !LEFT_OUT_DEFS.contains(&d.name))
}

/// Compiles `code`; an error says what is wrong and where (line and
/// column, from 1), e.g. `line 1, column 9: undefined filter foo/0`.
pub fn compile(code: &str) -> Result<Program, String> {
    // Modules are refused by the loader (it has no reader), but data
    // imports (`import "f" as $x`) are not read through it: refuse both.
    if let Ok(tokens) = load::Lexer::new(code).lex() {
        let import = tokens
            .iter()
            .find(|t| matches!(t.1, load::lex::Tok::Word) && matches!(t.0, "import" | "include"));
        if let Some(t) = import {
            return Err(format!(
                "{}: modules and files cannot be imported",
                at(code, t.0)
            ));
        }
    }
    let arena = Arena::default();
    let loader = Loader::new(definitions());
    let modules = loader
        .load(&arena, File { code, path: () })
        .map_err(|errors| {
            let mut out = Vec::new();
            for (_, e) in errors {
                match e {
                    load::Error::Io(io) => {
                        for (path, e) in io {
                            out.push(format!("{}: {path:?}: {e}", at(code, path)));
                        }
                    }
                    load::Error::Lex(lex) => {
                        for (expected, found) in lex {
                            out.push(format!(
                                "{}: expected {}",
                                at(code, found),
                                expected.as_str()
                            ));
                        }
                    }
                    load::Error::Parse(parse) => {
                        for (expected, found) in parse {
                            let shown = match found {
                                "" => "the end of the program".to_string(),
                                f => format!("{:?}", f.chars().take(20).collect::<String>()),
                            };
                            out.push(format!(
                                "{}: expected {}, found {shown}",
                                at(code, found),
                                expected.as_str()
                            ));
                        }
                    }
                }
            }
            out.join("; ")
        })?;
    Compiler::default()
        .with_funs(natives())
        .compile(modules)
        .map_err(|errors| {
            let mut out = Vec::new();
            for (_, undefined) in errors {
                for (name, kind) in undefined {
                    let what = match &kind {
                        jaq_core::compile::Undefined::Filter(arity) => {
                            format!("undefined filter {name}/{arity}")
                        }
                        other => format!("undefined {} {name}", other.as_str()),
                    };
                    out.push(format!("{}: {what}", at(code, name)));
                }
            }
            out.join("; ")
        })
}

/// "line L, column C" of `part` (a slice of `code`); the end of the
/// program when `part` is not inside it.
fn at(code: &str, part: &str) -> String {
    let start = code.as_ptr() as usize;
    let offset = (part.as_ptr() as usize)
        .checked_sub(start)
        .filter(|o| *o <= code.len())
        .unwrap_or(code.len());
    let before = &code[..floor_boundary(code, offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// What a program gave for one input.
#[derive(Debug, PartialEq)]
pub enum Ran {
    One(Val),
    /// No output, or more than one (not counted past two).
    Outputs(usize),
    Error(String),
}

/// Runs `program` on `input`, reading at most two outputs: a program that
/// yields forever (`repeat(1)`) stops at the second.
pub fn run(program: &Program, input: Val) -> Ran {
    let ctx = Ctx::<data::JustLut<Val>>::new(&program.lut, Vars::new([]));
    let mut outputs = program.id.run((ctx, input));
    let first = match outputs.next() {
        None => return Ran::Outputs(0),
        Some(Err(e)) => return Ran::Error(exception(e)),
        Some(Ok(v)) => v,
    };
    match outputs.next() {
        None => Ran::One(first),
        Some(Err(e)) => Ran::Error(exception(e)),
        Some(Ok(_)) => Ran::Outputs(2),
    }
}

fn exception(e: jaq_core::Exn<'_, Val>) -> String {
    match e.get_err() {
        // `error("text")` reads as its text, as in jq.
        Ok(err) => match err.into_val() {
            Val::TStr(b) => String::from_utf8_lossy(&b).into_owned(),
            other => other.to_string(),
        },
        // No `halt` is defined, so there is none to catch.
        Err(_) => "the program halted".to_string(),
    }
}

/// Why a value cannot be sent.
#[derive(Debug, PartialEq)]
pub enum Unsendable {
    /// Longer than this many bytes.
    TooLong(usize),
    /// An object key that is not a string.
    Key(String),
}

/// `v` as JSON text, at most `max` bytes. jq's numbers that JSON has no
/// word for are written as jq writes them: NaN as `null`, infinities as
/// the largest finite number.
pub fn to_json(v: &Val, max: usize) -> Result<String, Unsendable> {
    let mut out = String::new();
    write(v, &mut out, max)?;
    Ok(out)
}

fn write(v: &Val, out: &mut String, max: usize) -> Result<(), Unsendable> {
    match v {
        Val::Null => out.push_str("null"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Num(n) => {
            let text = n.to_string();
            match text.as_str() {
                "NaN" => out.push_str("null"),
                "Infinity" => out.push_str("1.7976931348623157e308"),
                "-Infinity" => out.push_str("-1.7976931348623157e308"),
                _ => out.push_str(&text),
            }
        }
        Val::TStr(b) | Val::BStr(b) => string(&String::from_utf8_lossy(b), out),
        Val::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out, max)?;
            }
            out.push(']');
        }
        Val::Obj(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match k {
                    Val::TStr(b) | Val::BStr(b) => string(&String::from_utf8_lossy(b), out),
                    other => return Err(Unsendable::Key(other.to_string())),
                }
                out.push(':');
                write(item, out, max)?;
            }
            out.push('}');
        }
    }
    match out.len() > max {
        true => Err(Unsendable::TooLong(max)),
        false => Ok(()),
    }
}

fn string(s: &str, out: &mut String) {
    // serde_json's escaping: the same JSON strings as the rest of outbound.
    let _ = write!(out, "{}", serde_json::Value::from(s));
}

/// `v` as headers: an object of strings (a null value leaves its key out),
/// at most `max` bytes of names and values together; else what is wrong.
pub fn to_headers(v: &Val, max: usize) -> Result<Vec<(String, String)>, String> {
    let Val::Obj(map) = v else {
        return Err(format!(
            "must give an object of strings, not {}",
            kind_of(v)
        ));
    };
    let mut out = Vec::with_capacity(map.len());
    let mut size = 0;
    for (k, value) in map.iter() {
        let key = match k {
            Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
            other => return Err(format!("has a key that is not a string: {other}")),
        };
        let text = match value {
            Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
            // A missing value (`.metadata.source` of an event without it)
            // leaves its header out.
            Val::Null => continue,
            other => return Err(format!("must give strings: {key} is {}", kind_of(other))),
        };
        size += key.len() + text.len();
        if size > max {
            return Err(format!("are longer than {max} bytes"));
        }
        out.push((key, text));
    }
    Ok(out)
}

fn kind_of(v: &Val) -> &'static str {
    match v {
        Val::Null => "null",
        Val::Bool(_) => "a boolean",
        Val::Num(_) => "a number",
        Val::TStr(_) | Val::BStr(_) => "a string",
        Val::Arr(_) => "an array",
        Val::Obj(_) => "an object",
    }
}

/// Reads JSON text as a jq value (numbers keep their digits).
pub fn parse_input(text: &[u8]) -> Result<Val, String> {
    jaq_json::read::parse_single(text).map_err(|e| format!("the event is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(code: &str, input: &str) -> Result<String, String> {
        let p = compile(code)?;
        match run(&p, parse_input(input.as_bytes()).unwrap()) {
            Ran::One(v) => to_json(&v, 1 << 20).map_err(|e| format!("{e:?}")),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn a_program_reshapes_its_input() {
        assert_eq!(
            one(
                "{user: .data.name, n: (.data.n + 1)}",
                r#"{"data": {"name": "ann", "n": 1}}"#
            ),
            Ok(r#"{"user":"ann","n":2}"#.into())
        );
        // Key order and the digits of numbers are kept.
        assert_eq!(
            one(
                ".data",
                r#"{"data": {"z": 1.50, "a": 12345678901234567890}}"#
            ),
            Ok(r#"{"z":1.50,"a":12345678901234567890}"#.into())
        );
        assert_eq!(
            one("[.[] | tostring]", r#"[1, "a"]"#),
            Ok(r#"["1","a"]"#.into())
        );
        assert_eq!(one("nan, 1", "null").unwrap_err(), "Outputs(2)");
        assert_eq!(
            one("[nan, infinite]", "null"),
            Ok("[null,1.7976931348623157e308]".into())
        );
        assert_eq!(one(r#""a\"b\n""#, "null"), Ok(r#""a\"b\n""#.into()));
        assert_eq!(one("{(1|tostring): 2}", "null"), Ok(r#"{"1":2}"#.into()));
    }

    #[test]
    fn what_reaches_outside_is_undefined() {
        for code in [
            "env",
            "$ENV",
            "now",
            "input",
            "[inputs]",
            "debug",
            "debug(1)",
            "stderr",
            "halt",
            "halt_error",
            "localtime",
            "strflocaltime(\"%H\")",
            "input_filename",
            "$__prog_args",
        ] {
            let err = compile(code)
                .err()
                .unwrap_or_else(|| panic!("{code} compiled"));
            assert!(err.contains("undefined"), "{code}: {err}");
        }
        let err = compile(r#"include "x"; ."#).err().unwrap();
        assert_eq!(
            err,
            "line 1, column 1: modules and files cannot be imported"
        );
        let err = compile(r#"import "x" as $x; $x"#).err().unwrap();
        assert!(err.contains("cannot be imported"), "{err}");
        let err = compile(r#"import "x" as x; x::f"#).err().unwrap();
        assert!(err.contains("cannot be imported"), "{err}");
        // What stays: the usual library.
        for code in [
            "map(.+1)",
            "to_entries",
            "@base64",
            "test(\"a\")",
            "gmtime | todate",
            "tojson | fromjson",
            "ascii_downcase",
            "limit(2; .[])",
            "getpath([\"a\"])",
            "splits(\",\")",
            "error(\"x\")",
        ] {
            assert!(compile(code).is_ok(), "{code}: {:?}", compile(code).err());
        }
    }

    #[test]
    fn errors_say_where() {
        assert_eq!(
            compile(".a |\n  foo").err().unwrap(),
            "line 2, column 3: undefined filter foo/0"
        );
        let e = compile("{a: }").err().unwrap();
        assert!(e.starts_with("line 1, column 5: expected"), "{e}");
        let e = compile(".a | (").err().unwrap();
        assert!(e.contains("expected closing parenthesis"), "{e}");
        let e = compile(".a |").err().unwrap();
        assert!(e.contains("the end of the program"), "{e}");
    }

    #[test]
    fn outputs_are_counted_up_to_two() {
        let p = compile("repeat(1)").unwrap();
        assert_eq!(run(&p, Val::Null), Ran::Outputs(2));
        let p = compile("empty").unwrap();
        assert_eq!(run(&p, Val::Null), Ran::Outputs(0));
        let p = compile("error(\"bad\")").unwrap();
        assert_eq!(run(&p, Val::Null), Ran::Error("bad".into()));
        let p = compile(".a.b").unwrap();
        assert!(matches!(
            run(&p, parse_input(b"[1]").unwrap()),
            Ran::Error(_)
        ));
    }

    #[test]
    fn output_is_bounded() {
        let p = compile("[range(1000)]").unwrap();
        let Ran::One(v) = run(&p, Val::Null) else {
            panic!()
        };
        assert_eq!(to_json(&v, 100), Err(Unsendable::TooLong(100)));
        assert!(to_json(&v, 10_000).is_ok());
    }

    #[test]
    fn headers_are_an_object_of_strings() {
        let h = |code: &str| {
            let p = compile(code).unwrap();
            let Ran::One(v) = run(&p, Val::Null) else {
                panic!()
            };
            to_headers(&v, 100)
        };
        assert_eq!(
            h(r#"{a: "1", "b-c": "x"}"#),
            Ok(vec![("a".into(), "1".into()), ("b-c".into(), "x".into())])
        );
        assert_eq!(
            h("[1]").unwrap_err(),
            "must give an object of strings, not an array"
        );
        assert_eq!(h("{a: 1}").unwrap_err(), "must give strings: a is a number");
        assert_eq!(
            h(r#"{a: null, b: "x"}"#),
            Ok(vec![("b".into(), "x".into())])
        );
        assert!(h(r#"{a: ("x" * 200)}"#)
            .unwrap_err()
            .contains("longer than 100"));
    }
}
