//! `transflow run`: one assembly on embedded defaults, final status JSON on stdout.

use crate::cli::RunArgs;
use crate::progress::{Count, Progress};
use anyhow::{Context, Result};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use transflow_ffmpeg::MediaTools;
use transflow_local::DirTemplateRegistry;
use transflow_runtime::{
    AssemblyRequest, Compiler, DirectorySink, JobLimits, LoadedTemplate, Runner, TemplateEngine,
    UploadSource, hash_uploads,
};
use transflow_service::config::Config;
use transflow_service::embedded::Layout;
use transflow_store::assembly::{AssemblyStatus, ErrorCode};
use transflow_store::backends::TemplateRegistry;
use transflow_store::process_dir::ProcessDir;

/// Runs the assembly and prints its status; exit code 1 when it failed.
pub async fn run(paths: &Layout, config: &Config, args: RunArgs) -> Result<ExitCode> {
    let limits = JobLimits { step_timeout: Duration::from_secs(args.step_timeout), ..JobLimits::default() };
    let engine = super::engine(paths, limits)?;
    let mut tool_settings = config.tools.settings().map_err(anyhow::Error::msg)?;
    tool_settings.cpu_budget = args.cpu_budget.map(usize::from).or(tool_settings.cpu_budget);
    let uploads: Vec<UploadSource> = args
        .files
        .iter()
        .map(|path| {
            let name = path.file_name().map_or_else(|| "upload".into(), |n| n.to_string_lossy().into_owned());
            UploadSource { name, path: path.clone() }
        })
        .collect();
    // The sandbox is checked while the template loads and the uploads are hashed: the check's
    // processes start first, then the load and the hashing (CPU-bound) run while they do.
    let (tools, template, hashed) = tokio::join!(
        MediaTools::detect(&tool_settings),
        load_template(paths, &engine, &args.template),
        hash_uploads(&uploads)
    );
    let template = match template {
        Ok(template) => template,
        Err((code, message)) => return Ok(early_failure(code, &message)),
    };
    let tools = tools?;
    // Removed when the run ends, or by the next process when this one is killed.
    let work = ProcessDir::claim(&paths.work)
        .with_context(|| format!("cannot set up the work directory {}", paths.work.display()))?;
    let results = Arc::new(DirectorySink::new(paths.outputs.clone()));
    let runner = Runner::new(engine, Arc::new(tools), work.to_path_buf(), results.clone());
    let request = AssemblyRequest {
        template: template.clone(),
        uploads,
        fields: args.fields.into_iter().collect(),
        user_id: args.user,
        branch: args.branch.clone(),
    };
    let mut progress = Progress::new("run", Count::Percent);
    let status = runner
        .run_hashed(request, hashed, |status| {
            progress.update(status.progress as u64, status.current_step.as_deref().unwrap_or("starting"))
        })
        .await?;
    progress.finish();
    let json = serde_json::to_string_pretty(&status)?;
    if !status.assembly_id.is_empty() {
        let dir = results.assembly_dir(&args.branch, &status.assembly_id);
        fs_err::create_dir_all(&dir)?;
        fs_err::write(dir.join("status.json"), &json).context("cannot save status.json")?;
    }
    println!("{json}");
    if template.compiler() == Compiler::Winch {
        // This process ends here, and Cranelift's code with it unless it is finished and cached:
        // waiting once, after the results, spares every later run Winch's slower code and a
        // compile cut short at exit.
        eprintln!("compiling `{}` with Cranelift for later runs (once)…", args.template);
        template.settled().await;
    }
    Ok(report(&status))
}

/// The template, loaded; otherwise the error code and message of an early failure.
async fn load_template(
    paths: &Layout,
    engine: &TemplateEngine,
    template: &str,
) -> Result<Arc<LoadedTemplate>, (ErrorCode, String)> {
    let bytes =
        template_bytes(paths, template).await.map_err(|message| (ErrorCode::TemplateNotFound, message))?;
    match engine.load(&bytes).await {
        Ok((loaded, _)) => Ok(loaded),
        Err(error) => {
            Err((ErrorCode::TemplateInvalid, format!("template `{template}` cannot be used: {error}")))
        }
    }
}

/// The template's component bytes: a `.wasm` path, or the current version of a baked id.
async fn template_bytes(paths: &Layout, template: &str) -> Result<Vec<u8>, String> {
    if template.ends_with(".wasm") {
        return std::fs::read(template).map_err(|e| format!("cannot read template file {template}: {e}"));
    }
    let registry = DirTemplateRegistry::new(&paths.templates);
    let missing =
        || format!("no template `{template}` in {}; run `transflow bake` first", paths.templates.display());
    let version = registry.current(template).await.map_err(|e| e.to_string())?.ok_or_else(missing)?;
    registry.fetch(template, &version.sha256).await.map_err(|e| e.to_string())
}

/// Prints a status-shaped error for failures before an assembly exists.
fn early_failure(code: ErrorCode, message: &str) -> ExitCode {
    let json = serde_json::json!({ "error": code, "message": message });
    println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
    eprintln!("error: {code}: {message}");
    ExitCode::FAILURE
}

/// One line on stderr when the assembly failed, naming the step.
fn report(status: &AssemblyStatus) -> ExitCode {
    match status.error {
        None => ExitCode::SUCCESS,
        Some(code) => {
            eprintln!("error: {code}: {}", status.message);
            ExitCode::FAILURE
        }
    }
}
