//! The worker image: the project's ECR repository and, with `--build`, docker build and push.

use super::desired::Image;
use super::{Action, DeployOptions, Deployer, SdkResultExt, pending};
use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_ecr::types::{ImageIdentifier, ImageScanningConfiguration};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// `docker build` for Lambda, whose default architecture is x86_64.
const BUILD_ARGS: [&str; 2] = ["build", "--platform=linux/amd64"];
/// Lambda refuses the image index buildx makes by default to carry provenance attestations.
/// The variable turns them off where `--provenance=false` would, and unlike that flag the legacy
/// builder accepts it (by ignoring it).
const NO_ATTESTATIONS: (&str, &str) = ("BUILDX_NO_DEFAULT_ATTESTATIONS", "1");

impl Deployer<'_> {
    /// `aws.image_uri` as given; otherwise `{repository}:{tag}` in the project's repository,
    /// built and pushed when asked and docker is there, else left to the printed commands.
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
        let docker = if options.build { find_program("docker") } else { None };
        let (action, detail, digest) = match docker {
            Some(_) if self.dry_run => {
                (Action::of(before.is_some(), false), "docker build and push".into(), before)
            }
            Some(docker) => {
                self.build_and_push(&docker, &uri).await?;
                let after = self.digest(tag).await?;
                // Same digest: the build reproduced the image already there.
                (Action::of(before.is_some(), before == after), after.clone().unwrap_or_default(), after)
            }
            None => {
                let state =
                    before.as_ref().map_or("not in ECR".to_owned(), |digest| format!("in ECR as {digest}"));
                let missing = if options.build { "docker is not on PATH; " } else { "" };
                let commands = push_commands(&uri, &self.config.aws.region);
                (Action::Unchanged, format!("{missing}{state}; to build and push: {commands}"), before)
            }
        };
        self.record(action, "image", &uri, detail);
        Ok(Image { uri, digest })
    }

    /// Creates the repository if missing, with scanning on push; returns its URI.
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
        Ok(uri.unwrap_or_else(|| pending("repository", &name)))
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

    async fn build_and_push(&self, docker: &Path, image: &str) -> Result<()> {
        run_docker(docker, &[&BUILD_ARGS[..], &["-t", image, "."]].concat(), None).await?;
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
/// comes from the AWS CLI at the time.
fn push_commands(image: &str, region: &str) -> String {
    let (variable, value) = NO_ATTESTATIONS;
    let build = BUILD_ARGS.join(" ");
    let registry = registry(image);
    format!(
        "{variable}={value} docker {build} -t {image} . && aws ecr get-login-password --region {region} | \
         docker login --username AWS --password-stdin {registry} && docker push {image}"
    )
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
        let commands = push_commands("1.dkr.ecr.eu-west-1.amazonaws.com/demo-worker:main-abc", "eu-west-1");
        assert!(commands.starts_with(
            "BUILDX_NO_DEFAULT_ATTESTATIONS=1 docker build --platform=linux/amd64 -t 1.dkr.ecr.eu-west-1.amazonaws.com/demo-worker:main-abc ."
        ));
        assert!(commands.contains("--region eu-west-1 | docker login --username AWS --password-stdin 1.dkr.ecr.eu-west-1.amazonaws.com &&"));
        assert!(commands.ends_with("docker push 1.dkr.ecr.eu-west-1.amazonaws.com/demo-worker:main-abc"));
    }
}
