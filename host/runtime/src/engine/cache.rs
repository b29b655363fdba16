//! The on-disk cache of compiled components, and why the host may trust what it reads back.
//!
//! A cached artifact is native code: `Component::deserialize` maps it executable without any
//! check that wasmtime could make of its contents. Whoever can replace a `.cwasm` file therefore
//! runs code in the host process, with the worker's AWS credentials. Two things keep that from
//! happening:
//!
//! 1. **Where the cache is.** Only the host writes it, and it is never under a job workspace:
//!    tools (ffmpeg, ffprobe) run with their working directory in a workspace under the data
//!    directory's `work/`, while the cache is its sibling `cache/` (`{data_dir}/cache`, in Lambda
//!    `/tmp/transflow/cache`). [`super::TemplateEngine::check_cache_outside`] refuses a layout
//!    where one contains the other. The directory is created mode 0700 and files 0600, which
//!    keeps other users out but not a tool running as the worker's own user; that is what the
//!    sandbox (bubblewrap, and Landlock limiting a tool's writes to its step's output
//!    directory) and the argument policy are for.
//! 2. **A MAC on every artifact.** Each file starts with a header holding an HMAC-SHA256 of the
//!    artifact, its component's sha256 and the engine tag (so a valid artifact copied to another
//!    version's name does not verify either), under a key generated at random when the process
//!    first uses the cache and kept only in its memory. A file is read whole into memory,
//!    verified, and the verified bytes (never the file again) are deserialized. An artifact
//!    that claims to be this process's but does not verify is deleted and recompiled, with a
//!    warning: something other than this process wrote it.
//!
//! ## Where the key lives
//!
//! By default the key is random, made once per process and kept only in its memory: no file
//! path reaches it, whatever a tool can read. The price is that a fresh process cannot verify
//! what an earlier one left, so it compiles each template version once more (the file is then
//! replaced; this is logged at info, not warn). Measured with this engine (dependencies
//! optimised, 2 shared vCPUs):
//!
//! | component | compile | verified load from disk |
//! |---|---|---|
//! | `video-thumbnails`, Rust, 135 KiB (390 KiB compiled) | 0.32 s | 0.67 ms |
//! | `video-thumbnails-ts`, 11.3 MiB (35 MiB compiled) | 19.5 s | 64 ms |
//!
//! That is free for Lambda (a new execution environment starts with an empty `/tmp` anyway)
//! but would make every `transflow run` of a TypeScript or Python template compile for 11–20 s.
//! So processes that restart on one machine (the CLI, `transflow dev`, `transflow worker`) keep
//! the key in a file ([`super::EngineSettings::cache_key_file`], `{data_dir}/secrets/`, mode
//! 0600 in a 0700 directory): outside the cache and every workspace, and out of any tool's
//! reach, since Landlock (and bubblewrap where it works) lets tools read only the system's
//! directories and their own workspace. Where neither confines tools, the argument policy
//! alone keeps them from naming the file.
//!
//! The verified load reads the whole file, checks its MAC and deserializes from memory, which
//! for 35 MiB costs tens of milliseconds more than mapping the file; only then are the bytes
//! that were checked the bytes that are loaded.
//!
//! Within a process the key is shared by every engine, so workers of one process (and tests)
//! still share compiled code through the disk.

use super::EngineError;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};

type HmacSha256 = Hmac<Sha256>;

/// First bytes of every artifact this cache writes (format version 1).
const MAGIC: &[u8; 8] = b"TFCWASM1";
/// The header: magic, key id, MAC.
const KEY_ID_LEN: usize = 8;
const MAC_LEN: usize = 32;
const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN + MAC_LEN;

/// The key that authenticates artifacts.
struct CacheKey {
    secret: [u8; 32],
    /// Names the key in file headers so a file from another process is told apart from a forged
    /// one (it is a hash of the key, which does not reveal it).
    id: [u8; KEY_ID_LEN],
}

