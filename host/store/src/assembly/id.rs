//! Deterministic ids.
//!
//! An assembly id is a function of what was uploaded and how it is to be processed, so a
//! client that uploads the same files again with the same template and fields finds the same
//! assembly (and, once it has completed, its results) instead of paying for the work twice.
//! Other fields are other work, so they are part of the id.
//!
//! # Byte layout
//!
//! `assembly_id = lowercase_hex(sha256(S))` where `S` is the UTF-8 string
//!
//! ```text
//! md5_1 "," md5_2 "," … md5_n ":" template_id ":" user_id ":" branch ":" fields_json
//! ```
//!
//! - `md5_i` is the lowercase hex MD5 of upload *i* (32 characters); the list is sorted
//!   ascending (byte order), duplicates kept, so upload order does not matter;
//! - a single file has no comma: `md5 ":" template_id ":" user_id ":" branch ":" fields_json`;
//! - `fields_json` is the fields as one compact JSON object: keys sorted by their bytes, no
//!   whitespace, strings escaped as `serde_json` writes them (`"`, `\`, control characters;
//!   everything else verbatim UTF-8). No fields is `{}`. Values are exact: `2` and `02` are
//!   other work, since a template may read them differently.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The assembly id for these uploads (their MD5s, in any order), template, user, branch and
/// fields.
pub fn assembly_id(
    md5s: &[String],
    template_id: &str,
    user_id: &str,
    branch: &str,
    fields: &BTreeMap<String, String>,
) -> String {
    let mut sorted: Vec<String> = md5s.iter().map(|m| m.to_ascii_lowercase()).collect();
    sorted.sort();
    let fields = serde_json::to_string(fields).expect("a map of strings serializes");
    let preimage = format!("{}:{template_id}:{user_id}:{branch}:{fields}", sorted.join(","));
    hex::encode(Sha256::digest(preimage.as_bytes()))
}

/// A 32-hex id for a file within an assembly:
/// `hex(sha256(assembly_id ":" scope ":" name))[..32]`, where `scope` is the step name for a
/// result and [`upload_scope`] for an upload.
pub fn file_id(assembly_id: &str, scope: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("{assembly_id}:{scope}:{name}").as_bytes());
    hex::encode(&digest[..16])
}

/// The scope of upload `index` (in MD5 order) of an assembly's `attempt`: `{attempt}/{index}`.
/// A new attempt gets new upload ids, so the previous attempt's upload targets stop counting.
pub fn upload_scope(attempt: u32, index: usize) -> String {
    format!("{attempt}/{index}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "9e107d9d372bb6826bd81d3542a419d6";
    const B: &str = "e4d909c290d0fb1ca068ffaddf22cbd0";

    fn no_fields() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    fn id(md5s: &[&str], template: &str, user: &str, branch: &str) -> String {
        let md5s: Vec<String> = md5s.iter().map(|m| m.to_string()).collect();
        assembly_id(&md5s, template, user, branch, &no_fields())
    }

    #[test]
    fn single_file_layout() {
        let expected = hex::encode(Sha256::digest(format!("{A}:video-encode:alice:main:{{}}").as_bytes()));
        assert_eq!(id(&[A], "video-encode", "alice", "main"), expected);
    }

    #[test]
    fn batch_layout_sorts_md5s() {
        let expected = hex::encode(Sha256::digest(format!("{A},{B}:hls:bob:feature-x:{{}}").as_bytes()));
        assert_eq!(id(&[B, A], "hls", "bob", "feature-x"), expected);
        assert_eq!(id(&[A, B], "hls", "bob", "feature-x"), expected);
    }

    #[test]
    fn known_vectors() {
        // `printf '9e107d9d372bb6826bd81d3542a419d6:t:u:b:{}' | sha256sum`
        let expected = "a46f8db900e28bd2debfde14380ea902b3085ce02fd801e6efa7f5f0bf577c6b";
        assert_eq!(id(&[A], "t", "u", "b"), expected);
        assert_eq!(id(&[&A.to_uppercase()], "t", "u", "b"), expected);
        // `printf '…:t:u:b:{"count":"3","w\\"x":"a:b"}' | sha256sum`: sorted keys, JSON escapes.
        let fields =
            BTreeMap::from([("w\"x".to_owned(), "a:b".to_owned()), ("count".to_owned(), "3".to_owned())]);
        assert_eq!(
            assembly_id(&[A.into()], "t", "u", "b", &fields),
            "6c6c362efe4f8e03ecedd86b82e35335713c60c0c427c36158fe0bff0d9d90d9"
        );
    }

    #[test]
    fn every_part_changes_the_id() {
        let base = id(&[A], "t", "u", "b");
        assert_ne!(base, id(&[B], "t", "u", "b"));
        assert_ne!(base, id(&[A], "t2", "u", "b"));
        assert_ne!(base, id(&[A], "t", "u2", "b"));
        assert_ne!(base, id(&[A], "t", "u", "b2"));
        assert_ne!(base, id(&[A, A], "t", "u", "b"));
        let with = |k: &str, v: &str| {
            assembly_id(&[A.into()], "t", "u", "b", &BTreeMap::from([(k.to_owned(), v.to_owned())]))
        };
        assert_ne!(with("count", "2"), with("count", "3"));
        assert_ne!(with("count", "2"), with("count", "02"), "values are exact");
        assert_ne!(with("count", "2"), base);
        // A separator inside a value cannot make two field sets collide.
        let two = BTreeMap::from([("a".to_owned(), "1".to_owned()), ("b".to_owned(), "2".to_owned())]);
        assert_ne!(assembly_id(&[A.into()], "t", "u", "b", &two), with("a", "1\",\"b\":\"2"));
    }

    #[test]
    fn uploads_of_another_attempt_get_other_ids() {
        let aid = id(&[A], "t", "u", "b");
        assert_ne!(
            file_id(&aid, &upload_scope(1, 0), "clip.mp4"),
            file_id(&aid, &upload_scope(2, 0), "clip.mp4")
        );
        assert_ne!(
            file_id(&aid, &upload_scope(1, 0), "clip.mp4"),
            file_id(&aid, &upload_scope(1, 1), "clip.mp4")
        );
    }
}
