//! `workspace`: the step's inputs, its outputs and the assembly's fields.

use crate::assembly::file_id;
use crate::bindings::transflow::template::types::{EmittedFile, InputFile};
use crate::bindings::transflow::template::workspace::Host;
use crate::bindings::{GuestError, WitMediaMeta};
use crate::job::{EmittedOutput, JobState, StepScope};
use crate::media::mime;
use crate::workspace::Workspace;
use std::io::Read;

type GuestResult<T> = wasmtime::Result<Result<T, GuestError>>;

impl Host for JobState {
    async fn inputs(&mut self) -> wasmtime::Result<Vec<InputFile>> {
        let scope = self.charge()?;
        Ok(scope
            .inputs
            .iter()
            .map(|i| InputFile {
                id: i.id.clone(),
                path: i.path.clone(),
                name: i.name.clone(),
                basename: i.basename.clone(),
                ext: i.ext.clone(),
                mime: i.mime.clone(),
                size: i.size,
                from_step: i.from_step.clone(),
                original_id: i.original_id.clone(),
                meta: i.meta.as_ref().map(WitMediaMeta::from),
            })
            .collect())
    }

    async fn reserve_output(&mut self, name: String) -> GuestResult<String> {
        let scope = self.charge()?;
        Ok(scope.workspace.reserve_output(&scope.step, &name).map_err(|refusal| {
            GuestError::InvalidRequest(format!("output name `{name}`: {}", refusal.reason))
        }))
    }

    async fn pending_outputs(&mut self) -> GuestResult<Vec<String>> {
        let scope = self.charge()?;
        let written = scope.workspace.files_under(&Workspace::step_dir(&scope.step))?;
        Ok(Ok(written.into_iter().filter(|path| !scope.emitted.iter().any(|e| &e.path == path)).collect()))
    }

    async fn emit(&mut self, path: String, original_id: Option<String>) -> GuestResult<EmittedFile> {
        let scope = self.charge()?;
        let output = match check_emit(scope, &path, original_id) {
            Ok(output) => output,
            Err(error) => return Ok(Err(error)),
        };
        let Some(absolute) = scope.workspace.resolve_file(&path) else {
            return Ok(Err(GuestError::NotFound(format!("`{path}` was not written"))));
        };
        let size = std::fs::metadata(&absolute)?.len();
        let meta = scope.tools.probe(scope.workspace.root(), &path).await.ok().flatten();
        let mut head = Vec::with_capacity(16);
        std::fs::File::open(&absolute)?.take(16).read_to_end(&mut head)?;
        let ext = output.name.rsplit_once('.').map_or(String::new(), |(_, e)| e.to_ascii_lowercase());
        let has_video = meta.as_ref().is_some_and(|m| m.video_codec.is_some());
        let mime = mime::detect(meta.as_ref().and_then(|m| m.format.as_deref()), has_video, &head, &ext);
        let emitted = EmittedOutput { size, mime, meta, ..output };
        let reply = EmittedFile {
            id: emitted.id.clone(),
            name: emitted.name.clone(),
            size: emitted.size,
            mime: emitted.mime.clone(),
            meta: emitted.meta.as_ref().map(WitMediaMeta::from),
        };
        scope.emitted.push(emitted);
        Ok(Ok(reply))
    }

    async fn fields(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self.charge()?.fields.clone())
    }
}

/// Checks an `emit` request before touching the file: the path is this step's, not emitted
/// yet, within the output count, and `original_id` names an upload this step derives from.
fn check_emit(
    scope: &StepScope,
    path: &str,
    original_id: Option<String>,
) -> Result<EmittedOutput, GuestError> {
    let prefix = format!("{}/", Workspace::step_dir(&scope.step));
    let Some(name) = path.strip_prefix(&prefix) else {
        return Err(GuestError::InvalidRequest(format!(
            "`{path}` is not an output of step `{}`",
            scope.step
        )));
    };
    if scope.emitted.iter().any(|e| e.path == path) {
        return Err(GuestError::InvalidRequest(format!("`{path}` was already emitted")));
    }
    if scope.emitted.len() >= scope.limits.outputs {
        return Err(GuestError::LimitExceeded(format!(
            "a step may emit at most {} results",
            scope.limits.outputs
        )));
    }
    let original_id = match original_id {
        Some(id) if scope.inputs.iter().any(|i| i.original_id == id) => id,
        Some(id) => {
            return Err(GuestError::InvalidRequest(format!("`{id}` is not an upload this step uses")));
        }
        None => scope.inputs.first().map(|i| i.original_id.clone()).unwrap_or_default(),
    };
    Ok(EmittedOutput {
        id: file_id(&scope.assembly_id, &scope.step, name),
        path: path.to_owned(),
        name: name.to_owned(),
        size: 0,
        mime: String::new(),
        meta: None,
        original_id,
    })
}