impl CacheKey {
    fn generate() -> CacheKey {
        // `rand::random` draws from the thread's CSPRNG, seeded from the operating system.
        let secret: [u8; 32] = rand::random();
        CacheKey::from_secret(secret)
    }

    fn from_secret(secret: [u8; 32]) -> CacheKey {
        let digest =
            Sha256::new().chain_update(b"transflow component cache key id\0").chain_update(secret).finalize();
        let mut id = [0; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        CacheKey { secret, id }
    }

    /// This process's key, made on first use and kept only in memory.
    fn process() -> Arc<CacheKey> {
        static KEY: OnceLock<Arc<CacheKey>> = OnceLock::new();
        KEY.get_or_init(|| Arc::new(CacheKey::generate())).clone()
    }

    /// The key kept in `path`, made there (mode 0600, its directory 0700) when absent.
    fn stored(path: &Path) -> std::io::Result<CacheKey> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let secret = bytes.try_into().map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "a cache key file holds 32 bytes")
                })?;
                return Ok(CacheKey::from_secret(secret));
            }
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            Err(_) => {}
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let key = CacheKey::generate();
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary)?;
        file.write_all(&key.secret)?;
        // Two processes starting at once: the first link wins and both read the winner's key.
        std::fs::hard_link(&temporary, path).or_else(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(e),
        })?;
        std::fs::remove_file(&temporary)?;
        CacheKey::stored(path)
    }

    fn mac(&self, version: &str, engine_tag: &str, artifact: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        for part in [b"transflow component cache v1".as_slice(), version.as_bytes(), engine_tag.as_bytes()] {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac.update(artifact);
        mac
    }
}

/// Compiled code read back from the cache and verified: the only bytes the engine deserializes.
pub(super) struct Verified {
    file: Vec<u8>,
}

impl Verified {
    /// The artifact as `serialize` produced it.
    pub(super) fn artifact(&self) -> &[u8] {
        &self.file[HEADER_LEN..]
    }
}

/// The compiled-code cache in one directory, authenticated with one key.
pub(super) struct CodeCache {
    dir: PathBuf,
    key: Arc<CacheKey>,
}

impl CodeCache {
    /// The cache in `dir`, with the key kept in `key_file`, or this process's key when `None`.
    pub(super) fn new(dir: PathBuf, key_file: Option<&Path>) -> Result<CodeCache, EngineError> {
        let key = match key_file {
            None => CacheKey::process(),
            Some(path) => Arc::new(
                CacheKey::stored(path)
                    .map_err(|source| EngineError::Cache { path: path.to_owned(), source })?,
            ),
        };
        Ok(CodeCache { dir, key })
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the artifact of component `version` compiled by the engine `engine_tag` is kept.
    pub(super) fn path(&self, version: &str, engine_tag: &str) -> PathBuf {
        self.dir.join(format!("{version}-{engine_tag}.cwasm"))
    }

    /// The cached artifact for `version`, if there is one this process wrote and it verifies.
    /// Anything else in its place is deleted, so the caller compiles and stores it afresh.
    pub(super) fn read(&self, version: &str, engine_tag: &str) -> Option<Verified> {
        let path = self.path(version, engine_tag);
        let file = match std::fs::read(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read a cached component; recompiling");
                return None;
            }
        };
        match self.verify(version, engine_tag, &file) {
            Ok(()) => return Some(Verified { file }),
            Err(Rejection::OtherKey) => tracing::info!(
                path = %path.display(),
                "cached component was compiled by another process and cannot be verified; recompiling"
            ),
            Err(Rejection::Forged(why)) => tracing::warn!(
                path = %path.display(),
                why,
                "cached component failed verification: deleting it and recompiling"
            ),
        }
        if let Err(error) = std::fs::remove_file(&path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), %error, "cannot delete an unverified cached component");
        }
        None
    }

    fn verify(&self, version: &str, engine_tag: &str, file: &[u8]) -> Result<(), Rejection> {
        if file.len() < HEADER_LEN || !file.starts_with(MAGIC) {
            return Err(Rejection::Forged("no transflow cache header"));
        }
        let (key_id, rest) = file[MAGIC.len()..].split_at(KEY_ID_LEN);
        let (tag, artifact) = rest.split_at(MAC_LEN);
        if key_id != self.key.id {
            return Err(Rejection::OtherKey);
        }
        self.key
            .mac(version, engine_tag, artifact)
            .verify_slice(tag)
            .map_err(|_| Rejection::Forged("the MAC does not match"))
    }

    /// Stores `artifact` (from `serialize`) for `version` with its header, atomically.
    pub(super) fn write(&self, version: &str, engine_tag: &str, artifact: &[u8]) -> Result<(), EngineError> {
        let path = self.path(version, engine_tag);
        let cache_error = |source| EngineError::Cache { path: path.clone(), source };
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir).map_err(cache_error)?;
        let tag = self.key.mac(version, engine_tag, artifact).finalize().into_bytes();
        let temporary =
            path.with_extension(format!("tmp{}-{:016x}", std::process::id(), rand::random::<u64>()));
        let written = (|| {
            let mut file =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary)?;
            file.write_all(MAGIC)?;
            file.write_all(&self.key.id)?;
            file.write_all(&tag)?;
            file.write_all(artifact)?;
            std::fs::rename(&temporary, &path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written.map_err(cache_error)
    }
}

