//! Deterministic ids.
//!
//! An assembly id is a function of what was uploaded and how it is to be processed, so a
//! client that uploads the same files again with the same template finds the same assembly
//! (and, once it has completed, its results) instead of paying for the work twice.
//!
//! # Byte layout
//!
//! `assembly_id = lowercase_hex(sha256(S))` where `S` is the UTF-8 string
//!
//! ```text
//! md5_1 "," md5_2 "," … md5_n ":" template_id ":" user_id ":" branch
//! ```
//!
//! - `md5_i` is the lowercase hex MD5 of upload *i* (32 characters); the list is sorted
//!   ascending (byte order), duplicates kept, so upload order does not matter;
//! - a single file has no comma: `md5 ":" template_id ":" user_id ":" branch`.
//!
//! The user fields are not part of the id (the brief's formula); submitting the same files to
//! the same template with other fields finds the earlier assembly.

use sha2::{Digest, Sha256};

/// The assembly id for these uploads (their MD5s, in any order), template, user and branch.
pub fn assembly_id(md5s: &[String], template_id: &str, user_id: &str, branch: &str) -> String {
    let mut sorted: Vec<String> = md5s.iter().map(|m| m.to_ascii_lowercase()).collect();
    sorted.sort();
    let preimage = format!("{}:{template_id}:{user_id}:{branch}", sorted.join(","));
    hex::encode(Sha256::digest(preimage.as_bytes()))
}

/// A 32-hex id for a file within an assembly, stable across re-runs:
/// `hex(sha256(assembly_id ":" scope ":" name))[..32]`, where `scope` is the upload index or
/// the step name.
pub fn file_id(assembly_id: &str, scope: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("{assembly_id}:{scope}:{name}").as_bytes());
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "9e107d9d372bb6826bd81d3542a419d6";
    const B: &str = "e4d909c290d0fb1ca068ffaddf22cbd0";

    #[test]
    fn single_file_layout() {
        let expected = hex::encode(Sha256::digest(format!("{A}:video-encode:alice:main").as_bytes()));
        assert_eq!(assembly_id(&[A.into()], "video-encode", "alice", "main"), expected);
    }

    #[test]
    fn batch_layout_sorts_md5s() {
        let expected = hex::encode(Sha256::digest(format!("{A},{B}:hls:bob:feature-x").as_bytes()));
        assert_eq!(assembly_id(&[B.into(), A.into()], "hls", "bob", "feature-x"), expected);
        assert_eq!(assembly_id(&[A.into(), B.into()], "hls", "bob", "feature-x"), expected);
    }

    #[test]
    fn known_vector() {
        // `printf '9e107d9d372bb6826bd81d3542a419d6:t:u:b' | sha256sum`
        let expected = "f50ea2cbed5208ace1069f28ff46e252347659e10ee93334a49807a29e533461";
        assert_eq!(assembly_id(&[A.into()], "t", "u", "b"), expected);
        assert_eq!(assembly_id(&[A.to_uppercase()], "t", "u", "b"), expected);
    }

    #[test]
    fn every_part_changes_the_id() {
        let base = assembly_id(&[A.into()], "t", "u", "b");
        assert_ne!(base, assembly_id(&[B.into()], "t", "u", "b"));
        assert_ne!(base, assembly_id(&[A.into()], "t2", "u", "b"));
        assert_ne!(base, assembly_id(&[A.into()], "t", "u2", "b"));
        assert_ne!(base, assembly_id(&[A.into()], "t", "u", "b2"));
        assert_ne!(base, assembly_id(&[A.into(), A.into()], "t", "u", "b"));
    }
}
