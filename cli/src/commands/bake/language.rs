//! The language a template was written in, as its component says it: the `language` field of
//! the WebAssembly producers sections (tool-conventions' `ProducersSection.md`).
//!
//! What the toolchains write is not enough on its own: cargo's component names Rust only in
//! its core module, ComponentizeJS names JavaScript for a TypeScript template too, and
//! componentize-py names no language at all (its CPython shows as a core module called
//! `libpython…`). So `bake`, which knows the source, adds the language to the component's own
//! producers section where the component would otherwise say something else, and
//! `templates publish` reads it back from the component alone, wherever it was copied.

use anyhow::{Context, Result};
use std::path::Path;
use wasmparser::{KnownCustom, Name, Parser, Payload};

/// Producers-section names and the names recorded with a version, a source language before the
/// language it compiles to (a TypeScript component names JavaScript too).
const LANGUAGES: [(&str, &str); 4] =
    [("TypeScript", "typescript"), ("Python", "python"), ("JavaScript", "javascript"), ("Rust", "rust")];

/// The language a component names: its own producers section first, then a CPython inside it
/// (componentize-py), then its core modules' producers sections. `None` when none of these
/// names a language templates are written in.
pub(crate) fn component_language(bytes: &[u8]) -> Result<Option<&'static str>> {
    let (mut outer, mut inner, mut cpython) = (Vec::new(), Vec::new(), false);
    let mut depth = 0_usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.context("the component is not valid WebAssembly")? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(section) => match section.as_known() {
                KnownCustom::Producers(fields) => {
                    for field in fields {
                        let field = field.context("a producers section is malformed")?;
                        if field.name != "language" {
                            continue;
                        }
                        for value in field.values {
                            let language = value.context("a producers section is malformed")?.name.to_owned();
                            if depth == 0 { &mut outer } else { &mut inner }.push(language);
                        }
                    }
                }
                KnownCustom::Name(names) => {
                    // A malformed name section only hides a name; it never fails a publish.
                    cpython |= names.into_iter().any(
                        |name| matches!(name, Ok(Name::Module { name, .. }) if name.starts_with("libpython")),
                    );
                }
                _ => {}
            },
            _ => {}
        }
    }
    let known = |names: &[String]| {
        LANGUAGES
            .iter()
            .find(|(producer, _)| names.iter().any(|name| name == producer))
            .map(|(_, ours)| *ours)
    };
    Ok(known(&outer).or(cpython.then_some("python")).or_else(|| known(&inner)))
}

/// Adds `language` (one of the recorded names) to the producers section of the component at
/// `path` unless the component already reads as that language; an unchanged component keeps
/// its bytes, and so its version.
pub(crate) fn record_language(path: &Path, language: &str) -> Result<()> {
    let bytes = fs_err::read(path)?;
    if component_language(&bytes)? == Some(language) {
        return Ok(());
    }
    let Some((producer, _)) = LANGUAGES.iter().find(|(_, ours)| *ours == language) else {
        return Ok(());
    };
    let mut producers = wasm_metadata::Producers::empty();
    producers.add("language", producer, "");
    let stamped = producers
        .add_to_wasm(&bytes)
        .with_context(|| format!("cannot record the language in {}", path.display()))?;
    fs_err::write(path, stamped)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cargo_component_reads_as_rust_and_a_recorded_language_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wasm");
        std::fs::copy(test_components::VIDEO_THUMBNAILS, &path).unwrap();
        let original = std::fs::read(&path).unwrap();
        assert_eq!(component_language(&original).unwrap(), Some("rust"));

        record_language(&path, "rust").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), original, "already says so: untouched");
        record_language(&path, "typescript").unwrap();
        assert_eq!(component_language(&std::fs::read(&path).unwrap()).unwrap(), Some("typescript"));
        assert!(component_language(b"not wasm").is_err());
    }
}
