//! `transflow new template`: a template that bakes and runs as is, in Rust, TypeScript or Python.
//!
//! The files come from `cli/scaffold/`; `{{…}}` placeholders are filled in with the name and
//! with relative paths to the SDKs of the Transflow checkout, so the template builds wherever
//! it is created. A Rust template created inside that checkout joins its cargo workspace.

use crate::cli::{NewCommand, NewTemplateArgs, TemplateLanguage};
use anyhow::{Context, Result, bail};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

/// `(path in the template, contents)` of each scaffold file.
type Scaffold = &'static [(&'static str, &'static str)];

const RUST: Scaffold = &[
    ("Cargo.toml", include_str!("../../scaffold/rust/Cargo.toml")),
    ("src/lib.rs", include_str!("../../scaffold/rust/src/lib.rs")),
    (".gitignore", include_str!("../../scaffold/rust/gitignore")),
];

const TYPESCRIPT: Scaffold = &[
    ("package.json", include_str!("../../scaffold/typescript/package.json")),
    ("tsconfig.json", include_str!("../../scaffold/typescript/tsconfig.json")),
    ("src/index.ts", include_str!("../../scaffold/typescript/src/index.ts")),
    (".gitignore", include_str!("../../scaffold/typescript/gitignore")),
];

const PYTHON: Scaffold = &[
    ("pyproject.toml", include_str!("../../scaffold/python/pyproject.toml")),
    ("app.py", include_str!("../../scaffold/python/app.py")),
    (".gitignore", include_str!("../../scaffold/python/gitignore")),
];

/// Runs a `transflow new` command.
pub fn new(command: NewCommand) -> Result<ExitCode> {
    match command {
        NewCommand::Template(args) => new_template(args),
    }
}

fn new_template(args: NewTemplateArgs) -> Result<ExitCode> {
    check_name(&args.name)?;
    let checkout = match &args.transflow {
        Some(dir) => checkout_at(dir)?,
        None => find_checkout(&args.dir)?,
    };
    let dest = args.dir.join(&args.name);
    if dest.exists() {
        bail!("{} already exists", dest.display());
    }
    fs_err::create_dir_all(&args.dir)?;
    let parent = fs_err::canonicalize(&args.dir)?;
    let (scaffold, language) = match args.lang {
        TemplateLanguage::Rust => (RUST, "rust"),
        TemplateLanguage::Typescript => (TYPESCRIPT, "typescript"),
        TemplateLanguage::Python => (PYTHON, "python"),
    };
    // Paths are written relative to the template, so the pair can move together.
    let template_dir = parent.join(&args.name);
    let values = [
        ("{{name}}", args.name.clone()),
        ("{{type_name}}", type_name(&args.name)),
        ("{{rust_sdk}}", relative(&template_dir, &checkout.join("template-sdk"))),
        ("{{typescript_sdk}}", relative(&template_dir, &checkout.join("template-sdk/typescript"))),
        ("{{python_sdk}}", relative(&template_dir, &checkout.join("template-sdk/python"))),
    ];
    for (path, contents) in scaffold {
        let file = template_dir.join(path);
        fs_err::create_dir_all(file.parent().expect("scaffold files are inside the template"))?;
        let filled =
            values.iter().fold((*contents).to_owned(), |text, (key, value)| text.replace(key, value));
        fs_err::write(&file, filled)?;
    }
    if args.lang == TemplateLanguage::Rust && template_dir.starts_with(&checkout) {
        let member = template_dir.strip_prefix(&checkout).expect("checked above");
        join_workspace(&checkout.join("Cargo.toml"), &member.to_string_lossy())?;
    }
    eprintln!("created {} ({language})", dest.display());
    let templates_flag = if args.dir == Path::new("templates") {
        String::new()
    } else {
        format!(" --templates {}", args.dir.display())
    };
    eprintln!(
        "next: transflow bake{templates_flag} {name} && transflow run --template {name} VIDEO",
        name = args.name
    );
    Ok(ExitCode::SUCCESS)
}

/// Template ids become directory names, crate names and paths in outputs.
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && name.len() <= 64;
    if !valid {
        bail!(
            "`{name}` is not a template name: use lower-case letters, digits and dashes, starting with a letter"
        );
    }
    Ok(())
}

/// `my-poster` → `MyPoster`.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// A Transflow checkout: the SDKs and the WIT they are built against.
fn checkout_at(dir: &Path) -> Result<PathBuf> {
    let dir = fs_err::canonicalize(dir)?;
    if dir.join("template-sdk/Cargo.toml").is_file() && dir.join("wit").is_dir() {
        Ok(dir)
    } else {
        bail!("{} is not a Transflow checkout (no template-sdk/ and wit/)", dir.display())
    }
}

/// The nearest checkout above the destination or the current directory.
fn find_checkout(dest_parent: &Path) -> Result<PathBuf> {
    let cwd = std::env::current_dir()?;
    let start = cwd.join(dest_parent);
    [start.as_path(), cwd.as_path()]
        .into_iter()
        .flat_map(Path::ancestors)
        .find_map(|dir| checkout_at(dir).ok())
        .context("no Transflow checkout above this directory\nhint: pass --transflow PATH/TO/transflow")
}

/// `to` relative to `from` (both absolute), with `/` separators.
fn relative(from: &Path, to: &Path) -> String {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let ups = std::iter::repeat_n("..".to_owned(), from.len() - common);
    let downs = to[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned());
    let parts: Vec<String> = ups.chain(downs).collect();
    if parts.is_empty() { ".".into() } else { parts.join("/") }
}

/// Adds `member` to the `members` array of the workspace manifest, keeping its layout.
fn join_workspace(manifest: &Path, member: &str) -> Result<()> {
    let text = fs_err::read_to_string(manifest)?;
    let start = text.find("members = [").context("the workspace manifest has no `members = [` array")?;
    let end = start + text[start..].find("\n]").context("the `members` array is not closed by a `]` line")?;
    let updated = format!("{}\n    \"{member}\",{}", &text[..end], &text[end..]);
    let parsed: toml::Value =
        toml::from_str(&updated).context("adding the member broke the workspace manifest")?;
    let members = parsed["workspace"]["members"].as_array().context("workspace.members is not an array")?;
    if !members.iter().any(|m| m.as_str() == Some(member)) {
        bail!("could not add {member} to the workspace members of {}", manifest.display());
    }
    fs_err::write(manifest, updated)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_turned_into_types() {
        assert!(check_name("gif-preview2").is_ok());
        for bad in ["", "Gif", "2gif", "gif_preview", "gif-", "../x"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(type_name("gif-preview2"), "GifPreview2");
    }

    #[test]
    fn relative_paths_climb_then_descend() {
        assert_eq!(relative(Path::new("/r/templates/t"), Path::new("/r/template-sdk")), "../../template-sdk");
        assert_eq!(relative(Path::new("/tmp/x/t"), Path::new("/r/sdk/ts")), "../../../r/sdk/ts");
        assert_eq!(relative(Path::new("/r"), Path::new("/r")), ".");
    }

    #[test]
    fn a_member_joins_the_workspace_array() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        fs_err::write(&manifest, "[workspace]\nmembers = [\n    \"host\",\n    # templates\n    \"templates/a\",\n]\n\n[workspace.package]\nversion = \"0.1.0\"\n").unwrap();
        join_workspace(&manifest, "templates/b").unwrap();
        let text = fs_err::read_to_string(&manifest).unwrap();
        assert!(text.contains("    \"templates/a\",\n    \"templates/b\",\n]"), "{text}");
        assert!(text.ends_with("version = \"0.1.0\"\n"));
    }
}
