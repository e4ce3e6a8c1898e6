//! The topic catalog: per topic a description, a JSON Schema for `data` and
//! a sample payload, read from a YAML or JSON file (`TOPICS_CATALOG`).
//! The samples feed "test a destination"; the schemas can validate
//! published data (`TOPICS_VALIDATE_SCHEMA=true`).

use std::path::Path;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::topic::pattern_matches;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the topic catalog {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the topic catalog {path} is not valid YAML or JSON: {message}")]
    Parse { path: String, message: String },
    #[error("topic catalog entry {name:?}: {message}")]
    Entry { name: String, message: String },
}

/// Why no sample payload can test a destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleError {
    #[error("the destination is not subscribed to {0}")]
    NotSubscribed(String),
    #[error("the topic catalog has no sample payload for {0}")]
    NoSample(String),
    #[error("the topic catalog has no sample payload for this destination's topics")]
    NoneForTopics,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    schema: Option<Value>,
    #[serde(default)]
    sample: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawCatalog {
    Wrapped { topics: Vec<RawEntry> },
    List(Vec<RawEntry>),
}

/// One topic of the catalog, its schema compiled once.
pub struct Entry {
    pub name: String,
    pub description: String,
    pub schema: Option<Value>,
    pub sample: Option<Value>,
    validator: Option<jsonschema::Validator>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Entry {
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "schema": self.schema,
            "sample": self.sample,
        })
    }

    /// Schema violations of `data`, each as "path: message" (empty = valid).
    pub fn violations(&self, data: &Value) -> Vec<String> {
        match &self.validator {
            None => Vec::new(),
            Some(v) => v
                .iter_errors(data)
                .map(|e| {
                    let path = e.instance_path().to_string();
                    let at = if path.is_empty() {
                        "data".to_string()
                    } else {
                        format!("data{path}")
                    };
                    format!("{at}: {e}")
                })
                .collect(),
        }
    }
}

#[derive(Debug, Default)]
pub struct Catalog {
    entries: Vec<Entry>,
}

