//! The worker image: the project's ECR repository and, with `--build`, docker build and push
//! of the checkout the image is built from, wherever deploy runs.

use super::desired::Image;
use super::{Action, DeployOptions, Deployer, SdkResultExt};
use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_ecr::types::{ImageIdentifier, ImageScanningConfiguration};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How long `docker version` may take to say whether its daemon answers.
const DAEMON_CHECK: Duration = Duration::from_secs(30);

/// `docker build` for Lambda, whose default architecture is x86_64.
const BUILD_ARGS: [&str; 2] = ["build", "--platform=linux/amd64"];
/// Lambda refuses the image index buildx makes by default to carry provenance attestations.
/// The variable turns them off where `--provenance=false` would, and unlike that flag the legacy
/// builder accepts it (by ignoring it).
const NO_ATTESTATIONS: (&str, &str) = ("BUILDX_NO_DEFAULT_ATTESTATIONS", "1");

impl Deployer<'_> {
    /// `aws.image_uri` as given; otherwise `{repository}:{tag}` in the project's repository,
    /// built and pushed when asked and docker's daemon answers, else left to the printed
    /// commands (saying why).
    pub(super) async fn image(&mut self, options: &DeployOptions) -> Result<Image> {
        if let Some(uri) = &self.config.aws.image_uri {
            let detail =
                if options.build { "set by aws.image_uri, so not built" } else { "set by aws.image_uri" };
            self.record(Action::Unchanged, "image", uri, detail);
            return Ok(Image { uri: uri.clone(), digest: None });
        }
        let repository = self.repository().await?;
        let tag = &options.image_tag;
        let uri = format!("{repository}:{tag}");
        let before = self.digest(tag).await?;
        let checkout = checkout_root();
        let docker = if options.build { Some(docker_that_builds().await) } else { None };
        let (action, detail, digest) = match (docker, checkout) {
            (Some(Ok(docker)), Some(checkout)) if !self.dry_run => {
                let docker_output_below = self.progress.hidden();
                self.build_and_push(&docker, &uri, &checkout).await?;
                drop(docker_output_below);
                let after = self.digest(tag).await?;
                // Same digest: the build reproduced the image already there.
                (Action::of(before.is_some(), before == after), after.clone().unwrap_or_default(), after)
            }
            (Some(Ok(_)), Some(checkout)) => {
                let detail = format!("docker build of {} and push", checkout.display());
                (Action::of(before.is_some(), false), detail, before)
            }
            (Some(Ok(_)), None) => bail!(
                "deploy --build: no Transflow checkout (the Dockerfile beside the workspace Cargo.toml) in {} or above it, nor above this program\nhint: run deploy inside the checkout, or build the image yourself and set `aws.image_uri`",
                std::env::current_dir().unwrap_or_default().display()
            ),
            (not_built, checkout) => {
                let state =
                    before.as_ref().map_or("not in ECR".to_owned(), |digest| format!("in ECR as {digest}"));
                let commands = push_commands(&uri, &self.config.aws.region, checkout.as_deref());
                let why = match not_built {
                    Some(Err(why)) => format!("{why}; "),
                    _ => String::new(),
                };
                (Action::Unchanged, format!("{why}{state}; to build and push: {commands}"), before)
            }
        };
        self.record(action, "image", &uri, detail);
        Ok(Image { uri, digest })
    }

    /// Creates the repository if missing, with scanning on push; returns its URI (on a dry run,
    /// the one it will have).
    async fn repository(&mut self) -> Result<String> {
        let name = self.names.repository.clone();
        let current = self
            .ecr
            .describe_repositories()
            .repository_names(&name)
            .send()
            .await
            .or_absent(format_args!("repository {name}"), |e| e.is_repository_not_found_exception())?
            .and_then(|output| output.repositories?.into_iter().next());
        let scans =
            current.as_ref().and_then(|r| r.image_scanning_configuration()).is_some_and(|c| c.scan_on_push());
        let action = Action::of(current.is_some(), scans);
        let mut uri = current.and_then(|repository| repository.repository_uri);
        if self.writes(action) {
            let scanning = ImageScanningConfiguration::builder().scan_on_push(true).build();
            if uri.is_some() {
                let put = self.ecr.put_image_scanning_configuration().repository_name(&name);
                put.image_scanning_configuration(scanning)
                    .send()
                    .await
                    .or_fail(format_args!("repository {name}: turning on scan on push"))?;
            } else {
                let created = self
                    .ecr
                    .create_repository()
                    .repository_name(&name)
                    .image_scanning_configuration(scanning)
                    .send()
                    .await
                    .or_fail(format_args!("repository {name}: creating"))?;
                uri = created.repository.and_then(|repository| repository.repository_uri);
            }
        }
        self.record(action, "repository", &name, "scan on push");
        match uri {
            Some(uri) => Ok(uri),
            None => Ok(format!("{}/{name}", self.registry().await?)),
        }
    }

    /// The account's ECR registry in the configured region, as repository URIs name it.
    async fn registry(&self) -> Result<String> {
        let sts = aws_sdk_sts::Client::new(&self.clients.sdk);
        let identity = sts.get_caller_identity().send().await.or_fail("STS: reading the account id")?;
        let account = identity.account.ok_or_else(|| anyhow!("STS: the caller identity names no account"))?;
        Ok(format!("{account}.dkr.ecr.{}.amazonaws.com", self.config.aws.region))
    }

    /// The digest `tag` points at in the project's repository, if it is there.
    async fn digest(&self, tag: &str) -> Result<Option<String>> {
        let name = &self.names.repository;
        let images = self
            .ecr
            .describe_images()
            .repository_name(name)
            .image_ids(ImageIdentifier::builder().image_tag(tag).build())
            .send()
            .await
            .or_absent(format_args!("repository {name}: reading image {tag}"), |e| {
                e.is_image_not_found_exception() || e.is_repository_not_found_exception()
            })?;
        Ok(images.and_then(|output| output.image_details?.into_iter().next()?.image_digest))
    }

    async fn build_and_push(&self, docker: &Path, image: &str, checkout: &Path) -> Result<()> {
        let context = checkout.to_str().with_context(|| format!("{} is not UTF-8", checkout.display()))?;
        run_docker(docker, &[&BUILD_ARGS[..], &["-t", image, context]].concat(), None).await?;
        let token = self.ecr.get_authorization_token().send().await.or_fail("ECR: getting a login token")?;
        // The token is base64 of `AWS:{password}`.
        let password = token
            .authorization_data()
            .first()
            .and_then(|data| decode_base64(data.authorization_token()?))
            .and_then(|decoded| Some(String::from_utf8(decoded).ok()?.split_once(':')?.1.to_owned()))
            .ok_or_else(|| anyhow!("ECR: the login token is not a base64 `user:password`"))?;
        let login = ["login", "--username", "AWS", "--password-stdin", registry(image)];
        run_docker(docker, &login, Some(&password)).await?;
        run_docker(docker, &["push", image], None).await
    }
}

