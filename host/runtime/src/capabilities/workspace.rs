//! `workspace`: the step's inputs, its outputs and the assembly's fields.

use super::MeteredScope;
use crate::bindings::transflow::template::types::{EmittedFile, InputFile};
use crate::bindings::transflow::template::workspace::Host;
use crate::bindings::{GuestError, WitMediaMeta};
use crate::job::{EmittedOutput, InputRecord};
use crate::limits::JobLimits;
use crate::probe::probe_result;
use crate::traps::HostFault;
use crate::workspace::{EmitError, FileIdentity, NameError, Reservations, ReserveError, StepFile, Workspace};
use std::sync::Arc;
use transflow_ffmpeg::MediaTools;
use transflow_store::assembly::file_id;

type GuestResult<T> = wasmtime::Result<Result<T, GuestError>>;

/// What `workspace` sees of a step: the workspace and the step whose outputs it hands out; the
/// assembly id, which result ids derive from; the step's inputs and the assembly's fields; the
/// tools that probe what is emitted; and what the step reserved and emitted so far, bounded by
/// the step's output count.
#[derive(Debug)]
pub(crate) struct WorkspaceScope {
    workspace: Arc<Workspace>,
    step: String,
    assembly_id: String,
    inputs: Arc<[InputRecord]>,
    fields: Vec<(String, String)>,
    tools: Arc<MediaTools>,
    max_outputs: usize,
    reserved: Reservations,
    emitted: Vec<EmittedOutput>,
}

impl WorkspaceScope {
    pub(crate) fn new(
        workspace: Arc<Workspace>,
        step: String,
        assembly_id: String,
        inputs: Arc<[InputRecord]>,
        fields: Vec<(String, String)>,
        tools: Arc<MediaTools>,
        limits: &JobLimits,
    ) -> WorkspaceScope {
        WorkspaceScope {
            workspace,
            step,
            assembly_id,
            inputs,
            fields,
            tools,
            max_outputs: limits.outputs,
            reserved: Reservations::default(),
            emitted: Vec::new(),
        }
    }

    /// The results the step emitted, in the order it emitted them.
    pub(crate) fn into_emitted(self) -> Vec<EmittedOutput> {
        self.emitted
    }
}

impl Host for MeteredScope<'_, WorkspaceScope> {
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
        let probed = probe_result(&scope.tools, root, &file.path, &file.name, file.identity.size).await?;
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
fn check_emit(
    scope: &WorkspaceScope,
    path: &str,
    original_id: Option<String>,
) -> GuestResult<(StepFile, String)> {
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
    if scope.emitted.len() >= scope.max_outputs {
        return Ok(Err(GuestError::LimitExceeded(format!(
            "a step may emit at most {} results",
            scope.max_outputs
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

#[cfg(test)]
mod tests {
    use super::super::HostcallBudget;
    use super::super::fixture::{StepFixture, TONE};
    use super::*;

    #[tokio::test]
    async fn inputs_and_fields_are_the_steps() {
        let step = StepFixture::new().await;
        let (mut budget, mut scope) = (HostcallBudget::new(10), step.workspace());
        let mut workspace = MeteredScope::new(&mut budget, Some(&mut scope));
        let inputs = Host::inputs(&mut workspace).await.unwrap();
        let seen: Vec<_> = inputs.iter().map(|i| (i.id.as_str(), i.path.as_str(), i.name.as_str())).collect();
        assert_eq!(seen, [("u1", TONE, "tone.wav"), ("u2", "in/u2/empty.mp4", "empty.mp4")]);
        assert_eq!(Host::fields(&mut workspace).await.unwrap(), [("height".to_owned(), "360".to_owned())]);
    }

    #[tokio::test]
    async fn reserve_output_hands_out_step_paths_and_maps_bad_names() {
        let step = StepFixture::new().await;
        let (mut budget, mut scope) = (HostcallBudget::new(10), step.workspace());
        let mut workspace = MeteredScope::new(&mut budget, Some(&mut scope));
        for _ in 0..2 {
            let path =
                Host::reserve_output(&mut workspace, "frames/f_%03d.jpg".into()).await.unwrap().unwrap();
            assert_eq!(path, "out/s/frames/f_%03d.jpg");
        }
        assert!(step.workspace.root().join("out/s/frames").is_dir());
        let climbing = Host::reserve_output(&mut workspace, "../escape.mp4".into()).await.unwrap();
        assert!(matches!(climbing, Err(GuestError::InvalidRequest(_))), "{climbing:?}");
        let long = Host::reserve_output(&mut workspace, "a".repeat(201)).await.unwrap();
        assert!(matches!(long, Err(GuestError::LimitExceeded(_))), "{long:?}");
    }

    #[tokio::test]
    async fn emit_records_a_written_file_once() {
        let step = StepFixture::new().await;
        let (mut budget, mut scope) = (HostcallBudget::new(20), step.workspace());
        let mut workspace = MeteredScope::new(&mut budget, Some(&mut scope));
        let path = Host::reserve_output(&mut workspace, "notes.txt".into()).await.unwrap().unwrap();
        std::fs::write(step.workspace.root().join(&path), "hello").unwrap();
        assert_eq!(
            Host::pending_outputs(&mut workspace).await.unwrap().unwrap(),
            std::slice::from_ref(&path)
        );

        let emitted = Host::emit(&mut workspace, path.clone(), None).await.unwrap().unwrap();
        assert_eq!(
            (emitted.id.as_str(), emitted.name.as_str(), emitted.size),
            (file_id("a1", "s", "notes.txt").as_str(), "notes.txt", 5)
        );
        assert!(Host::pending_outputs(&mut workspace).await.unwrap().unwrap().is_empty());
        match Host::emit(&mut workspace, path.clone(), None).await.unwrap() {
            Err(GuestError::InvalidRequest(message)) => {
                assert!(message.contains("emitted already"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(step.workspace.root().join("out/s/other.txt"), "x").unwrap();
        match Host::emit(&mut workspace, "out/s/other.txt".into(), Some("u9".into())).await.unwrap() {
            Err(GuestError::InvalidRequest(message)) => {
                assert_eq!(message, "`u9` is not an upload this step uses");
            }
            other => panic!("{other:?}"),
        }
        let missing = Host::emit(&mut workspace, "out/s/never.txt".into(), None).await.unwrap();
        assert!(matches!(missing, Err(GuestError::NotFound(_))), "{missing:?}");

        let kept = scope.into_emitted();
        assert_eq!(kept.len(), 1);
        assert_eq!((kept[0].path.as_str(), kept[0].original_id.as_str()), ("out/s/notes.txt", "u1"));
    }
}
