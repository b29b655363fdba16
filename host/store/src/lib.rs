//! What every part of Transflow agrees on about stored assemblies: the assembly model
//! ([`assembly`], [`template`], [`notify`]), the four backend traits ([`backends`]) with the
//! object-key layout ([`keys`]) and the one way status records are written ([`status_writer`]),
//! plus what the backends share: a template registry over any blob store ([`blob_registry`]),
//! prefix-signed file URLs ([`prefix_urls`]) and per-process scratch directories
//! ([`process_dir`]). With the `contract` feature, [`contract`] holds the suite every backend
//! implementation must pass.
//!
//! It depends on no backend, no engine and no web framework: backends and the runtime depend
//! on it, never the other way round.

pub mod assembly;
pub mod backends;
pub mod blob_registry;
#[cfg(feature = "contract")]
pub mod contract;
pub mod keys;
pub mod notify;
pub mod prefix_urls;
pub mod process_dir;
pub mod status_writer;
pub mod template;
