"""Kernel-enforced limits for a sandbox process, with Linux Landlock (standard library only).

``restrict(write_dirs, read_paths)`` confines this process and everything it later starts or
execs: files may be read only under ``read_paths`` and ``write_dirs``, and changed only under
``write_dirs``; TCP bind and connect are refused (Landlock ABI 4+); signals and abstract unix
sockets cannot reach processes outside the sandbox (ABI 6+). ``forbid_new_processes`` adds a
seccomp filter refusing every new process (threads stay allowed). Unlike the Python audit hook
these hold whatever the user's code does in-process: they cannot be undone.

Run as a script it is the JavaScript runner's launcher:
``landlock.py [--require] --rw DIR --ro PATH... -- COMMAND...`` applies both, then execs
COMMAND. Where the kernel has no Landlock, ``restrict`` returns 0 and no file limit is
enforced; with ``--require`` the launcher then exits (status 3) instead.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Sequence

Syscall = Callable[..., int]

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same on every architecture
_VERSION_FLAG = 1  # LANDLOCK_CREATE_RULESET_VERSION
_PATH_BENEATH = 1
_NO_NEW_PRIVS = 38  # PR_SET_NO_NEW_PRIVS
_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2  # PR_SET_SECCOMP

_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_ABI1_ALL = (1 << 13) - 1  # execute .. make_sym
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_ONLY = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV
_READ = _EXECUTE | _READ_FILE | _READ_DIR
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def _handled_fs(abi: int) -> int:
    handled = _ABI1_ALL
    if abi >= 2:
        handled |= _REFER
    if abi >= 3:
        handled |= _TRUNCATE
    if abi >= 5:
        handled |= _IOCTL_DEV
    return handled


NOT_CONFINED = 3  # the exit status of a runner that was required to apply Landlock and could not


def _syscall() -> Syscall:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc.syscall


def abi_version() -> int:
    """The kernel's Landlock ABI version for this process (0: none, or refused to it)."""
    found = _syscall()(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_VERSION_FLAG))
    return max(int(found), 0)


def restrict(write_dirs: Sequence[str], read_paths: Sequence[str]) -> int:
    """Confine this process as described above; return the Landlock ABI used (0: none)."""
    libc = ctypes.CDLL(None, use_errno=True)
    syscall = _syscall()
    abi = abi_version()
    if abi < 1:
        return 0
    handled = _handled_fs(abi)
    attr = _RulesetAttr(handled, 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL
        size = 24
    ruleset = syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        rules = [(path, handled) for path in write_dirs]
        rules += [(path, _READ) for path in read_paths]
        for path, access in rules:
            _add_rule(syscall, ruleset, path, access)
        prctl: Callable[..., int] = libc.prctl
        if prctl(_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if syscall(_RESTRICT_SELF, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return abi


# seccomp: a classic BPF program over struct seccomp_data (nr at 0, arch at 4, args from 16).
_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_EPERM, _ENOSYS = 1, 38
_CLONE_THREAD = 0x00010000
# arch -> (AUDIT_ARCH value, clone, syscalls that always create a process, clone3)
_ARCHES = {
    "x86_64": (0xC000003E, 56, (57, 58), 435),  # fork, vfork
    "aarch64": (0xC00000B7, 220, (), 435),
}


class _SockFilter(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter)))


def _no_process_program(arch: str) -> list[tuple[int, int, int, int]]:
    audit_arch, clone, forks, clone3 = _ARCHES[arch]
    deny, allow = (_RET, 0, 0, _ERRNO | _EPERM), (_RET, 0, 0, _ALLOW)
    checks = [(_JEQ, 0, 1, nr) for nr in forks]
    program = [
        (_LD_ABS, 0, 0, 4),
        (_JEQ, 1, 0, audit_arch),
        deny,  # another ABI (32-bit int 0x80 calls): nothing a sandbox needs
        (_LD_ABS, 0, 0, 0),
    ]
    if arch == "x86_64":
        program += [(_JGE, 0, 1, 0x40000000), deny]  # the x32 ABI
    for check in checks:
        program += [check, deny]
    program += [
        (_JEQ, 0, 1, clone3),
        (_RET, 0, 0, _ERRNO | _ENOSYS),  # libc then falls back to clone for threads
        (_JEQ, 0, 4, clone),
        (_LD_ABS, 0, 0, 16),  # clone's flags (low half of args[0])
        (_JSET, 0, 1, _CLONE_THREAD),
        allow,  # a thread
        deny,  # a new process
        allow,  # any other system call
    ]
    return program


def forbid_new_processes() -> bool:
    """A seccomp filter refusing fork, vfork and clone other than for threads (EPERM) for this
    process and whatever it execs: RLIMIT_NPROC does not bind root, this does. Needs no_new_privs
    (``restrict`` sets it). False on an architecture it does not know."""
    arch = os.uname().machine
    if arch not in _ARCHES:
        return False
    program = _no_process_program(arch)
    filters = (_SockFilter * len(program))(*(_SockFilter(*op) for op in program))
    fprog = _SockFprog(len(program), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    prctl: Callable[..., int] = libc.prctl
    if prctl(_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if prctl(_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
    return True


def _add_rule(syscall: Syscall, ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # e.g. no /lib64 on this system
    try:
        if not os.path.isdir(path):
            access &= _FILE_ONLY
        rule = _PathBeneathAttr(access, fd)
        if syscall(_ADD_RULE, ruleset, _PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    finally:
        os.close(fd)


def main(argv: list[str]) -> None:
    """``[--require] --rw DIR... --ro PATH... -- COMMAND...``: restrict, then exec COMMAND."""
    split = argv.index("--")
    command = argv[split + 1 :]
    lists: dict[str, list[str]] = {"--rw": [], "--ro": []}
    current: list[str] | None = None
    for arg in argv[:split]:
        if arg in lists:
            current = lists[arg]
        elif current is not None:
            current.append(arg)
    if restrict(lists["--rw"], lists["--ro"]) == 0 and "--require" in argv[:split]:
        print("sandbox: Landlock is not available, and it is required", file=sys.stderr)
        sys.exit(NOT_CONFINED)
    forbid_new_processes()
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
