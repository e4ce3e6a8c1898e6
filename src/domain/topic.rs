//! Topic names, the deployment's topic list, and destination subscriptions
//! with Outpost's wildcard patterns (`user.*`: `*` stands for any run of
//! characters, dots included).

use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TopicError {
    #[error("topic must not be empty")]
    Empty,
    #[error("topic is required")]
    Required,
    #[error("topic must be at most 255 characters")]
    TooLong,
    #[error("topic {0:?} contains whitespace or control characters")]
    BadChars(String),
    #[error("topic {0:?} is not in the configured topic list")]
    Unknown(String),
    #[error(
        "topic {0:?} contains '*': an event's topic is a name (\"*\" alone sends it to every \
         destination); patterns are for subscriptions"
    )]
    PatternPublished(String),
    #[error(
        "topic {0:?} is a wildcard pattern, and wildcard subscriptions are off here \
         (TOPICS_ALLOW_WILDCARDS): subscribe to exact topics, or to \"*\" for all"
    )]
    WildcardsOff(String),
    #[error("topic pattern {0:?} matches none of the configured topics")]
    PatternMatchesNothing(String),
    #[error("a destination must subscribe to at least one topic (or \"*\")")]
    NoTopics,
}

/// An event topic such as `user.created`. The empty topic is an event
/// published without one (allowed when no topic list is configured): like
/// `*`, it goes to every destination.
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

/// The deployment's topics (TOPICS, or the catalog's; `None`: any topic)
/// and whether subscriptions may use wildcard patterns
/// (TOPICS_ALLOW_WILDCARDS).
#[derive(Debug, Clone, Default)]
pub struct TopicList {
    only: Option<Vec<Topic>>,
    wildcards: bool,
}

impl TopicList {
    pub fn new(topics: Option<&[String]>, wildcards: bool) -> Result<TopicList, TopicError> {
        let only = topics
            .map(|list| list.iter().map(|t| Topic::parse(t)).collect())
            .transpose()?;
        Ok(TopicList { only, wildcards })
    }

    /// The configured topics; `None` when any topic is allowed.
    pub fn listed(&self) -> Option<&[Topic]> {
        self.only.as_deref()
    }

    /// Whether subscriptions may use wildcard patterns.
    pub fn wildcards(&self) -> bool {
        self.wildcards
    }

    /// Validates a published event's topic, as Outpost does: required when
    /// topics are configured, optional (the empty topic) when not; `*` is
    /// always allowed and, like the empty topic, reaches every destination.
    pub fn check_published(&self, topic: Option<&str>) -> Result<Topic, TopicError> {
        let topic = match topic {
            None | Some("") if self.only.is_some() => return Err(TopicError::Required),
            None | Some("") => return Ok(Topic(String::new())),
            Some(t) => Topic::parse(t)?,
        };
        if topic.0 == "*" {
            return Ok(topic);
        }
        if topic.0.contains('*') {
            return Err(TopicError::PatternPublished(topic.0));
        }
        match &self.only {
            Some(list) if !list.contains(&topic) => Err(TopicError::Unknown(topic.0)),
            _ => Ok(topic),
        }
    }

    /// Validates a destination's subscription and returns it normalized:
    /// `*` anywhere subscribes to everything (`["*"]`); exact duplicates and
    /// topics a pattern beside them covers are dropped (`["user.*",
    /// "user.created"]` → `["user.*"]`). A pattern needs wildcards on and,
    /// with a topic list, must match at least one listed topic.
    pub fn check_subscription(&self, topics: &[String]) -> Result<Vec<String>, TopicError> {
        if topics.is_empty() {
            return Err(TopicError::NoTopics);
        }
        if topics.iter().any(|t| t == "*") {
            return Ok(vec!["*".to_string()]);
        }
        for t in topics {
            let topic = Topic::parse(t)?;
            if !t.contains('*') {
                if let Some(list) = &self.only {
                    if !list.contains(&topic) {
                        return Err(TopicError::Unknown(topic.0));
                    }
                }
                continue;
            }
            if !self.wildcards {
                return Err(TopicError::WildcardsOff(topic.0));
            }
            if let Some(list) = &self.only {
                if !list.iter().any(|l| pattern_matches(t, l.as_str())) {
                    return Err(TopicError::PatternMatchesNothing(topic.0));
                }
            }
        }
        Ok(normalize(topics))
    }
}

/// Drops exact duplicates and entries a sibling pattern strictly covers,
/// keeping the first-seen order. Never changes what the set matches.
fn normalize(topics: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = Vec::with_capacity(topics.len());
    for t in topics {
        if kept.contains(t) {
            continue;
        }
        let covered = topics
            .iter()
            .any(|p| p != t && pattern_matches(p, t) && !pattern_matches(t, p));
        if !covered {
            kept.push(t.clone());
        }
    }
    kept
}

