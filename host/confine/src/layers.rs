//! Which confinement layers a machine supports or a caller requires.
//!
//! One vocabulary serves three places: `--require landlock,seccomp`, the `--probe` line and the
//! host's status field (`landlock+seccomp`, `seccomp`, `none`). A probe that names a layer
//! promises that `--require` of that layer succeeds on the same machine.

use crate::ParseError;
use std::fmt;
use std::str::FromStr;

/// A set of layers: Landlock, seccomp, both or none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Layers {
    /// Landlock file-system rules (ABI 3 or later: truncation is controlled), plus network and
    /// scope rules where the kernel has them.
    pub landlock: bool,
    /// The seccomp filter.
    pub seccomp: bool,
}

impl Layers {
    /// Both layers.
    pub const ALL: Layers = Layers { landlock: true, seccomp: true };

    /// Whether every layer of `other` is also in `self`.
    pub fn contains(self, other: Layers) -> bool {
        (self.landlock || !other.landlock) && (self.seccomp || !other.seccomp)
    }

    /// Whether no layer is in the set.
    pub fn is_empty(self) -> bool {
        !self.landlock && !self.seccomp
    }

    /// The layers named by a `--probe` line (see [`Probe`]).
    pub fn from_probe(line: &str) -> Result<Layers, ParseError> {
        line.parse::<Probe>().map(|probe| probe.layers)
    }
}

/// `landlock+seccomp`, `landlock`, `seccomp` or `none`.
impl fmt::Display for Layers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.landlock, self.seccomp) {
            (true, true) => "landlock+seccomp",
            (true, false) => "landlock",
            (false, true) => "seccomp",
            (false, false) => "none",
        })
    }
}

/// Layer names separated by `+` or `,` (`landlock+seccomp`, `seccomp,landlock`), or `none`.
impl FromStr for Layers {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Layers, ParseError> {
        let mut layers = Layers::default();
        if s == "none" {
            return Ok(layers);
        }
        for name in s.split(['+', ',']) {
            match name {
                "landlock" => layers.landlock = true,
                "seccomp" => layers.seccomp = true,
                other => return Err(ParseError::UnknownLayer(other.to_owned())),
            }
        }
        Ok(layers)
    }
}

/// What `transflow-confine --probe` prints: one line, the supported [`Layers`] first, then
/// space-separated `key=value` details. Today the only detail is `landlock_abi=N`, the kernel's
/// Landlock ABI version (absent when the kernel has no Landlock); parsers ignore keys they do
/// not know, so details can be added. Examples: `landlock+seccomp landlock_abi=7`,
/// `seccomp landlock_abi=2` (Landlock too old to be counted), `seccomp`, `none`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Probe {
    /// The layers the helper can apply fully here.
    pub layers: Layers,
    /// The kernel's Landlock ABI version, when it has Landlock.
    pub landlock_abi: Option<u32>,
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.layers)?;
        if let Some(abi) = self.landlock_abi {
            write!(f, " landlock_abi={abi}")?;
        }
        Ok(())
    }
}

impl FromStr for Probe {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Probe, ParseError> {
        let mut words = line.split_whitespace();
        let layers = words.next().ok_or(ParseError::EmptyProbe)?.parse()?;
        let landlock_abi =
            words.filter_map(|word| word.strip_prefix("landlock_abi=")).find_map(|abi| abi.parse().ok());
        Ok(Probe { layers, landlock_abi })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_round_trip_and_compare() {
        for layers in [Layers::default(), Layers::ALL, Layers { landlock: true, seccomp: false }] {
            assert_eq!(layers.to_string().parse::<Layers>(), Ok(layers));
        }
        assert_eq!("seccomp,landlock".parse::<Layers>(), Ok(Layers::ALL));
        assert!(matches!("landlock+selinux".parse::<Layers>(), Err(ParseError::UnknownLayer(_))));
        assert!(Layers::ALL.contains(Layers { landlock: false, seccomp: true }));
        assert!(!Layers { landlock: false, seccomp: true }.contains(Layers::ALL));
        assert!(Layers::default().is_empty() && Layers::ALL.contains(Layers::default()));
    }

    #[test]
    fn probe_lines() {
        let probe = Probe { layers: Layers::ALL, landlock_abi: Some(7) };
        assert_eq!(probe.to_string(), "landlock+seccomp landlock_abi=7");
        assert_eq!("landlock+seccomp landlock_abi=7\n".parse(), Ok(probe));
        assert_eq!(
            Layers::from_probe("seccomp landlock_abi=2 future=1"),
            Ok(Layers { landlock: false, seccomp: true })
        );
        assert_eq!("none".parse(), Ok(Probe::default()));
        assert_eq!("".parse::<Probe>(), Err(ParseError::EmptyProbe));
    }
}
