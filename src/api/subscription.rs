//! tenant.subscription.updated: a destination write (create, update,
//! delete, enable, disable) reads the tenant's subscription before it and
//! compares after it, in the write's transaction, so the operator event is
//! committed with the change or not at all.

use super::AppState;
use crate::domain::ids::TenantId;
use crate::store::operator_events::{self, Subscription};
use crate::store::{GenericClient, StoreError};

/// The tenant's subscription before a write, when the topic is emitted.
pub struct Watch(Option<Subscription>);

pub async fn watch(
    state: &AppState,
    tx: &impl GenericClient,
    tenant: &TenantId,
) -> Result<Watch, StoreError> {
    if !state.operator_topics.subscription_updated {
        return Ok(Watch(None));
    }
    Ok(Watch(Some(
        operator_events::subscription(tx, tenant).await?,
    )))
}

impl Watch {
    /// Emits tenant.subscription.updated if the write changed the
    /// subscription. Call before the transaction commits.
    pub async fn emit(self, tx: &impl GenericClient, tenant: &TenantId) -> Result<(), StoreError> {
        if let Some(before) = self.0 {
            operator_events::insert_subscription_updated(tx, tenant, &before, None).await?;
        }
        Ok(())
    }
}
