//! The names the AWS resources share with `transflow deploy`, which creates them: the status
//! table's key, its branch index and TTL attribute, and the prefix S3 events watch.

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

#[cfg(test)]
mod tests {
    #[test]
    fn the_watched_prefix_is_the_uploads_tree() {
        assert_eq!(super::UPLOADS_KEY_PREFIX, format!("{}/", transflow_store::keys::UPLOADS_PREFIX));
    }
}
