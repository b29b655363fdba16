//! `transflow dev` as a child process on a free loopback port, for tests that kill it or
//! drive it from a browser. The process group is killed on drop, so no server outlives a test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use transflow_local::DirTemplateRegistry;
use transflow_runtime::{EngineSettings, JobLimits, TemplateEngine};

/// A running `transflow dev`.
#[derive(Debug)]
pub struct DevServer {
    child: Child,
    /// `http://127.0.0.1:{port}`.
    pub base: String,
}

/// Publishes `components` into the registry under `data_dir`, as `transflow bake` would.
pub async fn bake_into(data_dir: &Path, components: &[&str]) {
    let settings = EngineSettings {
        cache_dir: data_dir.join("cache"),
        cache_key_file: None,
        max_instances: 4,
        limits: JobLimits::default(),
    };
    let engine = Arc::new(TemplateEngine::new(settings).expect("engine"));
    let registry = DirTemplateRegistry::new(data_dir.join("templates"));
    crate::stack::publish_templates(&engine, &registry, components).await;
}

impl DevServer {
    /// Starts `binary dev --port 0` with `config_file` and `data_dir`, and waits for its URL.
    pub fn start(binary: &str, config_file: &Path, data_dir: &Path) -> DevServer {
        DevServer::start_with(binary, config_file, data_dir, |_| {})
    }

    /// [`DevServer::start`], with `configure` applied to the command first (its environment,
    /// where stderr goes).
    pub fn start_with(
        binary: &str,
        config_file: &Path,
        data_dir: &Path,
        configure: impl FnOnce(&mut Command),
    ) -> DevServer {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(binary);
        command
            .arg("--config")
            .arg(config_file)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["dev", "--port", "0"])
            .env("TRANSFLOW_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0);
        configure(&mut command);
        let mut child = command.spawn().expect("transflow starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines.next().expect("transflow dev printed its URL").expect("readable stdout");
            if let Some(url) = line.strip_prefix("Transflow dev server on ") {
                break url.trim().to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        DevServer { child, base }
    }

    /// The server's stderr, when [`DevServer::start_with`] piped it (once).
    pub fn stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.stderr.take()
    }

    /// Kills the whole process group with SIGKILL: a crash, not a shutdown.
    pub fn kill(mut self) {
        self.kill_group(libc::SIGKILL);
    }

    /// Asks for a graceful shutdown (SIGTERM) and waits up to `limit` for the exit.
    pub fn terminate(mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.kill_group(libc::SIGTERM);
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn kill_group(&mut self, signal: libc::c_int) {
        // SAFETY: kill(2) on the process group this struct created; no memory is touched.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), signal);
        }
        if signal == libc::SIGKILL {
            let _ = self.child.wait();
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill_group(libc::SIGKILL);
        }
    }
}
