//! The one `bindgen!` for the `transflow:template` world.
//!
//! Imports are async (ffmpeg runs take seconds to hours) and trappable (a guest that exhausts
//! its host-call budget is stopped with a trap, not an error it could ignore).

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "template",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use exports::transflow::template::pipeline::{StepError, StepInfo, TemplateInfo};
pub use transflow::template::types::{Error as GuestError, MediaMeta as WitMediaMeta};