/// Whether `pattern` (where `*` stands for any run of characters, the empty
/// one included) matches `topic`. A pattern with no `*` matches itself.
pub fn pattern_matches(pattern: &str, topic: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), topic.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and where in the topic its run ends so far.
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((star, end)) = backtrack {
            // Let the last `*` take one more character and try again.
            backtrack = Some((star, end + 1));
            pi = star + 1;
            ti = end + 1;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The LIKE patterns of a subscription's wildcard topics (`user.*` →
/// `user.%`, with `%`, `_` and `\` escaped), which the fan-out matches
/// events against (`destinations.topic_patterns`); `None` when there are
/// none (`*` alone is matched as a topic, not a pattern).
pub fn like_patterns(topics: &[String]) -> Option<Vec<String>> {
    let patterns: Vec<String> = topics
        .iter()
        .filter(|t| t.contains('*') && *t != "*")
        .map(|t| {
            let mut like = String::with_capacity(t.len() + 4);
            for c in t.chars() {
                match c {
                    '\\' | '%' | '_' => {
                        like.push('\\');
                        like.push(c);
                    }
                    '*' => like.push('%'),
                    c => like.push(c),
                }
            }
            like
        })
        .collect();
    (!patterns.is_empty()).then_some(patterns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn topics_parse() {
        assert!(Topic::parse("user.created").is_ok());
        assert_eq!(Topic::parse(""), Err(TopicError::Empty));
        assert!(Topic::parse("a b").is_err());
    }

    #[test]
    fn a_configured_list_restricts_topics_but_not_star() {
        let list = TopicList::new(Some(&strings(&["user.created"])), false).unwrap();
        assert!(list.check_published(Some("user.created")).is_ok());
        assert_eq!(
            list.check_published(Some("user.deleted")),
            Err(TopicError::Unknown("user.deleted".into()))
        );
        assert_eq!(
            list.check_subscription(&strings(&["*", "user.created"])),
            Ok(strings(&["*"]))
        );
        assert!(list.check_subscription(&strings(&["nope"])).is_err());
        assert_eq!(list.check_subscription(&[]), Err(TopicError::NoTopics));
        let any = TopicList::default();
        assert!(any.check_published(Some("anything.goes")).is_ok());
    }

    #[test]
    fn a_published_topic_is_optional_only_without_a_list() {
        let any = TopicList::default();
        assert_eq!(any.check_published(None).unwrap().as_str(), "");
        assert_eq!(any.check_published(Some("")).unwrap().as_str(), "");
        assert_eq!(any.check_published(Some("*")).unwrap().as_str(), "*");
        assert_eq!(
            any.check_published(Some("user.*")),
            Err(TopicError::PatternPublished("user.*".into()))
        );
        let list = TopicList::new(Some(&strings(&["a"])), true).unwrap();
        assert_eq!(list.check_published(None), Err(TopicError::Required));
        assert_eq!(list.check_published(Some("")), Err(TopicError::Required));
        assert!(list.check_published(Some("*")).is_ok());
    }

    #[test]
    fn patterns_match_any_run_of_characters() {
        assert!(pattern_matches("user.*", "user.created"));
        assert!(pattern_matches("user.*", "user.profile.updated"));
        assert!(pattern_matches("user.*", "user."));
        assert!(!pattern_matches("user.*", "user"));
        assert!(pattern_matches("*.created", "order.created"));
        assert!(!pattern_matches("*.created", "order.created.late"));
        assert!(pattern_matches(
            "order.*.completed",
            "order.payment.completed"
        ));
        assert!(pattern_matches(
            "order.*.completed",
            "order.a.completed.b.completed"
        ));
        assert!(!pattern_matches("order.*.completed", "order.completed"));
        assert!(pattern_matches("a**b", "ab"));
        assert!(pattern_matches("exact", "exact"));
        assert!(!pattern_matches("exact", "exactly"));
    }

    #[test]
    fn wildcard_subscriptions_need_the_setting() {
        let off = TopicList::default();
        assert_eq!(
            off.check_subscription(&strings(&["user.*"])),
            Err(TopicError::WildcardsOff("user.*".into()))
        );
        let on = TopicList::new(None, true).unwrap();
        assert_eq!(
            on.check_subscription(&strings(&[
                "user.*",
                "user.created",
                "order.paid",
                "user.*"
            ])),
            Ok(strings(&["user.*", "order.paid"]))
        );
        // Neither covers the other: both kept.
        assert_eq!(
            on.check_subscription(&strings(&["*.created", "user.*"])),
            Ok(strings(&["*.created", "user.*"]))
        );
    }

    #[test]
    fn with_a_list_a_pattern_must_match_a_listed_topic() {
        let list = TopicList::new(Some(&strings(&["user.created", "order.paid"])), true).unwrap();
        assert_eq!(
            list.check_subscription(&strings(&["user.*"])),
            Ok(strings(&["user.*"]))
        );
        assert_eq!(
            list.check_subscription(&strings(&["invoice.*"])),
            Err(TopicError::PatternMatchesNothing("invoice.*".into()))
        );
    }

    #[test]
    fn like_patterns_escape_like_s_own_wildcards() {
        assert_eq!(like_patterns(&strings(&["*"])), None);
        assert_eq!(like_patterns(&strings(&["user.created"])), None);
        assert_eq!(
            like_patterns(&strings(&["user.*", "a_b%c\\*", "plain"])),
            Some(strings(&["user.%", "a\\_b\\%c\\\\%"]))
        );
    }
}
