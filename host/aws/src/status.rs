//! [`StatusStore`] on a DynamoDB table.
//!
//! One item per assembly, keyed by `assembly_id`. The status document is stored whole as JSON
//! in `status`; beside it are what queries and conditions need: `version` (every write is
//! conditional on it), `branch` and `created_at` (the `branch-created` index; `created_at`
//! holds `{unix millis, 13 digits}#{assembly_id}` so string order is time order, ties broken
//! by id, whatever precision the RFC 3339 creation time had), the lease
//! (`lease_owner`, `lease_expires`, apart from `version` so renewals never make a status
//! write conflict — the Powertools idempotency pattern) and `expires_at`, the table's TTL.
//!
//! An item may not exceed 400 KB. A document that would come close is written to the media
//! bucket under `status/{branch}/{assembly_id}/` and the item keeps only its key in
//! `status_ref`; readers follow it transparently.

use super::sdk_error;
use crate::schema::{BRANCH_INDEX, BRANCH_KEY, CREATED_KEY, TABLE_KEY, TTL_ATTRIBUTE};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncReadExt;
use transflow_store::assembly::AssemblyStatus;
use transflow_store::backends::{
    BackendError, BackendResult, BlobSpec, BlobStore, Created, Lease, StatusStore, Versioned, unix_seconds,
};

/// Documents larger than this go to S3; the rest of the item stays far below 400 KB.
const INLINE_LIMIT: usize = 300 * 1024;

/// Status records in DynamoDB, large ones spilled to S3.
#[derive(Debug, Clone)]
pub struct DynamoStatusStore {
    client: Client,
    table: String,
    spill: Arc<dyn BlobStore>,
    ttl: Duration,
}

type Item = HashMap<String, AttributeValue>;

impl DynamoStatusStore {
    /// A store on `table`, spilling large documents to `spill`; records expire `ttl` after
    /// their last write.
    pub fn new(client: Client, table: &str, spill: Arc<dyn BlobStore>, ttl: Duration) -> DynamoStatusStore {
        DynamoStatusStore { client, table: table.to_owned(), spill, ttl }
    }

    /// The document's attribute: inline JSON, or the key of an S3 copy for large ones.
    async fn document(&self, status: &AssemblyStatus) -> BackendResult<(&'static str, String)> {
        let json = serde_json::to_string(status)
            .map_err(|e| BackendError::io(format!("encoding assembly {}", status.assembly_id), e))?;
        if json.len() <= INLINE_LIMIT {
            return Ok(("status", json));
        }
        let key =
            format!("status/{}/{}/{:016x}.json", status.branch, status.assembly_id, rand::random::<u64>());
        let spec = BlobSpec { content_type: "application/json".into(), ..BlobSpec::default() };
        self.spill.put(&key, Box::pin(std::io::Cursor::new(json.into_bytes())), &spec).await?;
        Ok(("status_ref", key))
    }

    async fn decode(&self, item: &Item) -> BackendResult<Versioned<AssemblyStatus>> {
        let id = string(item, TABLE_KEY).unwrap_or_default();
        let json = match (string(item, "status"), string(item, "status_ref")) {
            (Some(json), _) => json,
            (None, Some(key)) => {
                let (_, mut body) = self.spill.open(&key).await?;
                let mut json = String::new();
                body.read_to_string(&mut json)
                    .await
                    .map_err(|e| BackendError::io(format!("reading assembly {id} from `{key}`"), e))?;
                json
            }
            (None, None) => return Err(BackendError::io(format!("assembly {id}"), "the item has no status")),
        };
        let value = serde_json::from_str(&json)
            .map_err(|e| BackendError::io(format!("decoding assembly {id}"), e))?;
        let version = number(item, "version")
            .ok_or_else(|| BackendError::io(format!("assembly {id}"), "the item has no version"))?;
        Ok(Versioned { value, version })
    }

    async fn get_item(&self, assembly_id: &str) -> BackendResult<Option<Item>> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(TABLE_KEY, s(assembly_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(format!("reading assembly {assembly_id}"), e))?;
        Ok(got.item)
    }

