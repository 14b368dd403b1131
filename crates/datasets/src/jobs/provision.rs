//! Provisioning: the subscriptions an activation created, sent to their edition's connector.

use async_trait::async_trait;
use ferry_domain::Progress;
use ferry_integrations::webhook::WebhookClient;
use ferry_jobs::{BackgroundJob, JobContext, JobError};
use ferry_storage::seal::Sealer;
use ferry_storage::{Dataset, DatasetFinding, DatasetRef, ProvisioningTarget};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{finish, load};
use crate::columns::DataType;

/// Subscriptions provisioned per checkpoint, and at once.
const PROVISION_PAGE: i64 = 64;
const PROVISION_AT_ONCE: usize = 8;

/// Sends the subscriptions an activation created to their edition's connector (docs/datasets.md):
/// each becomes active when the vendor takes it, failed otherwise, with the vendor's reason on
/// the subscription and in the report.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ProvisionDataset(pub DatasetRef);

/// What provisioning reaches the connectors with.
pub struct Connectors {
    /// Opens the products' webhook secrets.
    pub sealer: Sealer,
    pub webhook: WebhookClient,
}

/// The last subscription sent.
#[derive(Debug, Serialize, Deserialize)]
pub struct Provisioned {
    after: i64,
}

#[async_trait]
impl BackgroundJob for ProvisionDataset {
    const KIND: &'static str = "dataset.provision";
    type Checkpoint = Provisioned;
    type Env = Connectors;

    fn marketplace_id(&self) -> Option<i64> {
        Some(self.0.marketplace_id)
    }

    async fn run(
        &self,
        connectors: &Connectors,
        ctx: &JobContext<Provisioned>,
    ) -> Result<(), JobError> {
        let dataset = load(ctx.store(), self.0).await?;
        let store = ctx.store();
        let mut after = ctx.resume_from().map_or(0, |at| at.after);
        let mut done = 0;
        loop {
            let page = store
                .pending_provisioning(dataset.key(), after, PROVISION_PAGE)
                .await?;
            let Some(last) = page.last().map(|t| t.subscription_id) else {
                break;
            };
            for batch in page.chunks(PROVISION_AT_ONCE) {
                let answers = batch
                    .iter()
                    .map(|target| connectors.provision(&dataset, target));
                for (target, answer) in batch
                    .iter()
                    .zip(futures_util::future::join_all(answers).await)
                {
                    store
                        .set_provisioned(
                            target.subscription_id,
                            answer.as_ref().err().map(String::as_str),
                        )
                        .await?;
                    if let Err(reason) = answer {
                        let finding = DatasetFinding {
                            data_type: DataType::CompanyEntitlements.part().to_owned(),
                            line: target.line.unwrap_or(0),
                            external_id: target.external_id.clone(),
                            severity: "error".to_owned(),
                            code: "PROVISIONING_FAILED".to_owned(),
                            column_name: None,
                            message: reason,
                            value: None,
                        };
                        store.add_findings(dataset.id, &[finding]).await?;
                    }
                }
            }
            after = last;
            done += page.len() as i64;
            let progress = Progress {
                done,
                total: None,
                message: Some(format!("{done} subscriptions sent to their connectors")),
            };
            ctx.checkpoint(&Provisioned { after }, progress, None)
                .await?;
        }
        finish(store, &dataset).await
    }
}

impl Connectors {
    /// Sends one subscription to its product's webhook; `Err` says why it is not provisioned.
    async fn provision(
        &self,
        dataset: &Dataset,
        target: &ProvisioningTarget,
    ) -> Result<(), String> {
        let url = target
            .webhook_url
            .as_deref()
            .ok_or("the product has no webhook URL to provision through")?;
        let secret = match &target.webhook_secret_encrypted {
            Some(sealed) => self.sealer.open(sealed).map_err(
                |_| "the product's webhook secret cannot be opened with this installation's key",
            )?,
            None => return Err("the product has no webhook secret to sign events with".into()),
        };
        let event_id = format!("ferry-subscription-{}", target.subscription_id);
        let body = json!({
            "type": "SUBSCRIPTION_ORDER",
            "id": event_id,
            "dataset": { "id": dataset.id, "name": dataset.name },
            "subscription": {
                "id": target.subscription_id,
                "external_id": target.external_id,
                "units": target.units,
                "edition": { "code": target.edition_code, "name": target.edition_name },
            },
            "company": { "external_id": target.company_external_id, "name": target.company_name },
            "user": { "external_id": target.user_external_id, "email": target.user_email },
        });
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        self.webhook.deliver(url, &secret, &event_id, &body).await
    }
}
