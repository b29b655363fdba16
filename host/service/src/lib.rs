//! The Transflow service: everything around the runtime that turns it into a system.
//!
//! The queue worker ([`worker`]) runs assemblies on any backends; webhooks ([`webhook`]) tell
//! users they ended; the HTTP API and upload page ([`api`]) create assemblies and answer their
//! status; [`retention`] expires and removes what is no longer needed. [`config`] reads
//! `transflow.toml` and [`open_backends`](backends::open_backends) opens the backends it
//! names; the embedded stack of `transflow dev` ([`embedded`]) and the Lambda worker's handler
//! ([`lambda`]) are the two ways the pieces are put together in one process.

pub mod api;
pub mod backends;
pub mod config;
pub mod embedded;
pub mod lambda;
pub mod retention;
pub mod webhook;
pub mod worker;
