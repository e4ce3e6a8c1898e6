//! Metadata: string keys to string values, as Outpost has it for tenants,
//! destinations (`metadata`, `delivery_metadata`) and events. They become
//! headers and message attributes, so nothing but strings is accepted.

use serde_json::Value;

/// Checks that `value` (the field `field` of a request) is an object of
/// strings, or null or absent (None). Returns one message per bad entry.
pub fn string_map(field: &str, value: Option<&Value>) -> Result<Option<Value>, Vec<String>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            let bad: Vec<String> = m
                .iter()
                .filter(|(_, v)| !v.is_string())
                .map(|(k, _)| format!("{field}.{k} must be a string"))
                .collect();
            if bad.is_empty() {
                Ok(Some(Value::Object(m.clone())))
            } else {
                Err(bad)
            }
        }
        Some(_) => Err(vec![format!("{field} must be an object of strings")]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_objects_of_strings() {
        assert_eq!(string_map("m", None), Ok(None));
        assert_eq!(string_map("m", Some(&Value::Null)), Ok(None));
        let ok = json!({"a": "1"});
        assert_eq!(string_map("m", Some(&ok)), Ok(Some(ok.clone())));
        assert_eq!(
            string_map("metadata", Some(&json!({"n": 1, "s": "x"}))),
            Err(vec!["metadata.n must be a string".to_string()])
        );
        assert_eq!(
            string_map("m", Some(&json!([]))),
            Err(vec!["m must be an object of strings".to_string()])
        );
    }
}
