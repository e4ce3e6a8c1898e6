//! How the process logs: pretty lines for a person (on a terminal or not:
//! `docker logs`, journald and `| less` are read by people too), JSON
//! lines for machines with `LOG_FORMAT=json`. `RUST_LOG` sets the levels;
//! without it, Outpost's `LOG_LEVEL` sets outbound's own level.
//!
//! Without either the default is `info` for outbound, and `warn` for
//! the libraries that log what outbound reports itself, in fewer words:
//! refinery (a line per migration; outbound logs one line for them all)
//! and tokio-postgres (the server's NOTICEs, such as "schema already
//! exists, skipping").

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,refinery=warn,refinery_core=warn,tokio_postgres=warn";

/// The filter for Outpost's `LOG_LEVEL` (when `RUST_LOG` is not set): that
/// level instead of `info`, the libraries as in [`DEFAULT_FILTER`]. Unset
/// or empty is the default; a value that is no level is an error.
pub fn level_filter(level: Option<&str>) -> Result<String, String> {
    match level.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") => Ok(DEFAULT_FILTER.to_owned()),
        Some(level @ ("trace" | "debug" | "info" | "warn" | "error")) => {
            Ok(DEFAULT_FILTER.replacen("info", level, 1))
        }
        Some(other) => Err(format!(
            "LOG_LEVEL {other:?} is not a log level: use trace, debug, info, warn or error \
             (RUST_LOG takes filters)"
        )),
    }
}

/// The output format, from `LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl LogFormat {
    /// `json` or `pretty` (any case); unset or empty is pretty. Anything
    /// else is an error naming the values.
    pub fn parse(value: Option<&str>) -> Result<LogFormat, String> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("pretty") => Ok(LogFormat::Pretty),
            Some("json") => Ok(LogFormat::Json),
            Some(other) => Err(format!(
                "LOG_FORMAT {other:?} is not a log format: use json or pretty"
            )),
        }
    }
}

/// Installs the global subscriber, writing to stderr (stdout carries the
/// few lines `serve` prints for the person who started it). An unknown
/// `LOG_FORMAT` or `LOG_LEVEL` is an error.
pub fn init() -> Result<(), String> {
    let format = LogFormat::parse(std::env::var("LOG_FORMAT").ok().as_deref())?;
    let default = level_filter(std::env::var("LOG_LEVEL").ok().as_deref())?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        // Colours only for a terminal: escape codes are noise in a file.
        LogFormat::Pretty => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    Ok(())
}

/// One line for the migrations of a start-up, however many there were.
pub fn schema_applied(applied: &[String]) {
    match applied {
        [] => tracing::info!("schema up to date"),
        [one] => tracing::info!("schema: applied {one}"),
        [first, .., last] => {
            tracing::info!(
                "schema: applied {} migrations, {first} to {last}",
                applied.len()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{level_filter, LogFormat, DEFAULT_FILTER};

    #[test]
    fn log_format_values() {
        assert_eq!(LogFormat::parse(None), Ok(LogFormat::Pretty));
        assert_eq!(LogFormat::parse(Some("")), Ok(LogFormat::Pretty));
        assert_eq!(LogFormat::parse(Some("JSON")), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse(Some(" pretty ")), Ok(LogFormat::Pretty));
        let err = LogFormat::parse(Some("xml")).unwrap_err();
        assert!(err.contains("json or pretty"), "{err}");
    }

    #[test]
    fn outposts_log_level() {
        assert_eq!(level_filter(None).unwrap(), DEFAULT_FILTER);
        assert_eq!(level_filter(Some(" ")).unwrap(), DEFAULT_FILTER);
        assert_eq!(
            level_filter(Some("DEBUG")).unwrap(),
            "debug,refinery=warn,refinery_core=warn,tokio_postgres=warn"
        );
        let err = level_filter(Some("verbose")).unwrap_err();
        assert!(err.contains("LOG_LEVEL \"verbose\""), "{err}");
    }
}