impl Catalog {
    pub fn load(path: &Path) -> Result<Catalog, CatalogError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: shown.clone(),
            source,
        })?;
        Catalog::parse(&text).map_err(|e| match e {
            CatalogError::Parse { message, .. } => CatalogError::Parse {
                path: shown,
                message,
            },
            other => other,
        })
    }

    /// Parses YAML (JSON is YAML too).
    pub fn parse(text: &str) -> Result<Catalog, CatalogError> {
        let raw: RawCatalog = serde_yaml::from_str(text).map_err(|e| CatalogError::Parse {
            path: String::new(),
            message: e.to_string(),
        })?;
        let raw = match raw {
            RawCatalog::Wrapped { topics } => topics,
            RawCatalog::List(l) => l,
        };
        let mut entries = Vec::with_capacity(raw.len());
        for r in raw {
            let bad = |message: String| CatalogError::Entry {
                name: r.name.clone(),
                message,
            };
            crate::domain::topic::Topic::parse(&r.name).map_err(|e| bad(e.to_string()))?;
            if entries.iter().any(|e: &Entry| e.name == r.name) {
                return Err(bad("appears twice".into()));
            }
            let validator = match &r.schema {
                None => None,
                Some(s) => Some(
                    jsonschema::validator_for(s)
                        .map_err(|e| bad(format!("invalid schema: {e}")))?,
                ),
            };
            if let (Some(v), Some(sample)) = (&validator, &r.sample) {
                let errs: Vec<String> = v.iter_errors(sample).map(|e| e.to_string()).collect();
                if !errs.is_empty() {
                    return Err(bad(format!(
                        "the sample does not match the schema: {}",
                        errs.join("; ")
                    )));
                }
            }
            if r.sample.as_ref().is_some_and(|s| !s.is_object()) {
                return Err(bad("the sample must be a JSON object".into()));
            }
            entries.push(Entry {
                name: r.name,
                description: r.description,
                schema: r.schema,
                sample: r.sample,
                validator,
            });
        }
        Ok(Catalog { entries })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.name.clone()).collect()
    }

    /// The sample to send when testing a destination subscribed to
    /// `subscribed` (topic names, or `*`): the asked-for topic's, or else
    /// the first catalog topic the destination takes that has a sample.
    pub fn test_sample(
        &self,
        subscribed: &[String],
        asked: Option<&str>,
    ) -> Result<&Entry, SampleError> {
        let all = subscribed.iter().any(|t| t == "*");
        // By name, `*`, or a wildcard pattern (`user.*`).
        let takes = |name: &str| all || subscribed.iter().any(|t| pattern_matches(t, name));
        match asked {
            Some(t) if !takes(t) => Err(SampleError::NotSubscribed(t.to_string())),
            Some(t) => self
                .get(t)
                .filter(|e| e.sample.is_some())
                .ok_or_else(|| SampleError::NoSample(t.to_string())),
            None => self
                .entries
                .iter()
                .filter(|e| e.sample.is_some())
                .find(|e| takes(&e.name))
                .ok_or(SampleError::NoneForTopics),
        }
    }

    /// Entries whose name or description contains `term` (case-insensitive).
    pub fn search(&self, term: &str) -> Vec<&Entry> {
        let term = term.to_lowercase();
        self.entries
            .iter()
            .filter(|e| {
                e.name.to_lowercase().contains(&term)
                    || e.description.to_lowercase().contains(&term)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
topics:
  - name: user.created
    description: A user signed up
    schema:
      type: object
      required: [user_id]
      properties:
        user_id: { type: string }
    sample: { user_id: usr_1 }
  - name: campaign.completed
    description: A campaign finished sending
"#;

    #[test]
    fn parses_yaml_and_json_and_searches() {
        let c = Catalog::parse(YAML).unwrap();
        assert_eq!(c.names(), ["user.created", "campaign.completed"]);
        assert_eq!(c.search("SIGNED").len(), 1);
        assert_eq!(c.search("campaign")[0].name, "campaign.completed");
        let j = Catalog::parse(r#"[{"name": "a.b", "sample": {"x": 1}}]"#).unwrap();
        assert_eq!(j.get("a.b").unwrap().sample, Some(json!({"x": 1})));
    }

    #[test]
    fn test_samples_follow_the_subscription() {
        let c = Catalog::parse(YAML).unwrap();
        let star = vec!["*".to_string()];
        assert_eq!(c.test_sample(&star, None).unwrap().name, "user.created");
        let only = vec!["campaign.completed".to_string()];
        assert_eq!(
            c.test_sample(&only, None).unwrap_err(),
            SampleError::NoneForTopics
        );
        assert_eq!(
            c.test_sample(&only, Some("user.created")).unwrap_err(),
            SampleError::NotSubscribed("user.created".into())
        );
        assert_eq!(
            c.test_sample(&star, Some("campaign.completed"))
                .unwrap_err(),
            SampleError::NoSample("campaign.completed".into())
        );
        // A wildcard subscription takes the topics its pattern matches.
        let users = vec!["user.*".to_string()];
        assert_eq!(c.test_sample(&users, None).unwrap().name, "user.created");
        assert_eq!(
            c.test_sample(&users, Some("campaign.completed"))
                .unwrap_err(),
            SampleError::NotSubscribed("campaign.completed".into())
        );
    }

    #[test]
    fn validates_data_against_the_schema() {
        let c = Catalog::parse(YAML).unwrap();
        let e = c.get("user.created").unwrap();
        assert!(e.violations(&json!({"user_id": "u"})).is_empty());
        let v = e.violations(&json!({"user_id": 5}));
        assert_eq!(v.len(), 1);
        assert!(v[0].starts_with("data/user_id"), "{v:?}");
        assert!(!e.violations(&json!({})).is_empty());
    }

    #[test]
    fn bad_catalogs_are_refused_with_the_entry_named() {
        let err = Catalog::parse("topics:\n  - name: a\n    schema: {type: 12}\n").unwrap_err();
        assert!(err.to_string().contains("\"a\""), "{err}");
        let err = Catalog::parse(
            "topics:\n  - name: a\n    schema: {type: object, required: [x]}\n    sample: {}\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("sample"), "{err}");
        assert!(Catalog::parse("topics:\n  - name: a\n  - name: a\n").is_err());
        assert!(Catalog::parse("{not yaml").is_err());
    }
}