    /// Deletes a spilled copy no item points at any more; a failure only leaves garbage that
    /// `transflow cleanup` removes with the branch.
    async fn forget_spill(&self, key: Option<String>) {
        if let Some(key) = key
            && let Err(error) = self.spill.delete_prefix(&key).await
        {
            tracing::warn!(key, %error, "could not delete a spilled status copy");
        }
    }

    fn expires_at(&self) -> AttributeValue {
        n(unix_seconds(SystemTime::now() + self.ttl))
    }

    /// What a failed conditional write means: the record is missing, or someone else won.
    async fn lost(&self, assembly_id: &str, conflict: String) -> BackendError {
        match self.get_item(assembly_id).await {
            Ok(None) => BackendError::NotFound(format!("assembly {assembly_id}")),
            Ok(Some(_)) => BackendError::Conflict(conflict),
            Err(error) => error,
        }
    }

    async fn query_branch(&self, branch: &str, limit: Option<usize>) -> BackendResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BRANCH_INDEX)
                .key_condition_expression(format!("{BRANCH_KEY} = :branch"))
                .expression_attribute_values(":branch", s(branch))
                .scan_index_forward(false)
                .set_exclusive_start_key(start)
                .set_limit(limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
                .send()
                .await
                .map_err(|e| sdk_error(format!("listing branch {branch}"), e))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() || limit.is_some_and(|l| items.len() >= l) {
                break;
            }
        }
        if let Some(limit) = limit {
            items.truncate(limit);
        }
        Ok(items)
    }
}

