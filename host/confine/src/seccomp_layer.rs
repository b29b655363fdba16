//! The seccomp layer: system calls a media tool never needs, refused with `EPERM`.
//!
//! A deny list, not an allow list: ffmpeg's system calls vary with its build, codecs and libc,
//! and a missed one in an allow list breaks real jobs. What is refused is what would let a
//! compromised tool reach out of its box: the network (every socket call), other processes
//! (`ptrace`, `process_vm_*`, `kcmp`, `pidfd_getfd`), the mount table and namespaces, new
//! programs (`execve`, `execveat`), and kernel surfaces with a history of exploits (`bpf`,
//! `perf_event_open`, `userfaultfd`, `io_uring_*` (whose operations bypass seccomp), keyrings,
//! modules, `kexec`, handles, `personality`, swap, accounting, quotas, `syslog`, `reboot`).
//!
//! Three details:
//! - `execve` stays allowed only when its first argument is the very pointer the helper passes
//!   for the program ([`apply`]'s `exec_path`): the helper's own exec works, and later ones from
//!   the tool fail (it would have to place a path at that address; Landlock then still allows
//!   executing only the program and its interpreter).
//! - `clone` is refused only with a `CLONE_NEW*` flag, so threads work; `clone3` passes its flags
//!   in memory a filter cannot read, so it gets `ENOSYS` and glibc falls back to `clone`.
//! - On x86_64 the x32 ABI reaches the same system calls under numbers with bit 30 set, which a
//!   deny list keyed on x86_64 numbers would let through; a prologue refuses them all.
//!
//! The filters are compiled for the architecture this binary is built for (x86_64 or aarch64);
//! a system call made under another one (i386 `int 0x80`) kills the process.

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};
use std::collections::BTreeMap;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("transflow-confine's seccomp filter supports x86_64 and aarch64");

/// Refused whatever their arguments.
const DENIED: &[libc::c_long] = &[
    libc::SYS_socket,
    libc::SYS_socketpair,
    libc::SYS_connect,
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_execveat,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_personality,
    libc::SYS_kcmp,
    libc::SYS_pidfd_getfd,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_syslog,
];

/// `clone` flags that create namespaces. `CLONE_NEWTIME` is left out: in `clone`'s first
/// argument its bit belongs to the exit signal (it only exists for `clone3` and `unshare`, both
/// refused).
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

/// Installs the filters (setting `no_new_privs`). `exec_path` is the address of the program path
/// the helper passes to `execve` right after.
pub fn apply(exec_path: u64) -> Result<(), seccompiler::Error> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = DENIED.iter().map(|&nr| (nr, Vec::new())).collect();
    let flag_set = |&flag: &u64| {
        SeccompRule::new(vec![SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::MaskedEq(flag),
            flag,
        )?])
    };
    rules.insert(libc::SYS_clone, NAMESPACE_FLAGS.iter().map(flag_set).collect::<Result<_, _>>()?);
    let other_path = SeccompCondition::new(0, SeccompCmpArgLen::Qword, SeccompCmpOp::Ne, exec_path)?;
    rules.insert(libc::SYS_execve, vec![SeccompRule::new(vec![other_path])?]);
    let eperm = SeccompAction::Errno(libc::EPERM as u32);
    let mut deny: BpfProgram = SeccompFilter::new(rules, SeccompAction::Allow, eperm, arch)?.try_into()?;
    #[cfg(target_arch = "x86_64")]
    deny.splice(0..0, x32_prologue());

    let enosys = SeccompAction::Errno(libc::ENOSYS as u32);
    let clone3 = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
    let clone3: BpfProgram = SeccompFilter::new(clone3, SeccompAction::Allow, enosys, arch)?.try_into()?;

    seccompiler::apply_filter(&deny)?;
    seccompiler::apply_filter(&clone3)
}

/// `if (nr & __X32_SYSCALL_BIT) return EPERM;`, placed before seccompiler's program (whose jumps
/// are relative and all forward, so they are unaffected).
#[cfg(target_arch = "x86_64")]
fn x32_prologue() -> [seccompiler::sock_filter; 3] {
    use libc::{BPF_ABS, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W};
    const SECCOMP_DATA_NR: u32 = 0;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    let op = |code: u32, jt: u8, jf: u8, k: u32| seccompiler::sock_filter { code: code as u16, jt, jf, k };
    [
        op(BPF_LD | BPF_W | BPF_ABS, 0, 0, SECCOMP_DATA_NR),
        op(BPF_JMP | BPF_JSET | BPF_K, 0, 1, X32_SYSCALL_BIT),
        op(BPF_RET | BPF_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
    ]
}
