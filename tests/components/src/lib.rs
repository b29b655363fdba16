//! Paths of the guest components the tests run, built by `build.rs`.
//!
//! Built-in templates: `VIDEO_THUMBNAILS`, `VIDEO_ENCODE`, `HLS`, `AUDIO_ENCODE`, `IMAGE_RESIZE`.
//! Hostile fixtures (see each crate's doc comment for what it expects): `TRAP_STEP`,
//! `SPIN_FOREVER`, `EXHAUST_MEMORY`, `FFMPEG_ARGS`, `HOSTILE`, `EMIT_GAMES`, `STEP_BOMB`.
//! Contract fixtures: `OLD_WIT` (built against `transflow:template@0.1.0`), `SPAWN_TWO`,
//! `STEP_GRAPH` (two independent steps and one that uses both), `FRESH_MEMORY` (what an earlier
//! instance left in its memory).

include!(concat!(env!("OUT_DIR"), "/components.rs"));