/// Why a cached file is not used.
enum Rejection {
    /// Written under another key: expected after a restart with a per-process key.
    OtherKey,
    /// Not written by this process although it claims to be, or not a cache file at all.
    Forged(&'static str),
}

/// Whether `inner` is `outer` or lies under it, comparing real paths where they exist.
pub(super) fn contains(outer: &Path, inner: &Path) -> bool {
    let outer = resolved(outer);
    let inner = resolved(inner);
    inner.starts_with(&outer)
}

/// `path` made absolute, with symlinks resolved where it exists and `.`/`..` applied as the
/// kernel would.
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut real = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                real.pop();
            }
            other => {
                real.push(other);
                if let Ok(canonical) = real.canonicalize() {
                    real = canonical;
                }
            }
        }
    }
    real
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERSION: &str = "aaaa";
    const OTHER_VERSION: &str = "bbbb";
    const TAG: &str = "0123456789abcdef";

    fn cache() -> (tempfile::TempDir, CodeCache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = CodeCache::new(dir.path().join("cache"), None).unwrap();
        (dir, cache)
    }

    #[test]
    fn an_artifact_this_process_wrote_reads_back() {
        let (_dir, cache) = cache();
        assert!(cache.read(VERSION, TAG).is_none());
        cache.write(VERSION, TAG, b"native code").unwrap();
        assert_eq!(cache.read(VERSION, TAG).unwrap().artifact(), b"native code");
        assert!(cache.path(VERSION, TAG).is_file(), "a verified artifact stays");
    }

    #[test]
    fn files_and_directory_are_private_to_the_host_user() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, cache) = cache();
        cache.write(VERSION, TAG, b"native code").unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(cache.dir()), 0o700);
        assert_eq!(mode(&cache.path(VERSION, TAG)), 0o600);
    }

    #[test]
    fn a_changed_artifact_is_deleted_not_returned() {
        let (_dir, cache) = cache();
        cache.write(VERSION, TAG, b"native code").unwrap();
        let path = cache.path(VERSION, TAG);
        let mut file = std::fs::read(&path).unwrap();
        *file.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &file).unwrap();
        assert!(cache.read(VERSION, TAG).is_none());
        assert!(!path.exists(), "the tampered file is deleted");
    }

    #[test]
    fn a_changed_mac_or_a_missing_header_is_rejected() {
        let (_dir, cache) = cache();
        let path = cache.path(VERSION, TAG);
        cache.write(VERSION, TAG, b"native code").unwrap();
        let mut file = std::fs::read(&path).unwrap();
        file[MAGIC.len() + KEY_ID_LEN] ^= 0x80;
        std::fs::write(&path, &file).unwrap();
        assert!(cache.read(VERSION, TAG).is_none());
        assert!(!path.exists());

        // What earlier hosts wrote, or wasmtime's own format: no header, so never trusted.
        std::fs::write(&path, b"\x7fELF raw artifact without a header, long enough to hold one").unwrap();
        assert!(cache.read(VERSION, TAG).is_none());
        assert!(!path.exists());
        std::fs::write(&path, b"short").unwrap();
        assert!(cache.read(VERSION, TAG).is_none());
    }

    #[test]
    fn a_valid_artifact_under_another_versions_name_is_rejected() {
        let (_dir, cache) = cache();
        cache.write(VERSION, TAG, b"code of aaaa").unwrap();
        std::fs::copy(cache.path(VERSION, TAG), cache.path(OTHER_VERSION, TAG)).unwrap();
        assert!(cache.read(OTHER_VERSION, TAG).is_none());
        std::fs::copy(cache.path(VERSION, TAG), cache.path(VERSION, "fedcba9876543210")).unwrap();
        assert!(cache.read(VERSION, "fedcba9876543210").is_none(), "the engine tag is covered too");
        assert!(cache.read(VERSION, TAG).is_some());
    }

    #[test]
    fn an_artifact_under_another_key_is_not_trusted() {
        let (_dir, cache) = cache();
        let earlier = CodeCache { dir: cache.dir().to_owned(), key: Arc::new(CacheKey::generate()) };
        earlier.write(VERSION, TAG, b"native code").unwrap();
        assert!(earlier.read(VERSION, TAG).is_some());
        assert!(cache.read(VERSION, TAG).is_none(), "another process's artifact is recompiled");
        assert!(!cache.path(VERSION, TAG).exists());

        // Copying this process's key id into a file does not make it verify.
        earlier.write(VERSION, TAG, b"native code").unwrap();
        let path = cache.path(VERSION, TAG);
        let mut file = std::fs::read(&path).unwrap();
        file[MAGIC.len()..MAGIC.len() + KEY_ID_LEN].copy_from_slice(&cache.key.id);
        std::fs::write(&path, &file).unwrap();
        assert!(cache.read(VERSION, TAG).is_none());
    }

    #[test]
    fn the_key_is_per_process_and_its_id_does_not_reveal_it() {
        assert!(Arc::ptr_eq(&CacheKey::process(), &CacheKey::process()));
        let key = CacheKey::from_secret([7; 32]);
        assert_ne!(&key.id[..], &key.secret[..KEY_ID_LEN]);
        assert_ne!(CacheKey::generate().secret, CacheKey::generate().secret);
    }

    #[test]
    fn a_stored_key_survives_a_restart_and_stays_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("secrets/cache.key");
        let first = CodeCache::new(dir.path().join("cache"), Some(&key_file)).unwrap();
        first.write(VERSION, TAG, b"native code").unwrap();
        let restarted = CodeCache::new(dir.path().join("cache"), Some(&key_file)).unwrap();
        assert_eq!(restarted.read(VERSION, TAG).unwrap().artifact(), b"native code");
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&key_file), mode(key_file.parent().unwrap())), (0o600, 0o700));
        std::fs::write(&key_file, b"short").unwrap();
        assert!(CodeCache::new(dir.path().join("cache"), Some(&key_file)).is_err());
    }

    #[test]
    fn containment_compares_resolved_paths() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        std::fs::create_dir_all(data.join("work")).unwrap();
        assert!(!contains(&data.join("work"), &data.join("cache")));
        assert!(!contains(&data.join("cache"), &data.join("work")));
        assert!(contains(&data.join("work"), &data.join("work/job-1/cache")));
        assert!(contains(&data.join("work"), &data.join("cache/../work/x")));
        assert!(contains(&data.join("work"), &data.join("work")));
        std::os::unix::fs::symlink(data.join("work"), data.join("cache")).unwrap();
        assert!(contains(&data.join("work"), &data.join("cache")), "a symlink into the workspaces");
    }
}
