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
mod operator_events;
mod portal;
mod service;
#[cfg(test)]
mod tests;

use clap::error::ErrorKind;
use clap::Arg;

pub use delivery::DeliverySettings;
pub use operator_events::OperatorEventSettings;
pub use portal::PortalSettings;
pub use service::{ApiSettings, DatabaseSettings, RetentionSettings, TopicSettings};

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
    #[command(flatten)]
    pub portal: PortalSettings,
    #[command(flatten)]
    pub operator_events: OperatorEventSettings,
    #[command(flatten)]
    pub publish: crate::intake::PublishSettings,
}

impl Settings {
    /// The settings after the rules that span several variables (a lease
    /// that must outlast the timeout, one operator-event sink at most, the
    /// webhook signature templates, `POSTGRES_URL` as an alias). The error
    /// reads like clap's own.
    pub fn finish(mut self) -> Result<Settings, clap::Error> {
        let invalid = |message: String| clap::Error::raw(ErrorKind::ValueValidation, message);
        self.database.url = self
            .database
            .url
            .take()
            .or(self.database.postgres_url.take());
        self.delivery.finish().map_err(invalid)?;
        self.destinations
            .check()
            .map_err(|e| invalid(format!("{e}\n")))?;
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
        use clap::{Args as _, FromArgMatches as _};
        let command = Settings::augment_args(clap::Command::new("outbound"))
            .mut_args(|arg| arg.env(None::<&str>));
        let matches = command.try_get_matches_from(
            std::iter::once(std::ffi::OsString::from("outbound"))
                .chain(args.into_iter().map(Into::into)),
        )?;
        Settings::from_arg_matches(&matches)?.finish()
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
