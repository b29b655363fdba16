//! Firing the webhook once an assembly ends, and recording how it went in the status.
//!
//! Every end notifies: completion, failure and cancellation alike. The target is the
//! assembly's `notify_url` (signed with the configured secret) or, when it has none, the
//! webhook the template's published description names (signed with the secret it names), so
//! a process that never ran the template, like the API canceling an assembly, finds it too.
//! Delivery runs in the background with its retries, so a slow receiver never holds a worker
//! slot; the `webhook-id` is derived from the assembly id, so receivers can drop duplicates.

use crate::webhook::{NotifyRecord, WebhookSecret, WebhookSender};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::task::JoinSet;
use transflow_store::assembly::AssemblyStatus;
use transflow_store::backends::{StatusStore, TemplateRegistry};
use transflow_store::status_writer::StatusWriter;

/// Sends webhooks for ended assemblies.
#[derive(Debug, Clone)]
pub struct Notifier {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    sender: WebhookSender,
    notify_secret: Option<WebhookSecret>,
    template_secrets: BTreeMap<String, WebhookSecret>,
    statuses: Arc<dyn StatusStore>,
    templates: Arc<dyn TemplateRegistry>,
    deliveries: std::sync::Mutex<JoinSet<()>>,
}

impl Notifier {
    /// A notifier that sends nothing (tests and tools that never notify).
    pub fn disabled() -> Notifier {
        Notifier { inner: None }
    }

    /// A notifier signing `notify_url` deliveries with `notify_secret` and template webhooks
    /// with the secret their template names; templates are looked up in `templates`.
    pub fn new(
        sender: WebhookSender,
        notify_secret: Option<WebhookSecret>,
        template_secrets: BTreeMap<String, WebhookSecret>,
        statuses: Arc<dyn StatusStore>,
        templates: Arc<dyn TemplateRegistry>,
    ) -> Notifier {
        let inner = Inner {
            sender,
            notify_secret,
            template_secrets,
            statuses,
            templates,
            deliveries: std::sync::Mutex::new(JoinSet::new()),
        };
        Notifier { inner: Some(Arc::new(inner)) }
    }

    /// Starts delivering the webhook of an ended assembly, if it has one.
    pub fn assembly_ended(&self, status: &AssemblyStatus) {
        let Some(inner) = &self.inner else { return };
        let (task_inner, status) = (inner.clone(), status.clone());
        let mut deliveries = inner.deliveries.lock().expect("delivery set lock");
        while deliveries.try_join_next().is_some() {}
        deliveries.spawn(async move {
            if let Some((url, secret)) = task_inner.target(&status).await {
                task_inner.deliver(&url, secret.as_ref(), &status).await;
            }
        });
    }

    /// Waits for every delivery in flight (shutdown, tests).
    pub async fn drain(&self) {
        let Some(inner) = &self.inner else { return };
        let mut deliveries = std::mem::take(&mut *inner.deliveries.lock().expect("delivery set lock"));
        while deliveries.join_next().await.is_some() {}
    }
}

impl Inner {
    /// The `notify_url`, else the webhook of the template's current published version.
    async fn target(&self, status: &AssemblyStatus) -> Option<(String, Option<WebhookSecret>)> {
        if let Some(url) = &status.notify_url {
            return Some((url.clone(), self.notify_secret.clone()));
        }
        let template = match self.templates.current(&status.template_id).await {
            Ok(template) => template?,
            Err(error) => {
                tracing::warn!(assembly_id = %status.assembly_id, %error, "cannot read the template to find its webhook");
                return None;
            }
        };
        let webhook = template.description.webhook?;
        let secret = webhook.secret_name.as_ref().and_then(|name| self.template_secrets.get(name).cloned());
        Some((webhook.url, secret))
    }

    async fn deliver(&self, url: &str, secret: Option<&WebhookSecret>, status: &AssemblyStatus) {
        let body = match serde_json::to_vec(status) {
            Ok(body) => body,
            Err(error) => return tracing::error!(%error, "cannot serialize the status for its webhook"),
        };
        let message_id = format!("msg_{}", status.assembly_id);
        let outcome = self.sender.deliver(url, secret, &message_id, &body, |_| {}).await;
        let record = NotifyRecord::new(&outcome);
        let writer = StatusWriter::new(self.statuses.clone(), &status.assembly_id);
        if let Err(error) = writer.annotate(|stored| stored.notify = Some(record.clone())).await {
            tracing::warn!(assembly_id = %status.assembly_id, %error, "could not record the webhook outcome");
        }
    }
}
