//! Every `unsafe` of the helper: the raw system calls no safe crate wraps for us.
//!
//! Kept in one small module so that it can be read in one sitting; the workspace denies
//! `unsafe_code` everywhere else.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::ptr;

/// `LANDLOCK_CREATE_RULESET_VERSION` from `<linux/landlock.h>`.
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
/// `SECCOMP_GET_ACTION_AVAIL` from `<linux/seccomp.h>`.
const SECCOMP_GET_ACTION_AVAIL: libc::c_uint = 2;

/// The kernel's Landlock ABI version, or `None` when Landlock is not built in or not enabled.
pub fn landlock_abi() -> Option<u32> {
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag, the kernel reads and
    // writes no memory and only returns the ABI version (or -1 with errno).
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(version).ok().filter(|&v| v > 0)
}

/// Whether seccomp filters that return an errno can be installed here.
pub fn seccomp_errno_available() -> bool {
    let action: u32 = libc::SECCOMP_RET_ERRNO;
    // SAFETY: the kernel reads one u32 through the pointer, which points at a live local.
    let rc =
        unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0u32, &action as *const u32) };
    rc == 0
}

/// A resource limit the helper sets.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// `RLIMIT_FSIZE`: past it, a write fails and the process gets `SIGXFSZ`.
    FileSize,
    /// `RLIMIT_CORE`.
    CoreSize,
    /// `RLIMIT_NPROC` (not enforced for root).
    Processes,
}

/// Sets both the soft and the hard `limit` to `value`.
pub fn set_rlimit(limit: Limit, value: u64) -> io::Result<()> {
    let resource = match limit {
        Limit::FileSize => libc::RLIMIT_FSIZE,
        Limit::CoreSize => libc::RLIMIT_CORE,
        Limit::Processes => libc::RLIMIT_NPROC,
    };
    let rlimit = libc::rlimit { rlim_cur: value, rlim_max: value };
    // SAFETY: `rlimit` is a valid, live `struct rlimit` that the kernel only reads.
    if unsafe { libc::setrlimit(resource, &rlimit) } == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Replaces this process with `path`, passing `argv` and the current environment; returns only
/// on failure. `path` is passed to the kernel as is: the seccomp filter compares `execve`'s first
/// argument with `path.as_ptr()`.
pub fn exec(path: &CStr, argv: &[CString]) -> io::Error {
    let mut pointers: Vec<*const libc::c_char> = argv.iter().map(|arg| arg.as_ptr()).collect();
    pointers.push(ptr::null());
    // SAFETY: `path` and every `argv` string are NUL-terminated and outlive the call; `pointers`
    // is a NULL-terminated array of them. `execv` hands `path` to `execve` unchanged, with the
    // process's `environ`.
    unsafe { libc::execv(path.as_ptr(), pointers.as_ptr()) };
    io::Error::last_os_error()
}
