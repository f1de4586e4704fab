//! Where the messages the SQLite writer stored lately lie in the table.
//!
//! A receipt names its message by id, and finding a row by its id searches
//! the id index with a text key: 3,400 of the 9,900 instructions of a
//! `delivered` update (docs/benchmarks.md, round 29). Most receipts are for
//! a message stored a moment ago, whose `seq` (the table's own key) the
//! writer had in hand when it stored it. It remembers the last
//! [`RECENT`] of them, and a receipt's statements go by that `seq` when it
//! is known.
//!
//! Only a hint: every statement that uses a `seq` from here also checks the
//! id, so a wrong one finds no row and the caller searches by id.

use std::collections::VecDeque;

use foldhash::HashMap;
use uuid::Uuid;

/// How many stored messages are remembered: at 40,000 messages a second,
/// a fifth of a second's worth, and a `delivered` receipt comes back within
/// milliseconds of its message. About half a MiB, reserved at the start
/// (the map's 16,384 slots of 24 bytes and the ids' ring of 16 each).
pub(super) const RECENT: usize = 8_192;

/// The last [`RECENT`] messages this writer stored, by id.
pub(super) struct Recent {
    seqs: HashMap<Uuid, i64>,
    /// The same ids, oldest first: the next to forget.
    order: VecDeque<Uuid>,
}

impl Default for Recent {
    fn default() -> Self {
        Self {
            seqs: HashMap::with_capacity_and_hasher(RECENT, Default::default()),
            order: VecDeque::with_capacity(RECENT),
        }
    }
}

impl Recent {
    /// `id` was stored at `seq` (in the batch being written).
    pub(super) fn stored(&mut self, id: Uuid, seq: i64) {
        if self.order.len() == RECENT
            && let Some(oldest) = self.order.pop_front()
        {
            self.seqs.remove(&oldest);
        }
        self.seqs.insert(id, seq);
        self.order.push_back(id);
    }

    /// Where `id` lies, if it was stored lately.
    pub(super) fn seq(&self, id: &Uuid) -> Option<i64> {
        self.seqs.get(id).copied()
    }

    /// Forgets everything: the batch that stored some of them rolled back,
    /// and their `seq`s may be given to other messages.
    pub(super) fn forget(&mut self) {
        self.seqs.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_ones_and_forgets_the_oldest() {
        let mut recent = Recent::default();
        let ids: Vec<Uuid> = (0..RECENT + 2).map(|_| Uuid::now_v7()).collect();
        for (seq, id) in ids.iter().enumerate() {
            recent.stored(*id, seq as i64);
        }
        assert_eq!(recent.seq(&ids[0]), None);
        assert_eq!(recent.seq(&ids[1]), None);
        assert_eq!(recent.seq(&ids[2]), Some(2));
        assert_eq!(recent.seq(&ids[RECENT + 1]), Some(RECENT as i64 + 1));
        assert_eq!(recent.seqs.len(), RECENT);
        recent.forget();
        assert_eq!(recent.seq(&ids[RECENT + 1]), None);
    }
}
