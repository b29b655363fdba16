//! The names and shapes the AWS resources share with `transflow deploy`, which creates them:
//! the status table's key, its branch index and TTL attribute, and the prefix S3 events watch.

use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};

/// The status table's partition key.
pub const TABLE_KEY: &str = "assembly_id";
/// The global secondary index listing a branch's records by creation time.
pub const BRANCH_INDEX: &str = "branch-created";
/// The branch index's partition key.
pub const BRANCH_KEY: &str = "branch";
/// The branch index's sort key (RFC 3339 text, so it sorts by time).
pub const CREATED_KEY: &str = "created_at";
/// The attribute DynamoDB's TTL reads (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// The key prefix of uploads, which the lifecycle rule and the queue notification watch.
pub const UPLOADS_KEY_PREFIX: &str = "uploads/";

/// The attributes the table's key and index name (DynamoDB wants only those declared).
pub fn table_attributes() -> Result<Vec<AttributeDefinition>, BuildError> {
    [TABLE_KEY, BRANCH_KEY, CREATED_KEY]
        .into_iter()
        .map(|name| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
        })
        .collect()
}

/// Status records are read by assembly id.
pub fn table_key() -> Result<Vec<KeySchemaElement>, BuildError> {
    Ok(vec![key(TABLE_KEY, KeyType::Hash)?])
}

/// `list_branch` queries a branch's records newest first, without scanning the table.
pub fn branch_index() -> Result<GlobalSecondaryIndex, BuildError> {
    GlobalSecondaryIndex::builder()
        .index_name(BRANCH_INDEX)
        .key_schema(key(BRANCH_KEY, KeyType::Hash)?)
        .key_schema(key(CREATED_KEY, KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, BuildError> {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_branch_index_is_keyed_by_branch_and_creation_time() {
        let index = branch_index().unwrap();
        let keys: Vec<_> =
            index.key_schema().iter().map(|k| (k.attribute_name(), k.key_type().clone())).collect();
        assert_eq!(keys, [("branch", KeyType::Hash), ("created_at", KeyType::Range)]);
        let names: Vec<_> =
            table_attributes().unwrap().iter().map(|a| a.attribute_name().to_owned()).collect();
        assert_eq!(names, ["assembly_id", "branch", "created_at"]);
    }

    #[test]
    fn the_watched_prefix_is_the_uploads_tree() {
        assert_eq!(super::UPLOADS_KEY_PREFIX, format!("{}/", transflow_store::keys::UPLOADS_PREFIX));
    }
}
