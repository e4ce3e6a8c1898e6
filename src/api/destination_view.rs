//! A destination as the API shows it: credentials decrypted then masked
//! (the webhook signing secrets excepted, DESIGN.md §5), and the target it
//! delivers to.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;
use crate::destinations;
use crate::destinations::credentials::mask_sensitive;
use crate::destinations::target::Configured;
use crate::store::destinations::DestinationRow;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn render(state: &AppState, d: &DestinationRow) -> Result<Value, ApiError> {
    let t = destinations::declaration(d.kind);
    let plain = state
        .cipher
        .decrypt_sensitive(t, &d.credentials)
        .map_err(|e| ApiError::internal(&e))?;
    let credentials = mask_sensitive(t, &plain);
    let target = destinations::target(
        d.kind,
        &Configured {
            config: &d.config,
            credentials: &plain,
            topics: &d.topics,
        },
    );
    Ok(json!({
        "id": d.id,
        "type": d.kind,
        "topics": d.topics,
        "filter": d.filter,
        "config": d.config,
        "credentials": credentials,
        "delivery_metadata": d.delivery_metadata,
        "metadata": d.metadata,
        "disabled_at": d.disabled_at.map(ts),
        // Extensions to Outpost's shape, for the portal: why it is disabled
        // (`manual` or `consecutive_failures`), the failure count, and what
        // waits for it.
        "disabled_reason": d.disabled_reason,
        "consecutive_failures": d.consecutive_failures,
        // Events held for it while disabled, waiting for it to be enabled
        // (counted up to 100,000).
        "held_events": d.held_events,
        // Its own retries and timeout ({} follows the deployment).
        "delivery_policy": d.policy.to_json(),
        "created_at": ts(d.created_at),
        "updated_at": ts(d.updated_at),
        "target": target.text,
        "target_url": target.url,
    }))
}
