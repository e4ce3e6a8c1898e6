//! The documentation's own checks: README.md stays short, and every
//! relative link in README.md and docs/ points at a file or folder that
//! exists (and, for `#fragment`s into Markdown files, at a heading that
//! exists). Standard library only.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

const README_MAX_LINES: usize = 250;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every `.md` file under docs/, sorted.
fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut files = vec![root().join("README.md")];
    walk(&root().join("docs"), &mut files);
    files.sort();
    files
}

/// A line's text with inline code spans blanked out, so that a
/// `[x](y)` shown as code is not taken for a link.
fn without_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '`' {
            let mut run = 0;
            while i + run < chars.len() && chars[i + run] == '`' {
                run += 1;
            }
            // Find the closing run of the same length.
            let mut j = i + run;
            let mut close = None;
            while j < chars.len() {
                if chars[j] == '`' {
                    let mut r = 0;
                    while j + r < chars.len() && chars[j + r] == '`' {
                        r += 1;
                    }
                    if r == run {
                        close = Some(j);
                        break;
                    }
                    j += r;
                } else {
                    j += 1;
                }
            }
            match close {
                Some(j) => {
                    out.extend(std::iter::repeat_n(' ', j + run - i));
                    i = j + run;
                }
                None => {
                    out.extend(&chars[i..i + run]);
                    i += run;
                }
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The lines of a Markdown file outside fenced code blocks, with their
/// 1-based numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        if let Some(c) = marker {
            let run = trimmed.chars().take_while(|x| *x == c).count();
            if run >= 3 {
                match fence {
                    None => {
                        fence = Some((c, run));
                        continue;
                    }
                    Some((fc, frun))
                        if fc == c && run >= frun && trimmed[run..].trim().is_empty() =>
                    {
                        fence = None;
                        continue;
                    }
                    _ => {}
                }
            }
        }
        if fence.is_none() {
            out.push((n + 1, line));
        }
    }
    out
}

