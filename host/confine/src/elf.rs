//! Finds a program's ELF interpreter (`PT_INTERP`, e.g. `/lib64/ld-linux-x86-64.so.2`).
//!
//! The kernel opens the interpreter with the same exec check as the program itself, so
//! Landlock must grant it `EXECUTE` too or a dynamically linked tool cannot start (tested in
//! `tests/confine.rs`). Shared libraries need only read access: the loader `mmap`s them, which
//! Landlock does not check. Only 64-bit little-endian ELF is understood (x86_64, aarch64);
//! anything else (a static binary, a script) gets no extra rule.

use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const PT_INTERP: u32 = 3;

/// The interpreter path named by `program`'s `PT_INTERP` header, if it has one.
pub fn interpreter(program: &Path) -> io::Result<Option<PathBuf>> {
    let file = File::open(program)?;
    let mut header = [0u8; 64];
    if file.read_exact_at(&mut header, 0).is_err() || header[..6] != *b"\x7fELF\x02\x01" {
        return Ok(None);
    }
    let phoff = u64::from_le_bytes(header[32..40].try_into().expect("8 bytes"));
    let phentsize = u64::from(u16::from_le_bytes([header[54], header[55]]));
    let phnum = u64::from(u16::from_le_bytes([header[56], header[57]]));
    for index in 0..phnum {
        let mut phdr = [0u8; 56];
        file.read_exact_at(&mut phdr, phoff + index * phentsize)?;
        if u32::from_le_bytes(phdr[0..4].try_into().expect("4 bytes")) != PT_INTERP {
            continue;
        }
        let offset = u64::from_le_bytes(phdr[8..16].try_into().expect("8 bytes"));
        let size = u64::from_le_bytes(phdr[32..40].try_into().expect("8 bytes"));
        let mut path = vec![0u8; usize::try_from(size.min(4096)).expect("small")];
        file.read_exact_at(&mut path, offset)?;
        let path = path.split(|&b| b == 0).next().unwrap_or_default();
        return Ok(Some(Path::new(std::ffi::OsStr::from_bytes(path)).to_owned()));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_interpreter_of_a_dynamic_binary() {
        let interp = interpreter(Path::new("/bin/sh")).unwrap().expect("/bin/sh is dynamically linked");
        assert!(interp.to_string_lossy().contains("ld-linux"), "{interp:?}");
        assert!(interp.exists());
    }

    #[test]
    fn non_elf_files_have_none() {
        assert_eq!(interpreter(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))).unwrap(), None);
    }
}
