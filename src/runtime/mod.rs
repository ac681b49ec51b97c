//! The runtime: one OS thread running async-std that drives any number of
//! pools on real sockets.
//!
//! This is the only module that touches async-std, the clock and the
//! network. It moves bytes and deadlines between sockets and the sans-IO
//! cores and holds no protocol logic of its own.

mod endpoint;
mod events;
mod keyring_file;
mod pool;
mod snapshot;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::thread::JoinHandle;

use futures::channel::{mpsc, oneshot};
use futures::StreamExt;

pub use crate::serf::{ConflictOutcome, KeyOp, KeyringReport, QueryParams};
pub use crate::wire::SecretKey;
pub use events::EventQueue;
pub use pool::{
    parse_cidr, IncomingQuery, MemberInfo, MemberStatus, Pool, PoolConfig, PoolEvent, PoolStats,
    QueryReply, QueryStream,
};

use endpoint::Endpoint;

/// What went wrong in a runtime or pool call. Each kind maps to one C result
/// code; the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The category.
    pub kind: ErrorKind,
    /// A human-readable explanation.
    pub message: String,
}

/// Categories of [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// An argument is out of range or malformed; nothing changed.
    InvalidArgument,
    /// The address is taken; nothing changed.
    AddrInUse,
    /// A socket or system call failed.
    Io,
    /// The operation did not finish in time.
    Timeout,
    /// The pool or runtime is stopped.
    Closed,
    /// Not supported by this build or configuration.
    Unsupported,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn closed() -> Error {
        Error::new(ErrorKind::Closed, "the pool or its runtime is stopped")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub(crate) enum RuntimeCommand {
    NewPool {
        config: Box<PoolConfig>,
        reply: oneshot::Sender<Result<Pool, Error>>,
    },
}

/// One background thread (`hearsay-rt`) that runs every pool created on it.
/// Dropping it stops its pools and joins the thread.
pub struct Runtime {
    commands: Option<mpsc::UnboundedSender<RuntimeCommand>>,
    thread: Option<JoinHandle<()>>,
}

impl Runtime {
    /// Starts the runtime thread.
    pub fn new() -> Result<Runtime, Error> {
        let (tx, rx) = mpsc::unbounded();
        let thread = std::thread::Builder::new()
            .name("hearsay-rt".into())
            .spawn(move || async_std::task::block_on(run(rx)))
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot start the runtime thread: {e}"),
                )
            })?;
        Ok(Runtime {
            commands: Some(tx),
            thread: Some(thread),
        })
    }

    /// Creates a pool on this runtime: binds its sockets and starts it.
    pub fn pool(&self, config: PoolConfig) -> Result<Pool, Error> {
        config.validate()?;
        let (reply, answer) = oneshot::channel();
        self.commands
            .as_ref()
            .ok_or_else(Error::closed)?
            .unbounded_send(RuntimeCommand::NewPool {
                config: Box::new(config),
                reply,
            })
            .map_err(|_| Error::closed())?;
        futures::executor::block_on(answer).map_err(|_| Error::closed())?
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Closing the command channel ends the thread's loop, which stops
        // every pool before returning.
        self.commands.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn run(mut commands: mpsc::UnboundedReceiver<RuntimeCommand>) {
    let endpoints: Rc<std::cell::RefCell<HashMap<SocketAddr, Rc<Endpoint>>>> = Rc::default();
    let mut pools: Vec<pool::PoolTask> = Vec::new();
    while let Some(command) = commands.next().await {
        match command {
            RuntimeCommand::NewPool { config, reply } => {
                pools.retain(|p| !p.is_finished());
                match pool::start(*config, &endpoints) {
                    Ok((handle, task)) => {
                        pools.push(task);
                        let _ = reply.send(Ok(handle));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
        }
    }
    for task in pools {
        task.stop().await;
    }
    endpoints.borrow_mut().clear();
}
