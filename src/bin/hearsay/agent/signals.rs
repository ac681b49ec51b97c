//! SIGINT and SIGTERM for the agent: the first asks for a graceful leave
//! (a byte on a self-pipe wakes the event loop); the second removes the
//! control socket and exits at once, for an operator who will not wait.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::OnceLock;

static COUNT: AtomicUsize = AtomicUsize::new(0);
static FIRST: AtomicI32 = AtomicI32::new(0);
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
static SOCKET: OnceLock<CString> = OnceLock::new();

/// Exit status when a second signal cuts the leave short.
pub const FORCED_EXIT: i32 = 1;

extern "C" fn on_signal(signal: libc::c_int) {
    // Only async-signal-safe calls here: atomics, write, unlink, _exit.
    // SAFETY: errno is thread-local; saving and restoring it keeps the
    // interrupted code's value.
    let saved = unsafe { *libc::__errno_location() };
    if COUNT.fetch_add(1, Ordering::SeqCst) == 0 {
        FIRST.store(signal, Ordering::SeqCst);
        let byte = 1u8;
        // SAFETY: writes one byte from a valid local to our own pipe.
        unsafe {
            libc::write(
                PIPE_WRITE.load(Ordering::SeqCst),
                (&byte as *const u8).cast(),
                1,
            )
        };
    } else {
        if let Some(path) = SOCKET.get() {
            // SAFETY: a valid NUL-terminated path that lives for the process.
            unsafe { libc::unlink(path.as_ptr()) };
        }
        // SAFETY: ends the process without running anything else.
        unsafe { libc::_exit(FORCED_EXIT) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved };
}

/// The installed handlers; read [`Signals::fd`] to wait for the first signal.
pub struct Signals {
    read_fd: RawFd,
}

impl Signals {
    /// Installs the handlers; `socket` is removed if a second signal ends
    /// the process.
    pub fn install(socket: &Path) -> Result<Signals, String> {
        if let Ok(path) = CString::new(socket.as_os_str().as_bytes()) {
            let _ = SOCKET.set(path);
        }
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(format!(
                "cannot create the signal pipe: {}",
                std::io::Error::last_os_error()
            ));
        }
        PIPE_WRITE.store(fds[1], Ordering::SeqCst);
        for signal in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: a zeroed sigaction is valid; we set the handler, an
            // empty mask and SA_RESTART before passing it.
            let rc = unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut())
            };
            if rc != 0 {
                return Err(format!(
                    "cannot install the signal handler: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        Ok(Signals { read_fd: fds[0] })
    }

    /// Readable once a signal has arrived.
    pub fn fd(&self) -> RawFd {
        self.read_fd
    }

    /// The first signal received, if any.
    pub fn received(&self) -> Option<&'static str> {
        match FIRST.load(Ordering::SeqCst) {
            0 => None,
            libc::SIGINT => Some("SIGINT"),
            libc::SIGTERM => Some("SIGTERM"),
            _ => Some("a signal"),
        }
    }
}

/// Waits until one of `fds` is readable or `timeout_ms` passes (an
/// interruption by a signal counts as a wake-up).
pub fn wait_readable(fds: &[RawFd], timeout_ms: i32) {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structs.
    unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
}
