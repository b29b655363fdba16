//! The object-key layout every blob store shares, in one place:
//!
//! ```text
//! uploads/{branch}/{assembly_id}/{upload_id}/{file name}   an original, as the user uploaded it
//! outputs/{branch}/{assembly_id}/{step}/{path}             a result of a step
//! ```
//!
//! The branch comes first so a branch's data can be deleted with two prefixes; the upload id
//! and the step name keep every directory a prefix-signed URL may open ([`crate::prefix_urls`])
//! to one upload or one step.

use crate::template::check_name;

/// The top directory of uploads.
pub const UPLOADS_PREFIX: &str = "uploads";
/// The top directory of results.
pub const OUTPUTS_PREFIX: &str = "outputs";

/// Where a step's result `name` (a path relative to the step's output directory) is stored.
pub fn output_key(branch: &str, assembly_id: &str, step: &str, name: &str) -> String {
    format!("{OUTPUTS_PREFIX}/{branch}/{assembly_id}/{step}/{name}")
}

/// The prefix holding every result of an assembly.
pub fn outputs_prefix(branch: &str, assembly_id: &str) -> String {
    format!("{OUTPUTS_PREFIX}/{branch}/{assembly_id}/")
}

/// The prefixes holding everything a branch stored: its uploads and its results.
pub fn branch_prefixes(branch: &str) -> [String; 2] {
    [format!("{UPLOADS_PREFIX}/{branch}/"), format!("{OUTPUTS_PREFIX}/{branch}/")]
}

/// An upload's key, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UploadKey {
    /// The branch the assembly ran on.
    pub branch: String,
    /// The assembly it belongs to.
    pub assembly_id: String,
    /// Which announced upload of the assembly (and of which attempt) it is.
    pub upload_id: String,
    /// The user's file name.
    pub name: String,
}

/// A key outside the uploads layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "object key `{0}` is not an upload (expected uploads/{{branch}}/{{assembly_id}}/{{upload_id}}/{{name}})"
)]
pub struct NotAnUpload(pub String);

impl UploadKey {
    /// The object key.
    pub fn key(&self) -> String {
        format!("{UPLOADS_PREFIX}/{}/{}/{}/{}", self.branch, self.assembly_id, self.upload_id, self.name)
    }

    /// The prefix holding every upload of an assembly.
    pub fn assembly_prefix(branch: &str, assembly_id: &str) -> String {
        format!("{UPLOADS_PREFIX}/{branch}/{assembly_id}/")
    }

    /// Splits an uploads key into its parts, checking each: a valid branch name, hex ids of
    /// the right lengths, and a file name without `/`.
    pub fn parse(key: &str) -> Result<UploadKey, NotAnUpload> {
        let not_upload = || NotAnUpload(key.to_owned());
        let mut parts = key.splitn(5, '/');
        let (Some(UPLOADS_PREFIX), Some(branch), Some(assembly_id), Some(upload_id), Some(name)) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(not_upload());
        };
        let hex_id = |id: &str, len: usize| {
            id.len() == len && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        if check_name("branch", branch).is_err()
            || !hex_id(assembly_id, 64)
            || !hex_id(upload_id, 32)
            || name.is_empty()
            || name.contains('/')
        {
            return Err(not_upload());
        }
        Ok(UploadKey {
            branch: branch.into(),
            assembly_id: assembly_id.into(),
            upload_id: upload_id.into(),
            name: name.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AID: &str = "f50ea2cbed5208ace1069f28ff46e252347659e10ee93334a49807a29e533461";
    const UID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn upload_keys_round_trip() {
        let key = format!("uploads/feature-x/{AID}/{UID}/a b+c&d.mov");
        let upload = UploadKey::parse(&key).unwrap();
        assert_eq!((upload.branch.as_str(), upload.name.as_str()), ("feature-x", "a b+c&d.mov"));
        assert_eq!(upload.key(), key);
        assert!(key.starts_with(&UploadKey::assembly_prefix("feature-x", AID)));
    }

    #[test]
    fn foreign_keys_are_not_uploads() {
        for key in [
            "outputs/main/a/b/c".to_owned(),
            format!("uploads/main/{AID}/{UID}"),
            format!("uploads/../{AID}/{UID}/x"),
            format!("uploads/main/{}/{UID}/x", &AID[..10]),
            format!("uploads/main/{AID}/{UID}/dir/x"),
        ] {
            assert_eq!(UploadKey::parse(&key), Err(NotAnUpload(key.clone())), "{key}");
        }
    }

    #[test]
    fn results_live_under_their_step() {
        let key = output_key("main", AID, "hls", "clip/master.m3u8");
        assert_eq!(key, format!("outputs/main/{AID}/hls/clip/master.m3u8"));
        assert!(key.starts_with(&outputs_prefix("main", AID)));
        assert_eq!(branch_prefixes("main"), ["uploads/main/".to_owned(), "outputs/main/".to_owned()]);
    }
}
