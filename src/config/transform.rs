//! Payload transformations (`delivery_policy.transform`): the bounds every
//! run is held to, and the runner processes that run them.

use std::path::PathBuf;
use std::time::Duration;

use crate::domain::setting::{text, whole};
use crate::transform::Limits;

#[derive(clap::Args, Debug, Clone)]
#[group(skip)]
pub struct TransformSettings {
    /// The CPU time one transformation may use (body and headers together),
    /// in milliseconds; past it the run fails and its runner is restarted
    /// (the wall clock stops a run at 4 times this and a second)
    #[arg(env = "TRANSFORM_TIMEOUT_MS", default_value = "250")]
    #[arg(value_parser = whole(10, 60_000u64))]
    pub timeout_ms: u64,
    /// The longest body a transformation may give, in bytes (and the most
    /// bytes of headers)
    #[arg(env = "TRANSFORM_MAX_OUTPUT_BYTES", default_value = "1048576")]
    #[arg(value_parser = whole(1024, 64 * 1024 * 1024usize))]
    pub max_output_bytes: usize,
    /// The resident memory a transformation runner may reach while it runs,
    /// in MiB; past it the run fails and the runner is restarted
    #[arg(env = "TRANSFORM_MAX_MEMORY_MB", default_value = "512")]
    #[arg(value_parser = whole(128, 65_536u64))]
    pub max_memory_mb: u64,
    /// Transformation runner processes for deliveries (runs at once), and
    /// as many for the API's checks and previews
    #[arg(env = "TRANSFORM_PROCESSES", default_value = "2")]
    #[arg(value_parser = whole(1, 256usize))]
    pub processes: usize,
    /// The executable started as `<it> transform-runner`; default: this one
    #[arg(env = "TRANSFORM_RUNNER", value_parser = path)]
    pub runner: Option<PathBuf>,
}

fn path(raw: &str) -> Result<PathBuf, String> {
    text(raw).map(PathBuf::from)
}

impl TransformSettings {
    pub fn limits(&self) -> Limits {
        Limits {
            timeout: Duration::from_millis(self.timeout_ms),
            max_output_bytes: self.max_output_bytes,
            max_memory_mb: self.max_memory_mb,
            processes: self.processes,
            runner: self.runner.clone(),
        }
    }
}
