//! The helper's command line, written by the host ([`Plan::to_args`]) and read by the helper
//! ([`parse_args`]), so that neither side hand-writes flags.
//!
//! ```text
//! transflow-confine [--read PATH]… [--write DIR]… [--fsize BYTES] [--nproc N]
//!                   [--require LAYERS] -- PROGRAM [ARGS…]
//! transflow-confine --probe
//! ```
//!
//! Options come as separate words (`--read /usr`, never `--read=/usr`), so that a path can hold
//! any byte. Every path is absolute: the helper may be started in any working directory, and
//! inside bubblewrap paths are the ones the process sees.

use crate::{Layers, ParseError};
use std::ffi::OsString;
use std::path::PathBuf;

/// What one tool run may touch: the helper's options, without the tool's own arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Readable files and directories (recursively); missing ones are skipped (`--read`).
    pub read: Vec<PathBuf>,
    /// Directories beneath which files and directories may be created, written, truncated and
    /// removed; each must exist (`--write`).
    pub write: Vec<PathBuf>,
    /// The tool, an absolute path; the only file (with its ELF interpreter) that may be executed.
    pub program: PathBuf,
    /// `RLIMIT_FSIZE`: the largest file the tool may write, in bytes (`--fsize`).
    pub max_file_bytes: Option<u64>,
    /// `RLIMIT_NPROC`: processes and threads of the tool's user (`--nproc`; not enforced for
    /// root).
    pub max_processes: Option<u64>,
    /// Layers that must be applied in full, or the helper fails without running the tool
    /// (`--require`).
    pub require: Layers,
}

/// What a helper command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// `--probe`: print the supported layers (see [`crate::Probe`]).
    Probe,
    /// `--help`.
    Help,
    /// Confine per `plan`, then exec `plan.program` with `args` (not including `argv[0]`).
    Run {
        /// The confinement.
        plan: Plan,
        /// The tool's arguments.
        args: Vec<OsString>,
    },
}

impl Plan {
    /// The helper's arguments (without its `argv[0]`), ending in `-- PROGRAM`: append the tool's
    /// own arguments after them.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        let mut option = |name: &str, value: OsString| args.extend([name.into(), value]);
        for path in &self.read {
            option("--read", path.into());
        }
        for dir in &self.write {
            option("--write", dir.into());
        }
        if let Some(bytes) = self.max_file_bytes {
            option("--fsize", bytes.to_string().into());
        }
        if let Some(count) = self.max_processes {
            option("--nproc", count.to_string().into());
        }
        if !self.require.is_empty() {
            option("--require", self.require.to_string().into());
        }
        args.extend(["--".into(), self.program.clone().into()]);
        args
    }
}

/// Parses the helper's arguments (without its `argv[0]`). `--probe` stands alone.
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Invocation, ParseError> {
    let args: Vec<OsString> = args.into_iter().collect();
    if args == ["--probe"] {
        return Ok(Invocation::Probe);
    }
    let mut args = args.into_iter();
    let mut plan = Plan::default();
    while let Some(arg) = args.next() {
        let mut value = |option: &'static str| args.next().ok_or(ParseError::MissingValue(option));
        match arg.to_str() {
            Some("--help" | "-h") => return Ok(Invocation::Help),
            Some("--read") => plan.read.push(absolute("--read", value("--read")?)?),
            Some("--write") => plan.write.push(absolute("--write", value("--write")?)?),
            Some("--fsize") => plan.max_file_bytes = Some(number("--fsize", value("--fsize")?)?),
            Some("--nproc") => plan.max_processes = Some(number("--nproc", value("--nproc")?)?),
            Some("--require") => {
                let layers = value("--require")?;
                plan.require = layers.to_string_lossy().parse()?;
            }
            Some("--") => {
                plan.program = absolute("PROGRAM", args.next().ok_or(ParseError::MissingProgram)?)?;
                return Ok(Invocation::Run { plan, args: args.collect() });
            }
            _ => return Err(ParseError::UnknownOption(arg)),
        }
    }
    Err(ParseError::MissingProgram)
}

fn absolute(option: &'static str, path: OsString) -> Result<PathBuf, ParseError> {
    let path = PathBuf::from(path);
    if path.is_absolute() { Ok(path) } else { Err(ParseError::NotAbsolute { option, path }) }
}

fn number(option: &'static str, value: OsString) -> Result<u64, ParseError> {
    value.to_str().and_then(|v| v.parse().ok()).ok_or(ParseError::NotANumber { option, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn to_args_round_trips() {
        let plan = Plan {
            read: vec!["/usr".into(), "/ws".into()],
            write: vec!["/ws/out/step".into()],
            program: "/usr/bin/ffmpeg".into(),
            max_file_bytes: Some(1 << 30),
            max_processes: Some(64),
            require: Layers::ALL,
        };
        let mut args = plan.to_args();
        assert_eq!(
            args,
            words(
                "--read /usr --read /ws --write /ws/out/step --fsize 1073741824 --nproc 64 \
                 --require landlock+seccomp -- /usr/bin/ffmpeg"
            )
        );
        args.extend(words("-i in.mp4 -- out.mp4"));
        assert_eq!(parse_args(args), Ok(Invocation::Run { plan, args: words("-i in.mp4 -- out.mp4") }));
        let bare = Plan { program: "/bin/true".into(), ..Plan::default() };
        assert_eq!(bare.to_args(), words("-- /bin/true"));
    }

    #[test]
    fn usage_errors() {
        assert_eq!(parse_args(words("--probe")), Ok(Invocation::Probe));
        assert!(matches!(parse_args(words("--probe --read /usr")), Err(ParseError::UnknownOption(_))));
        assert_eq!(parse_args(words("--read /usr")), Err(ParseError::MissingProgram));
        assert_eq!(parse_args(words("--read")), Err(ParseError::MissingValue("--read")));
        assert!(matches!(parse_args(words("--write out -- /bin/true")), Err(ParseError::NotAbsolute { .. })));
        assert!(matches!(parse_args(words("-- ffmpeg")), Err(ParseError::NotAbsolute { .. })));
        assert!(matches!(parse_args(words("--fsize 1k -- /bin/true")), Err(ParseError::NotANumber { .. })));
        assert!(matches!(
            parse_args(words("--require apparmor -- /bin/true")),
            Err(ParseError::UnknownLayer(_))
        ));
        assert!(matches!(parse_args(words("--bogus -- /bin/true")), Err(ParseError::UnknownOption(_))));
    }
}