/// What to run by hand (without `--build`, or without docker): no secret in it, the password
/// comes from the AWS CLI at the time. The build context is the checkout when deploy found it,
/// else the current directory (to be run from the checkout).
fn push_commands(image: &str, region: &str, checkout: Option<&Path>) -> String {
    let (variable, value) = NO_ATTESTATIONS;
    let build = BUILD_ARGS.join(" ");
    let registry = registry(image);
    let context = checkout.map_or(".".to_owned(), |dir| shell_word(&dir.display().to_string()));
    format!(
        "{variable}={value} docker {build} -t {image} {context} && aws ecr get-login-password --region {region} | \
         docker login --username AWS --password-stdin {registry} && docker push {image}"
    )
}

/// `text` as one word for a POSIX shell.
fn shell_word(text: &str) -> String {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+=:@,".contains(&b)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The checkout the image is built from: the nearest directory holding the Dockerfile beside a
/// workspace `Cargo.toml`, from the current directory up, else from this program up (a
/// `transflow` built in the checkout, run from anywhere).
fn checkout_root() -> Option<PathBuf> {
    let is_checkout = |dir: &Path| {
        dir.join("Dockerfile").is_file()
            && std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|toml| toml.contains("[workspace]"))
    };
    [std::env::current_dir().ok(), std::env::current_exe().ok()]
        .into_iter()
        .flatten()
        .find_map(|start| start.ancestors().find(|dir| is_checkout(dir)).map(Path::to_owned))
}

