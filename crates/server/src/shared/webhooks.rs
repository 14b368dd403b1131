//! Product webhooks (docs/datasets.md): where a product's provisioning events go, set from the
//! catalog page and from the API alike.

use ferry_storage::StoreError;

use crate::AppState;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the address must start with http:// or https://")]
    NotHttp,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stores a product's webhook: its address and, when one is given, a new signing secret
/// (sealed; otherwise the current one stays). Without an address the webhook and its secret
/// are removed.
pub async fn save(
    state: &AppState,
    marketplace_id: i64,
    product_id: i64,
    url: Option<&str>,
    secret: Option<&str>,
) -> Result<(), WebhookError> {
    if url.is_some_and(|u| !(u.starts_with("https://") || u.starts_with("http://"))) {
        return Err(WebhookError::NotHttp);
    }
    let sealed = secret.map(|s| state.sealer.seal(s));
    state
        .store
        .set_product_webhook(marketplace_id, product_id, url, sealed.as_deref())
        .await?;
    Ok(())
}