/// Every inline link or image target on a line: `[text](target)`,
/// `![alt](target)`, including links nested in a link's text.
fn inline_link_targets(line: &str) -> Vec<String> {
    let chars: Vec<char> = without_code_spans(line).chars().collect();
    let mut targets = Vec::new();
    for start in 0..chars.len() {
        if chars[start] != '[' || (start > 0 && chars[start - 1] == '\\') {
            continue;
        }
        // The matching `]`.
        let mut depth = 0;
        let mut close = None;
        for (k, c) in chars.iter().enumerate().skip(start) {
            match c {
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(k);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(close) = close else { continue };
        if chars.get(close + 1) != Some(&'(') {
            continue;
        }
        // The matching `)`.
        let mut depth = 0;
        let mut end = None;
        for (k, c) in chars.iter().enumerate().skip(close + 1) {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(k);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { continue };
        let inner: String = chars[close + 2..end].iter().collect();
        let inner = inner.trim();
        // `<target with spaces>` or `target "title"`.
        let target = if let Some(rest) = inner.strip_prefix('<') {
            rest.split('>').next().unwrap_or("").to_string()
        } else {
            inner.split_whitespace().next().unwrap_or("").to_string()
        };
        targets.push(target);
    }
    targets
}

/// A reference definition's target: `[label]: target`.
fn reference_target(line: &str) -> Option<String> {
    let t = line.trim_start();
    let rest = t.strip_prefix('[')?;
    let (label, after) = rest.split_once("]:")?;
    if label.is_empty() || label.starts_with('^') {
        return None;
    }
    let target = after.split_whitespace().next()?;
    Some(
        target
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string(),
    )
}

/// `http:`, `https:`, `mailto:` and any other `scheme:` link.
fn is_external(target: &str) -> bool {
    let Some((scheme, _)) = target.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// GitHub's anchor for a heading: the rendered text lower-cased, every
/// character that is not a letter, digit, space, `-` or `_` dropped, and
/// spaces turned into `-`.
fn slug(heading: &str) -> String {
    // Render the inline markup GitHub would: a link shows its text, code
    // spans their content.
    let mut text = String::new();
    let chars: Vec<char> = heading.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '!' && chars.get(i + 1) == Some(&'[') {
            i += 1;
            continue;
        }
        if chars[i] == ']' && chars.get(i + 1) == Some(&'(') {
            // Skip the `(target)` of a link.
            let mut depth = 0;
            let mut j = i + 1;
            while j < chars.len() {
                match chars[j] {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            i = j + 1;
            continue;
        }
        text.push(chars[i]);
        i += 1;
    }
    text.trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors a Markdown file offers: one per ATX heading (GitHub's
/// `-1`, `-2` suffixes for repeats) and every explicit `id="…"` or
/// `name="…"` of an HTML tag.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let t = line.trim_start();
        let level = t.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&level) && line.len() - t.len() < 4 {
            let rest = &t[level..];
            if rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t') {
                let content = rest.trim().trim_end_matches('#').trim_end();
                let base = slug(content);
                let mut candidate = base.clone();
                let mut n = 0;
                while seen.contains(&candidate) {
                    n += 1;
                    candidate = format!("{base}-{n}");
                }
                seen.insert(candidate);
            }
        }
        for attr in ["id=\"", "name=\""] {
            let mut rest = line;
            while let Some(pos) = rest.find(attr) {
                let after = &rest[pos + attr.len()..];
                if let Some(end) = after.find('"') {
                    seen.insert(after[..end].to_string());
                }
                rest = after;
            }
        }
    }
    seen
}

/// A path relative to the repository root, for messages.
fn shown(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn readme_is_short() {
    let text = fs::read_to_string(root().join("README.md")).expect("README.md");
    let lines = text.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines; at most {README_MAX_LINES}: move detail into docs/"
    );
}

#[test]
fn every_relative_link_resolves() {
    let files = markdown_files();
    assert!(files.len() > 1, "no Markdown files under docs/");
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", shown(file)));
        let dir = file.parent().unwrap();
        for (line_no, line) in prose_lines(&text) {
            let mut targets = inline_link_targets(line);
            targets.extend(reference_target(line));
            for target in targets {
                if target.is_empty() || is_external(&target) {
                    continue;
                }
                checked += 1;
                let (path_part, fragment) = match target.split_once('#') {
                    Some((p, f)) => (p, Some(f)),
                    None => (target.as_str(), None),
                };
                let path_part = path_part.split('?').next().unwrap_or("");
                let resolved = if path_part.is_empty() {
                    file.clone()
                } else if let Some(abs) = path_part.strip_prefix('/') {
                    // GitHub resolves a leading `/` from the repository root.
                    normalize(&root().join(percent_decode(abs)))
                } else {
                    normalize(&dir.join(percent_decode(path_part)))
                };
                let at = format!("{}:{line_no}", shown(file));
                if !resolved.exists() {
                    broken.push(format!(
                        "{at}: `{target}`: {} does not exist",
                        shown(&resolved)
                    ));
                    continue;
                }
                if let Some(fragment) = fragment.filter(|f| !f.is_empty()) {
                    if resolved.extension().is_some_and(|e| e == "md") {
                        let target_text = fs::read_to_string(&resolved).unwrap_or_default();
                        let fragment = percent_decode(fragment).to_lowercase();
                        if !anchors(&target_text).contains(&fragment) {
                            broken.push(format!(
                                "{at}: `{target}`: no heading with the anchor #{fragment} in {}",
                                shown(&resolved)
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        checked > 0,
        "found no relative links at all; is the link parser broken?"
    );
    assert!(
        broken.is_empty(),
        "{} broken link(s):\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn the_link_finder_finds_what_github_renders() {
    assert_eq!(
        inline_link_targets("see [a](docs/a.md#x) and ![i](img.png \"t\"), not `[c](d)`"),
        vec!["docs/a.md#x", "img.png"]
    );
    assert_eq!(
        inline_link_targets("[![b](badge.svg)](ci.md)"),
        vec!["ci.md", "badge.svg"]
    );
    assert_eq!(
        reference_target("[api]: docs/api.md"),
        Some("docs/api.md".into())
    );
    assert!(is_external("https://example.com") && is_external("mailto:a@b"));
    assert!(!is_external("docs/api.md") && !is_external("#x"));
    assert_eq!(
        slug("AWS SQS, S3 and Kinesis (`aws_sqs`)"),
        "aws-sqs-s3-and-kinesis-aws_sqs"
    );
    assert_eq!(slug("Scaling out"), "scaling-out");
    assert_eq!(slug("A [link](x.md) — here"), "a-link--here");
    let a = anchors("# T\n```\n# not a heading\n```\n## Limits\n## Limits\n");
    assert!(a.contains("t") && a.contains("limits") && a.contains("limits-1"));
    assert!(!a.contains("not-a-heading"));
}
