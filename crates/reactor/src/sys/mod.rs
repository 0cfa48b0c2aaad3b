//! The syscall layer: the only place in the workspace where `unsafe` is allowed.
//! Every `unsafe` block carries a `// SAFETY:` line. rustix is used wherever it offers a safe
//! wrapper; libc only for the three calls rustix does not wrap with a signal mask
//! (`epoll_pwait`, `ppoll`, `pthread_sigmask`).
#![allow(unsafe_code)]

pub(crate) mod epoll;
pub(crate) mod poll;
pub(crate) mod signal;
