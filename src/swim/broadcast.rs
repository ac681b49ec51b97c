//! The transmit-limited broadcast queue (memberlist's `TransmitLimitedQueue`).
//!
//! Messages waiting to be gossiped, each sent a bounded number of times.
//! Those sent least often go first, newest first among equals; a message
//! about a node replaces any older one about the same node.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use super::FixedHasher;

/// Order key: fewest transmits first, then newest (highest id) first.
type Key = (u32, std::cmp::Reverse<u64>);

#[derive(Debug)]
struct Item {
    subject: Option<Arc<str>>,
    /// Shared, so that sending it is a reference count, not a copy.
    bytes: Arc<[u8]>,
}

/// A queue of encoded messages to piggyback and gossip.
#[derive(Debug)]
pub struct BroadcastQueue {
    items: BTreeMap<Key, Item>,
    by_subject: HashMap<Arc<str>, Key, BuildHasherDefault<FixedHasher>>,
    next_id: u64,
    max_len: usize,
    dropped: u64,
}

impl Default for BroadcastQueue {
    fn default() -> Self {
        BroadcastQueue::with_max_len(usize::MAX)
    }
}

/// Smallest message worth looking for once the packet is nearly full.
const MIN_MESSAGE_LEN: usize = 12;
/// Messages skipped for size before the packet counts as full; bounds the
/// cost of filling a packet from a long queue.
const MAX_MISSES: usize = 16;

impl BroadcastQueue {
    /// A queue that holds at most `max_len` messages: beyond it, the
    /// messages sent most often (the oldest among equals) are dropped, as
    /// they have spread the most.
    pub fn with_max_len(max_len: usize) -> BroadcastQueue {
        BroadcastQueue {
            items: BTreeMap::new(),
            by_subject: HashMap::default(),
            next_id: 0,
            max_len: max_len.max(1),
            dropped: 0,
        }
    }

    /// Messages dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Queues an encoded message. A message with a subject replaces the
    /// queued message about the same subject.
    pub fn push(&mut self, subject: Option<Arc<str>>, bytes: Vec<u8>) {
        if let Some(subject) = &subject {
            if let Some(old) = self.by_subject.remove(subject) {
                self.items.remove(&old);
            }
        }
        self.next_id += 1;
        let key = (0, std::cmp::Reverse(self.next_id));
        if let Some(subject) = &subject {
            self.by_subject.insert(subject.clone(), key);
        }
        self.items.insert(
            key,
            Item {
                subject,
                bytes: bytes.into(),
            },
        );
        while self.items.len() > self.max_len {
            let (_, item) = self
                .items
                .pop_last()
                .expect("invariant: the queue is over its limit, so not empty");
            if let Some(subject) = &item.subject {
                self.by_subject.remove(subject);
            }
            self.dropped += 1;
        }
    }

    /// Whether a message about `subject` is still queued.
    pub fn contains(&self, subject: &str) -> bool {
        self.by_subject.contains_key(subject)
    }

    /// Number of queued messages.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.items.clear();
        self.by_subject.clear();
    }

    /// Takes messages that fit in `space` bytes, counting `overhead` more for
    /// each, and counts one transmit for each; a message that reached
    /// `transmit_limit` leaves the queue.
    pub fn take(
        &mut self,
        mut space: usize,
        overhead: usize,
        transmit_limit: u32,
        out: &mut Vec<Arc<[u8]>>,
        max_count: usize,
    ) {
        let mut taken: Vec<Key> = Vec::new();
        let mut misses = 0;
        for (key, item) in self.items.iter() {
            if space < MIN_MESSAGE_LEN + overhead
                || out.len() + taken.len() >= max_count
                || misses >= MAX_MISSES
            {
                break;
            }
            if item.bytes.len() + overhead <= space {
                space -= item.bytes.len() + overhead;
                taken.push(*key);
            } else {
                misses += 1;
            }
        }
        for key in taken {
            let item = self
                .items
                .remove(&key)
                .expect("invariant: key was just found in the queue");
            out.push(Arc::clone(&item.bytes));
            let transmits = key.0 + 1;
            if transmits >= transmit_limit {
                if let Some(subject) = &item.subject {
                    self.by_subject.remove(subject);
                }
            } else {
                let new_key = (transmits, key.1);
                if let Some(subject) = &item.subject {
                    self.by_subject.insert(subject.clone(), new_key);
                }
                self.items.insert(new_key, item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_message_about_a_node_replaces_older() {
        let mut q = BroadcastQueue::default();
        q.push(Some("a".into()), vec![1; 20]);
        q.push(Some("a".into()), vec![2; 20]);
        q.push(Some("b".into()), vec![3; 20]);
        assert_eq!(q.len(), 2);
        let mut out = Vec::new();
        q.take(1000, 2, 10, &mut out, 10);
        assert_eq!(out, vec![Arc::from(vec![3; 20]), Arc::from(vec![2; 20])]);
    }

    #[test]
    fn transmit_limit_and_fewest_first() {
        let mut q = BroadcastQueue::default();
        q.push(None, vec![1; 20]);
        for _ in 0..3 {
            let mut out = Vec::new();
            q.take(1000, 2, 3, &mut out, 10);
            assert_eq!(out.len(), 1);
        }
        assert!(q.is_empty());
        q.push(None, vec![1; 20]);
        let mut out = Vec::new();
        q.take(1000, 2, 3, &mut out, 10);
        q.push(None, vec![2; 20]);
        let mut out = Vec::new();
        q.take(30, 2, 3, &mut out, 10);
        assert_eq!(
            out,
            vec![Arc::from(vec![2; 20])],
            "the never-sent message goes first"
        );
    }

    #[test]
    fn a_full_queue_drops_the_most_sent_oldest_first() {
        let mut q = BroadcastQueue::with_max_len(2);
        q.push(Some("a".into()), vec![1; 20]);
        let mut out = Vec::new();
        q.take(1000, 2, 10, &mut out, 10);
        q.push(Some("b".into()), vec![2; 20]);
        q.push(Some("c".into()), vec![3; 20]);
        assert_eq!(q.len(), 2);
        assert_eq!(q.dropped(), 1);
        assert!(!q.contains("a"), "the message already sent once went");
        assert!(q.contains("b") && q.contains("c"));
        q.push(None, vec![4; 20]);
        assert!(!q.contains("b"), "then the oldest of the unsent");
    }

    #[test]
    fn respects_space() {
        let mut q = BroadcastQueue::default();
        q.push(None, vec![1; 100]);
        q.push(None, vec![2; 30]);
        let mut out = Vec::new();
        q.take(50, 2, 3, &mut out, 10);
        assert_eq!(out, vec![Arc::from(vec![2; 30])]);
        assert_eq!(q.len(), 2);
    }
}
