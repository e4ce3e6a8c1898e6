//! Topic names and destination subscriptions.

use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TopicError {
    #[error("topic must not be empty")]
    Empty,
    #[error("topic must be at most 255 characters")]
    TooLong,
    #[error("topic {0:?} contains whitespace or control characters")]
    BadChars(String),
    #[error("topic {0:?} is not in the configured topic list")]
    Unknown(String),
    #[error("a destination must subscribe to at least one topic (or \"*\")")]
    NoTopics,
}

/// An event topic such as `user.created`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(String);

impl Topic {
    pub fn parse(s: &str) -> Result<Topic, TopicError> {
        if s.is_empty() {
            return Err(TopicError::Empty);
        }
        if s.len() > 255 {
            return Err(TopicError::TooLong);
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TopicError::BadChars(s.to_string()));
        }
        Ok(Topic(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The deployment's allowed topics; `Any` when none are configured.
#[derive(Debug, Clone, Default)]
pub enum TopicList {
    #[default]
    Any,
    Only(Vec<Topic>),
}

impl TopicList {
    pub fn new(topics: Option<&[String]>) -> Result<TopicList, TopicError> {
        match topics {
            None => Ok(TopicList::Any),
            Some(list) => Ok(TopicList::Only(
                list.iter()
                    .map(|t| Topic::parse(t))
                    .collect::<Result<_, _>>()?,
            )),
        }
    }

    /// Validates a published event's topic.
    pub fn check(&self, topic: &str) -> Result<Topic, TopicError> {
        let topic = Topic::parse(topic)?;
        match self {
            TopicList::Any => Ok(topic),
            TopicList::Only(list) if list.contains(&topic) => Ok(topic),
            TopicList::Only(_) => Err(TopicError::Unknown(topic.0)),
        }
    }

    /// Validates a destination's subscription: `*` is always allowed.
    pub fn check_subscription(&self, topics: &[String]) -> Result<Vec<String>, TopicError> {
        if topics.is_empty() {
            return Err(TopicError::NoTopics);
        }
        if topics.iter().any(|t| t == "*") {
            return Ok(vec!["*".to_string()]);
        }
        topics.iter().map(|t| self.check(t).map(|t| t.0)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse() {
        assert!(Topic::parse("user.created").is_ok());
        assert_eq!(Topic::parse(""), Err(TopicError::Empty));
        assert!(Topic::parse("a b").is_err());
    }

    #[test]
    fn a_configured_list_restricts_topics_but_not_star() {
        let list = TopicList::new(Some(&["user.created".to_string()])).unwrap();
        assert!(list.check("user.created").is_ok());
        assert_eq!(
            list.check("user.deleted"),
            Err(TopicError::Unknown("user.deleted".into()))
        );
        assert_eq!(
            list.check_subscription(&["*".into(), "user.created".into()]),
            Ok(vec!["*".to_string()])
        );
        assert!(list.check_subscription(&["nope".into()]).is_err());
        assert_eq!(list.check_subscription(&[]), Err(TopicError::NoTopics));
        assert!(TopicList::Any.check("anything.goes").is_ok());
    }
}
