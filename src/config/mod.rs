//! Settings, read once at start-up from environment variables (each also a
//! command-line flag) and validated there, so a typo is a start-up error that
//! names the variable, not a surprise at the first delivery. Variable names
//! follow Outpost's where Outpost has one (DESIGN.md §7); they are part of
//! the contract.
//!
//! Each setting is declared once, where it is used: [`Settings`] is nested
//! `clap::Args` groups (the service's here, each destination type's in its
//! folder, gathered by `destinations::Settings`), every field with its
//! variable's name and value parser (`domain::setting`). The flag is the
//! variable's name in kebab case (`API_PORT` → `--api-port`), set for every
//! argument by [`setting`]; a flag wins over the variable. [`Settings::finish`]
//! applies the few rules that span several variables.

mod delivery;
mod environment;
mod operator_events;
pub mod outpost;
mod portal;
mod service;
#[cfg(test)]
mod tests;
mod transform;

use clap::error::ErrorKind;
use clap::Arg;

pub use delivery::DeliverySettings;
pub use environment::Environment;
pub use operator_events::OperatorEventSettings;
pub use portal::PortalSettings;
pub use service::{ApiSettings, DatabaseSettings, RetentionSettings, TopicSettings};
pub use transform::TransformSettings;

/// Every setting.
#[derive(clap::Args, Debug, Clone)]
#[group(skip)]
#[command(next_help_heading = "Settings (environment variables)", mut_args = setting)]
pub struct Settings {
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub api: ApiSettings,
    #[command(flatten)]
    pub topics: TopicSettings,
    #[command(flatten)]
    pub delivery: DeliverySettings,
    /// The destination types' own settings (webhook signing, AWS endpoints,
    /// Hookdeck's ingest URL).
    #[command(flatten)]
    pub destinations: crate::destinations::Settings,
    #[command(flatten)]
    pub retention: RetentionSettings,
    /// Payload transformations' bounds and runners (`TRANSFORM_*`).
    #[command(flatten)]
    pub transform: TransformSettings,
    #[command(flatten)]
    pub portal: PortalSettings,
    #[command(flatten)]
    pub operator_events: OperatorEventSettings,
    /// Publishing from a queue: Outpost's `PUBLISH_*` (`intake`).
    #[command(flatten)]
    pub publish: crate::intake::PublishSettings,
    /// Warnings for the start-up log: Outpost variables that are set and
    /// accepted without effect ([`outpost`]), deprecated variables in use.
    #[arg(skip)]
    pub warnings: Vec<String>,
}

impl Settings {
    /// The settings after the rules that span several variables (a lease
    /// that must outlast the timeout, one operator-event sink at most, the
    /// webhook signature templates, `POSTGRES_URL` as an alias) and the
    /// rules on `env` that clap cannot apply: Outpost variables outbound
    /// refuses ([`outpost`]), webhook header names set to the empty string.
    /// `env` is the environment clap read the settings from. The error
    /// reads like clap's own.
    pub fn finish(mut self, env: &Environment) -> Result<Settings, clap::Error> {
        let invalid = |message: String| clap::Error::raw(ErrorKind::ValueValidation, message);
        let findings = outpost::check(env);
        if let Some(message) = findings.error() {
            return Err(invalid(message));
        }
        self.warnings = findings.warnings;
        // Outpost reads these two set to the empty string as "off", not as
        // unset (clap's reading).
        if env.is_blank("ALERT_CONSECUTIVE_FAILURE_COUNT") {
            self.delivery.disable_after_failures = 0;
        }
        if env.is_blank("ALERT_EXHAUSTED_RETRIES_WINDOW_SECONDS") {
            return Err(invalid(
                "ALERT_EXHAUSTED_RETRIES_WINDOW_SECONDS is set to the empty string, which in \
                 Outpost turns exhausted-retries alerts off; outbound has no such value: leave \
                 alert.attempt.exhausted_retries out of OPERATOR_EVENTS_TOPICS instead, or \
                 unset the variable for the default window (3600)\n"
                    .into(),
            ));
        }
        self.database.url = self
            .database
            .url
            .take()
            .or(self.database.postgres_url.take());
        self.delivery.finish().map_err(invalid)?;
        self.destinations.webhook.blank_header_names(env);
        self.destinations
            .check()
            .map_err(|e| invalid(format!("{e}\n")))?;
        self.warnings
            .extend(self.destinations.webhook.deprecation_warnings());
        self.operator_events
            .finish()
            .map_err(|e| invalid(format!("{e}\n")))?;
        Ok(self)
    }

    /// Parses settings from flags alone (`--api-port 0`), through the same
    /// clap parser as the binary. The environment is ignored, so a test (or
    /// a program embedding the service) cannot pick up the `DATABASE_URL`
    /// of the machine that runs it.
    pub fn from_args<I, T>(args: I) -> Result<Settings, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Settings::from_args_and_env(args, &Environment::default())
    }

    /// Parses settings from flags and from `env` in place of the process's
    /// environment, with the binary's rules: a flag wins over a variable, a
    /// blank variable counts as unset, Outpost variables outbound does not
    /// support are refused. For tests of what a given environment does.
    pub fn from_args_and_env<I, T>(args: I, env: &Environment) -> Result<Settings, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{Args as _, FromArgMatches as _};
        // A variable becomes its argument's default: used when no flag is
        // given, and checked by the same value parser.
        let command = Settings::augment_args(clap::Command::new("outbound")).mut_args(|arg| {
            let value = arg
                .get_env()
                .and_then(|name| name.to_str())
                .and_then(|name| env.value(name))
                .map(str::to_owned);
            let arg = arg.env(None::<&str>);
            match value {
                Some(value) => arg.default_value(value),
                None => arg,
            }
        });
        let matches = command.try_get_matches_from(
            std::iter::once(std::ffi::OsString::from("outbound"))
                .chain(args.into_iter().map(Into::into)),
        )?;
        Settings::from_arg_matches(&matches)?.finish(env)
    }
}

/// What every setting has in common, applied to each argument of
/// [`Settings`]:
///
/// - its flag is its variable's name in kebab case, and its value name is
///   the variable's, so errors name the variable (`invalid value 'http'
///   for '--api-port <API_PORT>'`);
/// - it is global, so `outbound serve --api-port 8080` works as well as
///   `outbound --api-port 8080 serve`. (clap then reads a global argument's
///   variable for the subcommand too, so an invalid variable is an error
///   even when a flag replaces it.)
/// - a variable set to the empty (or blank) string counts as unset, as
///   `FOO= outbound serve` and env files with `FOO=` mean. clap 4 would pass
///   the empty string to the value parser instead (an error for a number,
///   `Some("")` for a string), so a blank variable is dropped from its
///   argument here, before parsing. (`--help` then omits that one
///   variable's `[env: …]` note; nothing else changes.)
fn setting(arg: Arg) -> Arg {
    let Some(var) = arg.get_env().and_then(|v| v.to_str()).map(str::to_owned) else {
        return arg;
    };
    let blank =
        std::env::var_os(&var).is_some_and(|value| value.to_string_lossy().trim().is_empty());
    let arg = arg
        .long(var.to_ascii_lowercase().replace('_', "-"))
        .value_name(var)
        .global(true);
    if blank {
        arg.env(None::<&str>)
    } else {
        arg
    }
}
