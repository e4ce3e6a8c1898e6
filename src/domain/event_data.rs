//! What an event's `data` may be: a JSON object, kept as the publisher's
//! text (it is the webhook body byte for byte), of bounded size and nesting.
//!
//! The nesting bound protects everything that parses the text recursively:
//! Postgres' JSON parser (`json` input, `jsonb` for filters) runs out of
//! stack somewhere past ten thousand levels, and a publisher sending that
//! would get a database error instead of an answer. Real payloads nest a
//! handful of levels; [`MAX_DEPTH`] is far above any of them.

/// The deepest nesting `data` may have: objects and arrays inside one
/// another, the outermost object counting as 1.
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error("data must be a JSON object")]
    NotAnObject,
    #[error("data is larger than {0} bytes")]
    TooLarge(usize),
    #[error("data is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Checks the text of `data` (already known to be valid JSON).
pub fn check(raw: &str, max_bytes: usize) -> Result<(), DataError> {
    if !raw.trim_start().starts_with('{') {
        return Err(DataError::NotAnObject);
    }
    if raw.len() > max_bytes {
        return Err(DataError::TooLarge(max_bytes));
    }
    if nests_deeper_than(raw, MAX_DEPTH) {
        return Err(DataError::TooDeep);
    }
    Ok(())
}

/// Whether the JSON text `json` nests objects and arrays deeper than `max`.
/// One pass over the bytes, no tree built: brackets inside strings (and
/// escaped quotes) do not count.
pub fn nests_deeper_than(json: &str, max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json.as_bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!(
            "{{\"a\":{}{}}}",
            "[".repeat(levels - 1),
            "]".repeat(levels - 1)
        )
    }

    #[test]
    fn depth_counts_containers_not_brackets_in_strings() {
        assert!(!nests_deeper_than("{}", 1));
        assert!(nests_deeper_than("{\"a\":{}}", 1));
        assert!(!nests_deeper_than(&nested(128), 128));
        assert!(nests_deeper_than(&nested(129), 128));
        let quoted = format!("{{\"s\":\"{}\\\"{}\"}}", "[".repeat(500), "{".repeat(500));
        assert!(!nests_deeper_than(&quoted, 2));
        // Siblings do not add up.
        let wide = format!("{{\"a\":[{}]}}", vec!["[]"; 1000].join(","));
        assert!(!nests_deeper_than(&wide, 3));
    }

    #[test]
    fn data_must_be_an_object_small_and_shallow() {
        assert_eq!(check("{\"a\":1}", 100), Ok(()));
        assert_eq!(check(" [1]", 100), Err(DataError::NotAnObject));
        assert_eq!(
            check("{\"a\":\"xxxxxxxx\"}", 8),
            Err(DataError::TooLarge(8))
        );
        assert_eq!(check(&nested(30_000), usize::MAX), Err(DataError::TooDeep));
        assert_eq!(
            DataError::TooDeep.to_string(),
            "data is nested deeper than 128 levels"
        );
    }
}
