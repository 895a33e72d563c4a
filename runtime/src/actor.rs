//! Actors: long-lived jobs with a mailbox.
//!
//! Any thread may send through a [`Mailbox`]. Mail is not read by the actor
//! directly: at the start of each frame, before any job runs, the engine moves
//! everything that has arrived into the actor's [`Inbox`] resource. A message
//! therefore takes effect in the first frame that starts after it was sent,
//! whatever the threads are doing, and the actor's job sees a fixed list.

use crate::error::JobError;
use crate::job::{Job, JobContext};

/// The sending side of an actor's mailbox. Clone it freely; it is `Send`.
pub struct Mailbox<M> {
    pub(crate) tx: flume::Sender<M>,
}

impl<M> Clone for Mailbox<M> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<M> Mailbox<M> {
    /// Sends a message; it is delivered at the start of the next frame.
    /// Fails only if the engine has been dropped.
    pub fn send(&self, message: M) -> Result<(), M> {
        self.tx.send(message).map_err(|e| e.into_inner())
    }
}

/// Messages delivered to an actor this frame, in arrival order.
pub struct Inbox<M> {
    pub(crate) messages: Vec<M>,
}

impl<M> Default for Inbox<M> {
    fn default() -> Self {
        Self {
            messages: Vec::new(),
        }
    }
}

impl<M> Inbox<M> {
    /// Takes all delivered messages.
    pub fn drain(&mut self) -> std::vec::Drain<'_, M> {
        self.messages.drain(..)
    }

    /// Number of messages waiting.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether no message is waiting.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// Builds an actor job: `state` lives as long as the job, and `handle` is
/// called for every message delivered this frame, in order. Add any other
/// access the handler needs with [`Job::reads`] / [`Job::writes`].
pub fn actor<M, S>(
    name: impl Into<String>,
    mut state: S,
    mut handle: impl FnMut(&mut S, M, &JobContext<'_>) -> Result<(), JobError> + Send + 'static,
) -> Job
where
    M: Send + Sync + 'static,
    S: Send + 'static,
{
    Job::new(name).writes::<Inbox<M>>().run(move |ctx| {
        let messages: Vec<M> = ctx.write::<Inbox<M>>()?.drain().collect();
        for m in messages {
            handle(&mut state, m, ctx)?;
        }
        Ok(())
    })
}
