//! `workspace`: the step's inputs, its outputs and the assembly's fields.

use crate::bindings::transflow::template::types::{EmittedFile, InputFile};
use crate::bindings::transflow::template::workspace::Host;
use crate::bindings::{GuestError, WitMediaMeta};
use crate::job::{EmittedOutput, JobState, StepScope};
use crate::probe::probe_file;
use crate::runner::HostFault;
use crate::workspace::{EmitError, FileIdentity, NameError, ReserveError, StepFile, Workspace};
use transflow_store::assembly::file_id;

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
        match scope.workspace.reserve_output(&scope.step, &name, &mut scope.reserved) {
            Ok(path) => Ok(Ok(path)),
            Err(error @ ReserveError::Name { reason: NameError::Invalid(_), .. }) => {
                Ok(Err(GuestError::InvalidRequest(error.to_string())))
            }
            Err(error @ (ReserveError::Name { .. } | ReserveError::TooMany { .. })) => {
                Ok(Err(GuestError::LimitExceeded(error.to_string())))
            }
            Err(error @ ReserveError::Io { .. }) => Err(wasmtime::Error::new(HostFault(error.to_string()))),
        }
    }

    /// The step's files that `emit` would still accept: neither emitted nor another name (a
    /// hard link) of an emitted file.
    async fn pending_outputs(&mut self) -> GuestResult<Vec<String>> {
        let scope = self.charge()?;
        let written = scope.workspace.files_under(&Workspace::step_dir(&scope.step))?;
        let mut pending = Vec::with_capacity(written.len());
        for path in written {
            let identity = FileIdentity::of(&std::fs::metadata(scope.workspace.root().join(&path))?);
            if !scope.emitted.iter().any(|e| e.path == path || e.identity.same_file(&identity)) {
                pending.push(path);
            }
        }
        Ok(Ok(pending))
    }

    async fn emit(&mut self, path: String, original_id: Option<String>) -> GuestResult<EmittedFile> {
        let scope = self.charge()?;
        let (file, original_id) = match check_emit(scope, &path, original_id)? {
            Ok(checked) => checked,
            Err(error) => return Ok(Err(error)),
        };
        // Probed through the resolved path: the file that will be kept.
        let root = scope.workspace.root();
        let probed = probe_file(&scope.tools, root, &file.path, &file.name, file.identity.size).await?;
        let id = file_id(&scope.assembly_id, &scope.step, &file.name);
        let emitted =
            EmittedOutput { id, path: file.path, identity: file.identity, facts: probed.facts, original_id };
        let reply = EmittedFile {
            id: emitted.id.clone(),
            name: emitted.facts.name.clone(),
            size: emitted.identity.size,
            mime: emitted.facts.mime.clone(),
            meta: emitted.facts.meta.as_ref().map(WitMediaMeta::from),
        };
        scope.emitted.push(emitted);
        Ok(Ok(reply))
    }

    async fn fields(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self.charge()?.fields.clone())
    }
}

/// Checks an `emit` request: the path names a file of this step (canonically spelled, symlinks
/// resolved, see [`Workspace::step_file`]), that file was not emitted yet under any name (same
/// resolved path or same inode: one file emitted twice would be kept twice, once onto itself),
/// the step is within its output count, and `original_id` names an upload this step derives from.
/// Returns the file and the upload it derives from.
fn check_emit(scope: &StepScope, path: &str, original_id: Option<String>) -> GuestResult<(StepFile, String)> {
    let file = match scope.workspace.step_file(&scope.step, path) {
        Ok(file) => file,
        Err(error @ EmitError::Io { .. }) => return Err(wasmtime::Error::new(HostFault(error.to_string()))),
        Err(error @ EmitError::Missing { .. }) => return Ok(Err(GuestError::NotFound(error.to_string()))),
        Err(error) => return Ok(Err(GuestError::InvalidRequest(error.to_string()))),
    };
    if let Some(earlier) =
        scope.emitted.iter().find(|e| e.path == file.path || e.identity.same_file(&file.identity))
    {
        let earlier = format!("{}/{}", Workspace::step_dir(&scope.step), earlier.facts.name);
        return Ok(Err(GuestError::InvalidRequest(format!(
            "`{path}` is the file emitted already as `{earlier}`; emit each file once"
        ))));
    }
    if scope.emitted.len() >= scope.limits.outputs {
        return Ok(Err(GuestError::LimitExceeded(format!(
            "a step may emit at most {} results",
            scope.limits.outputs
        ))));
    }
    let original_id = match original_id {
        Some(id) if scope.inputs.iter().any(|i| i.original_id == id) => id,
        Some(id) => {
            return Ok(Err(GuestError::InvalidRequest(format!("`{id}` is not an upload this step uses"))));
        }
        None => scope.inputs.first().map(|i| i.original_id.clone()).unwrap_or_default(),
    };
    Ok(Ok((file, original_id)))
}
