//! Write Transflow templates in Rust.
//!
//! A template is a WebAssembly component (wasm32-wasip2) that describes a pipeline of steps and
//! runs them one at a time inside the Transflow host. It never reads media bytes itself: it asks
//! the host for its inputs (workspace paths), reserves output paths, runs ffmpeg on the host with
//! those paths, and emits the files it made as results.
//!
//! ```ignore
//! use transflow_sdk::prelude::*;
//!
//! struct Poster;
//!
//! impl Template for Poster {
//!     fn describe() -> TemplateInfo {
//!         TemplateInfo::new("poster", "One JPEG frame from the middle of each video")
//!             .step(StepInfo::new("poster", "the middle frame").uses(ORIGINAL))
//!     }
//!
//!     fn run_step(_step: &str, ctx: &Context) -> Result<(), StepError> {
//!         for input in ctx.inputs() {
//!             let at = input.duration().unwrap_or(0.0) / 2.0;
//!             let out = ctx.reserve_output(&format!("{}.jpg", input.stem()))?;
//!             ctx.ffmpeg(["-ss", &format!("{at:.3}"), "-i", &input.path, "-frames:v", "1", &out])
//!                 .run()?;
//!             ctx.emit(&out, Some(&input.original_id))?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! transflow_sdk::export!(Poster);
//! ```
//!
//! Output names are built from [`Input::stem`], never from the raw `name` or `basename`: an
//! upload may be called `50% off.mp4` or `concat:x.mp4`, which ffmpeg would read as an image
//! pattern or a protocol. The stem is that name made safe (`50_off`, `concat_x`; see
//! [`safe_stem`]), so every upload name the API accepts gives results.
//!
//! The bindings generated from `wit/transflow.wit` stay hidden in [`__bindings`]; this crate's
//! own types are the API, so templates keep compiling when the contract grows.
#![deny(missing_docs)]

// The generated bindings name this crate by its public path, so it must resolve inside it too.
extern crate self as transflow_sdk;

mod context;
mod describe;
mod error;
mod ffmpeg;
mod fields;
mod stem;

#[doc(hidden)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "template",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "transflow_sdk::__bindings",
        runtime_path: "transflow_sdk::__bindings::__wit_bindgen::rt",
    });
    pub use wit_bindgen as __wit_bindgen;
}

pub use context::{Context, Input, LogLevel};
pub use describe::{FieldInfo, StepInfo, TemplateInfo, Webhook};
pub use error::{Error, StepError};
pub use ffmpeg::{FfmpegRun, MediaMeta, SpawnedRun, join_all};
pub use stem::{STEM_MAX, safe_stem};

/// The `uses` entry that means "the assembly's uploads".
pub const ORIGINAL: &str = ":original";

/// What a template implements. The host calls [`Template::describe`] to learn the steps, then
/// [`Template::run_step`] once per step in dependency order.
pub trait Template {
    /// The template's id, steps, fields and optional webhook. Must not call host functions.
    fn describe() -> TemplateInfo;

    /// Runs one step. `ctx` gives the step's inputs, outputs, fields, ffmpeg and progress.
    fn run_step(step: &str, ctx: &Context) -> Result<(), StepError>;
}

/// Everything a template usually needs, in one `use`.
pub mod prelude {
    pub use crate::{
        Context, Error, FieldInfo, Input, MediaMeta, ORIGINAL, SpawnedRun, StepError, StepInfo, Template,
        TemplateInfo, Webhook, join_all,
    };
}

/// Exports a [`Template`] implementation as the component's `pipeline`.
///
/// Use it once per template crate, at the crate root: `transflow_sdk::export!(MyTemplate);`
#[macro_export]
macro_rules! export {
    ($template:ty) => {
        #[doc(hidden)]
        struct __TransflowExport;

        impl $crate::__bindings::exports::transflow::template::pipeline::Guest for __TransflowExport {
            fn describe() -> $crate::__bindings::exports::transflow::template::pipeline::TemplateInfo {
                <$template as $crate::Template>::describe().into_wit()
            }

            fn run_step(
                step: ::std::string::String,
            ) -> ::std::result::Result<(), $crate::__bindings::exports::transflow::template::pipeline::StepError> {
                let ctx = $crate::Context::for_step(&step);
                <$template as $crate::Template>::run_step(&step, &ctx).map_err($crate::StepError::into_wit)
            }
        }

        $crate::__bindings::__export_world!(__TransflowExport with_types_in $crate::__bindings);
    };
}
