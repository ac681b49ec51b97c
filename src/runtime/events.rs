//! A pool's bounded event queue, shared between the runtime thread (which
//! pushes) and any number of user threads (which pull).
//!
//! A pipe mirrors the queue for `poll`/`select` users: it holds one byte
//! exactly while the queue is not empty, so its read end is readable exactly
//! then. Both changes happen under the queue's lock.
#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

struct Inner<T> {
    queue: VecDeque<T>,
    dropped: u64,
    closed: bool,
}

/// A bounded queue that drops its oldest item when full.
pub struct EventQueue<T> {
    inner: Mutex<Inner<T>>,
    ready: Condvar,
    capacity: usize,
    read_fd: RawFd,
    write_fd: RawFd,
}

impl<T> EventQueue<T> {
    /// A queue holding at most `capacity` items.
    pub fn new(capacity: usize) -> std::io::Result<EventQueue<T>> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(EventQueue {
            inner: Mutex::new(Inner {
                queue: VecDeque::with_capacity(capacity.min(1024)),
                dropped: 0,
                closed: false,
            }),
            ready: Condvar::new(),
            capacity: capacity.max(1),
            read_fd: fds[0],
            write_fd: fds[1],
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // A panic while holding the lock leaves the queue consistent (every
        // mutation is a single push or pop), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The descriptor that is readable while the queue is not empty.
    pub fn fd(&self) -> RawFd {
        self.read_fd
    }

    /// Items dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds an item, dropping the oldest when full.
    pub fn push(&self, item: T) {
        let mut inner = self.lock();
        if inner.queue.len() >= self.capacity {
            inner.queue.pop_front();
            inner.dropped += 1;
        }
        let was_empty = inner.queue.is_empty();
        inner.queue.push_back(item);
        if was_empty {
            self.signal();
        }
        drop(inner);
        self.ready.notify_one();
    }

    /// Marks the queue closed: waiters wake up and get nothing more once
    /// it is drained.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Takes the oldest item, waiting up to `timeout` (`None`: forever).
    /// Returns `Err(())` once the queue is closed and empty.
    #[allow(clippy::result_unit_err)]
    pub fn pop(&self, timeout: Option<Duration>) -> Result<Option<T>, ()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut inner = self.lock();
        loop {
            if let Some(item) = inner.queue.pop_front() {
                if inner.queue.is_empty() {
                    self.drain();
                }
                return Ok(Some(item));
            }
            if inner.closed {
                return Err(());
            }
            match deadline {
                None => inner = self.ready.wait(inner).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Ok(None);
                    }
                    inner = self
                        .ready
                        .wait_timeout(inner, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }

    fn signal(&self) {
        let byte = 1u8;
        // SAFETY: writes one byte from a valid local to our own pipe. A full
        // pipe cannot happen: it never holds more than one byte.
        unsafe { libc::write(self.write_fd, (&byte as *const u8).cast(), 1) };
    }

    fn drain(&self) {
        let mut buf = [0u8; 16];
        // SAFETY: reads into a valid local buffer from our own non-blocking pipe.
        unsafe { libc::read(self.read_fd, buf.as_mut_ptr().cast(), buf.len()) };
    }
}

impl<T> Drop for EventQueue<T> {
    fn drop(&mut self) {
        // SAFETY: both descriptors were opened by `new` and are closed once.
        unsafe {
            libc::close(self.read_fd);
            libc::close(self.write_fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: RawFd) -> bool {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
    }

    #[test]
    fn fd_readable_exactly_while_not_empty_and_oldest_dropped() {
        let q = EventQueue::new(2).unwrap();
        assert!(!readable(q.fd()));
        q.push(1);
        assert!(readable(q.fd()));
        q.push(2);
        q.push(3);
        assert_eq!(q.dropped(), 1);
        assert_eq!(q.pop(Some(Duration::ZERO)), Ok(Some(2)));
        assert!(readable(q.fd()));
        assert_eq!(q.pop(Some(Duration::ZERO)), Ok(Some(3)));
        assert!(!readable(q.fd()));
        assert_eq!(q.pop(Some(Duration::from_millis(1))), Ok(None));
        q.close();
        assert_eq!(q.pop(None), Err(()));
    }
}