/// docker, when it can build: on `PATH` with a daemon that answers. Otherwise why not.
async fn docker_that_builds() -> Result<PathBuf, String> {
    let docker = find_program("docker").ok_or("docker is not on PATH")?;
    let version = tokio::process::Command::new(&docker)
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(DAEMON_CHECK, version).await {
        Ok(Ok(output)) if output.status.success() => Ok(docker),
        Ok(Ok(output)) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let said = stderr.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or("no message");
            Err(format!("docker's daemon does not answer ({said})"))
        }
        Ok(Err(error)) => Err(format!("cannot run {}: {error}", docker.display())),
        Err(_) => Err(format!("docker's daemon did not answer within {} s", DAEMON_CHECK.as_secs())),
    }
}

/// The registry host of an image URI.
fn registry(image: &str) -> &str {
    image.split('/').next().unwrap_or(image)
}

/// Runs docker with `input` on its stdin; its output goes to stderr, stdout is the plan's.
async fn run_docker(docker: &Path, args: &[&str], input: Option<&str>) -> Result<()> {
    let mut child = tokio::process::Command::new(docker)
        .args(args)
        .env(NO_ATTESTATIONS.0, NO_ATTESTATIONS.1)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(std::io::stderr())
        .spawn()
        .with_context(|| format!("docker {}: cannot start {}", args[0], docker.display()))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(input.as_bytes())
            .await
            .with_context(|| format!("docker {}: writing stdin", args[0]))?;
    }
    let status = child.wait().await.with_context(|| format!("docker {}", args[0]))?;
    if !status.success() {
        bail!("docker {} failed ({status})", args[0]);
    }
    Ok(())
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|path| path.is_file())
}

/// Standard base64 (padded or not); `None` on any other character.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut decoded = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0);
    for byte in text.trim_end_matches('=').bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            decoded.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_tokens_decode() {
        assert_eq!(decode_base64("QVdTOnNlY3JldA==").as_deref(), Some(&b"AWS:secret"[..]));
        assert_eq!(decode_base64("QVdTOnNlY3JldDE").as_deref(), Some(&b"AWS:secret1"[..]));
        assert_eq!(decode_base64("not base64!"), None);
    }

    #[test]
    fn the_printed_commands_log_in_to_the_image_registry() {
        let image = "1.dkr.ecr.eu-west-1.amazonaws.com/demo-worker:main-abc";
        let commands = push_commands(image, "eu-west-1", None);
        assert!(commands.starts_with(
            "BUILDX_NO_DEFAULT_ATTESTATIONS=1 docker build --platform=linux/amd64 -t 1.dkr.ecr.eu-west-1.amazonaws.com/demo-worker:main-abc . &&"
        ));
        let from_checkout = push_commands(image, "eu-west-1", Some(Path::new("/home/a b/transflow")));
        assert!(from_checkout.contains(":main-abc '/home/a b/transflow' &&"), "{from_checkout}");
        assert!(commands.contains("--region eu-west-1 | docker login --username AWS --password-stdin 1.dkr.ecr.eu-west-1.amazonaws.com &&"));
        assert!(commands.ends_with("docker push 1.dkr.ecr.eu-west-1.amazonaws.com/demo-worker:main-abc"));
    }
}