#[async_trait]
impl StatusStore for DynamoStatusStore {
    async fn create(&self, status: &AssemblyStatus) -> BackendResult<Created> {
        let id = &status.assembly_id;
        let created = created_key(status)?;
        let (attribute, document) = self.document(status).await?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(TABLE_KEY, s(id))
            .item("version", n(1))
            .item(attribute, s(&document))
            .item(BRANCH_KEY, s(&status.branch))
            .item(CREATED_KEY, s(&created))
            .item(TTL_ATTRIBUTE, self.expires_at())
            .condition_expression(format!("attribute_not_exists({TABLE_KEY})"))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Created::New),
            Err(error)
                if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                self.forget_spill((attribute == "status_ref").then_some(document)).await;
                match self.get(id).await? {
                    Some(existing) => Ok(Created::Existing(Box::new(existing))),
                    None => {
                        Err(BackendError::Conflict(format!("assembly {id} (created and deleted meanwhile)")))
                    }
                }
            }
            Err(error) => Err(sdk_error(format!("creating assembly {id}"), error)),
        }
    }

    async fn get(&self, assembly_id: &str) -> BackendResult<Option<Versioned<AssemblyStatus>>> {
        match self.get_item(assembly_id).await? {
            Some(item) => Ok(Some(self.decode(&item).await?)),
            None => Ok(None),
        }
    }

    async fn update(&self, status: &AssemblyStatus, expected_version: u64) -> BackendResult<u64> {
        let id = &status.assembly_id;
        let (attribute, document) = self.document(status).await?;
        let stale = if attribute == "status" { "status_ref" } else { "status" };
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(TABLE_KEY, s(id))
            .update_expression(format!(
                "SET #doc = :doc, #version = :new, {TTL_ATTRIBUTE} = :expires REMOVE #stale"
            ))
            .condition_expression("#version = :expected")
            .expression_attribute_names("#doc", attribute)
            .expression_attribute_names("#stale", stale)
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":doc", s(&document))
            .expression_attribute_values(":new", n(expected_version + 1))
            .expression_attribute_values(":expected", n(expected_version))
            .expression_attribute_values(":expires", self.expires_at())
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedOld)
            .send()
            .await;
        let new_spill = (attribute == "status_ref").then(|| document.clone());
        match updated {
            Ok(output) => {
                let old_spill = output.attributes.as_ref().and_then(|old| string(old, "status_ref"));
                self.forget_spill(old_spill.filter(|old| Some(old) != new_spill.as_ref())).await;
                Ok(expected_version + 1)
            }
            Err(error)
                if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                self.forget_spill(new_spill).await;
                Err(self.lost(id, format!("assembly {id} (expected at version {expected_version})")).await)
            }
            Err(error) => {
                self.forget_spill(new_spill).await;
                Err(sdk_error(format!("updating assembly {id}"), error))
            }
        }
    }

    /// A lease can only be taken on an existing record: [`BackendError::NotFound`] otherwise.
    async fn acquire_lease(
        &self,
        assembly_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> BackendResult<Option<Lease>> {
        let expires_at = SystemTime::now() + ttl;
        let taken = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(TABLE_KEY, s(assembly_id))
            .update_expression("SET lease_owner = :owner, lease_expires = :expires")
            .condition_expression(
                "attribute_exists(assembly_id) AND \
                 (attribute_not_exists(lease_owner) OR lease_expires < :now)",
            )
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":expires", n(unix_millis(expires_at)))
            .expression_attribute_values(":now", n(unix_millis(SystemTime::now())))
            .send()
            .await;
        match taken {
            Ok(_) => Ok(Some(Lease { assembly_id: assembly_id.into(), owner: owner.into(), expires_at })),
            Err(error)
                if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                match self.lost(assembly_id, String::new()).await {
                    BackendError::Conflict(_) => Ok(None),
                    other => Err(other),
                }
            }
            Err(error) => Err(sdk_error(format!("leasing assembly {assembly_id}"), error)),
        }
    }

    async fn renew_lease(&self, assembly_id: &str, owner: &str, ttl: Duration) -> BackendResult<Lease> {
        let expires_at = SystemTime::now() + ttl;
        let renewed = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(TABLE_KEY, s(assembly_id))
            .update_expression("SET lease_expires = :expires")
            .condition_expression("attribute_exists(assembly_id) AND lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":expires", n(unix_millis(expires_at)))
            .send()
            .await;
        match renewed {
            Ok(_) => Ok(Lease { assembly_id: assembly_id.into(), owner: owner.into(), expires_at }),
            Err(error)
                if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(self
                    .lost(assembly_id, format!("the lease of assembly {assembly_id} held by {owner}"))
                    .await)
            }
            Err(error) => Err(sdk_error(format!("renewing the lease of assembly {assembly_id}"), error)),
        }
    }

    async fn release_lease(&self, assembly_id: &str, owner: &str) -> BackendResult<()> {
        let released = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(TABLE_KEY, s(assembly_id))
            .update_expression("REMOVE lease_owner, lease_expires")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match released {
            // Not the holder (any more): nothing of ours to give back.
            Err(error)
                if !error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(sdk_error(format!("releasing the lease of assembly {assembly_id}"), error))
            }
            _ => Ok(()),
        }
    }

    async fn list_branch(&self, branch: &str, limit: usize) -> BackendResult<Vec<AssemblyStatus>> {
        let mut statuses = Vec::new();
        for item in self.query_branch(branch, Some(limit)).await? {
            statuses.push(self.decode(&item).await?.value);
        }
        Ok(statuses)
    }

    async fn delete_branch(&self, branch: &str) -> BackendResult<u64> {
        let items = self.query_branch(branch, None).await?;
        for item in &items {
            let id = string(item, TABLE_KEY).unwrap_or_default();
            self.client
                .delete_item()
                .table_name(&self.table)
                .key(TABLE_KEY, s(&id))
                .send()
                .await
                .map_err(|e| sdk_error(format!("deleting assembly {id}"), e))?;
        }
        self.spill.delete_prefix(&format!("status/{branch}/")).await?;
        Ok(items.len() as u64)
    }
}

/// The index's sort key; refuses a creation time that is not RFC 3339.
fn created_key(status: &AssemblyStatus) -> BackendResult<String> {
    let created =
        time::OffsetDateTime::parse(&status.created_at, &time::format_description::well_known::Rfc3339)
            .map_err(|e| {
                BackendError::Rejected(format!(
                    "assembly {}: created_at `{}` is not RFC 3339: {e}",
                    status.assembly_id, status.created_at
                ))
            })?;
    let millis = created.unix_timestamp_nanos().max(0) / 1_000_000;
    Ok(format!("{millis:013}#{}", status.assembly_id))
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn string(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|text| text.parse().ok())
}

fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
