//! The portal's run-time settings, with Outpost's names. URLs may be
//! absolute (http/https) or paths on this server.

use crate::domain::setting::{boolean, hex_color, link, text, theme};

#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[group(skip)]
pub struct PortalSettings {
    /// Portal: where "back" and an expired session lead
    #[arg(env = "PORTAL_REFERER_URL", value_parser = link)]
    pub referer_url: Option<String>,
    /// Portal: where a user gets a fresh session
    #[arg(env = "PORTAL_REFRESH_URL", value_parser = link)]
    pub refresh_url: Option<String>,
    /// Portal: favicon URL
    #[arg(env = "PORTAL_FAVICON_URL", value_parser = link)]
    pub favicon_url: Option<String>,
    /// Portal: accent colour, #rgb or #rrggbb
    #[arg(env = "PORTAL_BRAND_COLOR", value_parser = hex_color)]
    pub brand_color: Option<String>,
    /// Portal: logo URL (light theme)
    #[arg(env = "PORTAL_LOGO", value_parser = link)]
    pub logo: Option<String>,
    /// Portal: logo URL (dark theme)
    #[arg(env = "PORTAL_LOGO_DARK", value_parser = link)]
    pub logo_dark: Option<String>,
    /// Portal: organization name in the header and title
    #[arg(env = "PORTAL_ORGANIZATION_NAME", value_parser = text)]
    pub organization_name: Option<String>,
    /// Portal: `light` or `dark` for everyone; unset: the user's choice
    #[arg(env = "PORTAL_FORCE_THEME", value_parser = theme)]
    pub force_theme: Option<String>,
    /// Portal: hide "Powered by outbound"
    #[arg(env = "PORTAL_DISABLE_OUTPOST_BRANDING", default_value = "false", value_parser = boolean)]
    pub disable_branding: bool,
    /// Portal: show the payload filter editor
    #[arg(env = "PORTAL_ENABLE_DESTINATION_FILTER", default_value = "true", value_parser = boolean)]
    pub enable_destination_filter: bool,
    /// Portal: show custom headers on webhook destinations
    #[arg(env = "PORTAL_ENABLE_WEBHOOK_CUSTOM_HEADERS", default_value = "true")]
    #[arg(value_parser = boolean)]
    pub enable_webhook_custom_headers: bool,
    /// Whether the topic picker offers wildcard patterns: TOPICS_ALLOW_WILDCARDS,
    /// copied here at start-up (not a setting of its own).
    #[arg(skip)]
    pub wildcard_topics: bool,
    /// How many days events and attempts are kept: LOG_RETENTION_DAYS,
    /// copied here at start-up (the Events page says it).
    #[arg(skip)]
    pub retention_days: u32,
}
