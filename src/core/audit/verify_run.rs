//! A verification run over the R2 mirror, page by page: which seqs to feed next, which slice
//! of the `audit/events/` listing belongs to that page, which listed objects must be read.
//!
//! The pages' listings are contiguous — each starts right after the last key the previous one
//! covered — so every key under the prefix within the run's range is seen exactly once, even
//! keys that are not event keys (`…0007.json.bak` sorts between events 7 and 8). A run whose
//! range ends at the log's end also lists everything after it, where objects the log does not
//! know would sit. [`VerifyRun`] is plain data (serde), stored between pages.

use super::error::AuditError;
use super::event::{event_object_key, parse_event_object_key, Seq, EVENT_OBJECT_PREFIX};
use super::verify::{Verifier, VerifyReport};
use super::LeafRecord;
use serde::{Deserialize, Serialize};

/// A verification in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyRun {
    /// Identifies the run (a cursor for callers).
    pub id: String,
    /// Who started it: `operator:<name>` or `cron:<expression>`.
    pub trigger: String,
    /// First seq checked.
    pub from: u64,
    /// Last seq checked.
    pub to: u64,
    /// The log's size when the run started.
    pub log_size: u64,
    /// When it started (ms since the Unix epoch).
    pub started_at: i64,
    /// The last key a listing of this run covered; `None` before the first listing.
    pub listed_through: Option<String>,
    /// Whether the listing after the log's end was done.
    pub tail_listed: bool,
    /// The core verifier's state.
    pub verifier: Verifier,
}

/// What to read for the next page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PagePlan {
    /// First seq of the page (`last + 1` when the page has no events, only a listing).
    pub first: u64,
    /// Last seq of the page.
    pub last: u64,
    /// List keys strictly after this one (`None`: from the start of the prefix).
    pub list_after: Option<String>,
    /// List keys up to and including this one (`None`: to the end of the prefix).
    pub list_through: Option<String>,
}

/// How the keys of one page's listing are used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageObjects {
    /// Event keys of this page's seqs: their bytes must be read.
    pub read: Vec<String>,
    /// Keys the log does not know: reported by key alone.
    pub unknown: Vec<String>,
}

impl VerifyRun {
    /// Starts a run of `verifier` over `from..=to` of a log of `log_size` events.
    pub fn new(
        id: String,
        trigger: String,
        from: u64,
        to: u64,
        log_size: u64,
        started_at: i64,
        verifier: Verifier,
    ) -> Self {
        VerifyRun {
            id,
            trigger,
            from,
            to,
            log_size,
            started_at,
            listed_through: None,
            tail_listed: false,
            verifier,
        }
    }

    /// Whether the run covers the whole log as it was when the run started.
    pub fn is_full(&self) -> bool {
        self.from <= 1 && self.to == self.log_size
    }

    fn lists_tail(&self) -> bool {
        self.to == self.log_size
    }

    /// The next page of at most `max_events` events (≥ 1), or `None` when everything is fed
    /// and listed and the run can [`VerifyRun::finish`].
    pub fn next_page(&self, max_events: u64) -> Option<PagePlan> {
        let list_after = self
            .listed_through
            .clone()
            .or_else(|| Seq::new(self.from.saturating_sub(1)).map(event_object_key));
        match self.verifier.next_seq() {
            Some(first) => {
                let first = first.get();
                let last = first.saturating_add(max_events.max(1) - 1).min(self.to);
                let list_through = if last == self.to && self.lists_tail() {
                    None
                } else {
                    Some(event_object_key(
                        Seq::new(last).expect("last >= first >= 1"),
                    ))
                };
                Some(PagePlan {
                    first,
                    last,
                    list_after,
                    list_through,
                })
            }
            // An empty range (an empty log) still lists what lies under the prefix.
            None if self.lists_tail() && !self.tail_listed => Some(PagePlan {
                first: self.to + 1,
                last: self.to,
                list_after,
                list_through: None,
            }),
            None => None,
        }
    }

    /// Sorts the keys a listing returned for `plan`. Keys outside the page's slice of the
    /// listing (at or before `plan.list_after`, beyond `plan.list_through`, or not under the
    /// prefix) are ignored: another page covers them. Keys of events appended since
    /// the run started (`log_size < seq ≤ current_size`) are not unknown and are skipped.
    pub fn select_objects(
        &self,
        plan: &PagePlan,
        keys: &[String],
        current_size: u64,
    ) -> PageObjects {
        let mut out = PageObjects::default();
        for key in keys {
            let before = plan.list_after.as_ref().is_some_and(|after| key <= after);
            let beyond = plan
                .list_through
                .as_ref()
                .is_some_and(|through| key > through);
            if before || beyond || !key.starts_with(LIST_PREFIX) {
                continue;
            }
            match parse_event_object_key(key).map(Seq::get) {
                Some(seq) if (plan.first..=plan.last).contains(&seq) => out.read.push(key.clone()),
                Some(seq) if seq > self.log_size && seq <= current_size => {}
                _ => out.unknown.push(key.clone()),
            }
        }
        out
    }

    /// Feeds one page: the log's `records` for `plan.first..=plan.last`, and the objects the
    /// listing selected (`read` with their bytes, or `None` if an object vanished between
    /// listing and reading; `unknown` by key). State is unchanged on error.
    ///
    /// Errors: `AUDIT_VERIFIER_INPUT_OUT_OF_ORDER` (records not the page's, in order).
    pub fn apply(
        &mut self,
        plan: &PagePlan,
        records: &[LeafRecord],
        read: &[(String, Option<Vec<u8>>)],
        unknown: &[String],
    ) -> Result<(), AuditError> {
        let expected = plan.last + 1 - plan.first;
        let in_order = records.len() as u64 == expected
            && records
                .iter()
                .zip(plan.first..)
                .all(|(r, seq)| r.seq.get() == seq);
        if !in_order {
            return Err(AuditError::VerifierInputOutOfOrder {
                detail: format!(
                    "page {}..={} got {} records",
                    plan.first,
                    plan.last,
                    records.len()
                ),
            });
        }
        let mut objects: Vec<(&str, &[u8])> = read
            .iter()
            .filter_map(|(k, bytes)| bytes.as_deref().map(|b| (k.as_str(), b)))
            .collect();
        objects.extend(unknown.iter().map(|k| (k.as_str(), &b""[..])));
        self.verifier.check_page(records, &objects)?;
        match &plan.list_through {
            Some(through) => self.listed_through = Some(through.clone()),
            None => self.tail_listed = true,
        }
        Ok(())
    }

    /// The verdict, once [`VerifyRun::next_page`] is `None`.
    ///
    /// Errors: `AUDIT_VERIFIER_INPUT_OUT_OF_ORDER` if pages are left.
    pub fn finish(self) -> Result<VerifyReport, AuditError> {
        if self.next_page(1).is_some() {
            return Err(AuditError::VerifierInputOutOfOrder {
                detail: "the run has pages left".into(),
            });
        }
        self.verifier.finish()
    }
}

/// The prefix every listing of a run is under.
pub const LIST_PREFIX: &str = EVENT_OBJECT_PREFIX;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::audit::checkpoint::NoteSigner;
    use crate::core::audit::sequencer::tests::{note, MemoryLog};
    use crate::core::audit::sequencer::{append, LogStore};
    use crate::core::audit::verify::{review_anchors, ProblemCode};
    use crate::core::audit::{Frontier, LogHead};
    use std::collections::BTreeMap;

    struct World {
        log: MemoryLog,
        r2: BTreeMap<String, Vec<u8>>,
    }

    fn world(n: u64) -> World {
        let log = MemoryLog::default();
        for i in 0..n {
            append(&log, 1_767_225_600_000 + i as i64, &[note(i)]).unwrap();
        }
        let r2 = log
            .events
            .borrow()
            .values()
            .map(|e| (event_object_key(e.record.seq), e.bytes.clone()))
            .collect();
        World { log, r2 }
    }

    fn records(w: &World, first: u64, last: u64) -> Vec<LeafRecord> {
        let events = w.log.events.borrow();
        (first..=last).map(|s| events[&s].record).collect()
    }

    /// Runs like the Durable Object: list after `list_after` in pages of `list_limit` keys,
    /// stopping once past `list_through`.
    fn run(
        w: &World,
        from: u64,
        to: u64,
        page: u64,
        list_limit: usize,
        current: u64,
    ) -> VerifyReport {
        let signer = NoteSigner::from_seed("paul-p.test/audit", &[1; 32]).unwrap();
        let review = review_anchors::<&str>(&[], &signer.verifier());
        let size = w.log.load().unwrap().head.size();
        let start = if from <= 1 {
            LogHead::genesis()
        } else {
            LogHead {
                frontier: Frontier::from_store(&w.log, from - 1).unwrap(),
                chain_head: w.log.events.borrow()[&(from - 1)].record.chain_hash,
            }
        };
        let verifier = Verifier::new(start, to, size, review).unwrap();
        let mut run = VerifyRun::new("r".into(), "test".into(), from, to, size, 0, verifier);
        while let Some(plan) = run.next_page(page) {
            let mut keys = Vec::new();
            let mut after = plan.list_after.clone();
            loop {
                let batch: Vec<String> = w
                    .r2
                    .keys()
                    .filter(|k| k.starts_with(LIST_PREFIX) && after.as_ref().is_none_or(|a| *k > a))
                    .take(list_limit)
                    .cloned()
                    .collect();
                let done = batch.len() < list_limit
                    || plan
                        .list_through
                        .as_ref()
                        .is_some_and(|t| batch.last().unwrap() > t);
                after = batch.last().cloned().or(after);
                keys.extend(batch);
                if done {
                    break;
                }
            }
            let selected = run.select_objects(&plan, &keys, current.max(size));
            let read: Vec<(String, Option<Vec<u8>>)> = selected
                .read
                .iter()
                .map(|k| (k.clone(), w.r2.get(k).cloned()))
                .collect();
            let recs = if plan.first <= plan.last {
                records(w, plan.first, plan.last)
            } else {
                Vec::new()
            };
            run.apply(&plan, &recs, &read, &selected.unknown).unwrap();
        }
        run.finish().unwrap()
    }

    fn found(r: &VerifyReport) -> Vec<(Option<u64>, ProblemCode)> {
        r.problems
            .iter()
            .map(|p| (p.seq.map(Seq::get), p.code))
            .collect()
    }

    #[test]
    fn untouched_mirror_is_valid_for_any_page_and_listing_size() {
        let w = world(23);
        for page in [1, 4, 7, 23, 100] {
            for list in [1, 3, 1000] {
                let r = run(&w, 1, 23, page, list, 23);
                assert!(r.valid, "page {page} list {list}: {r:#?}");
                assert_eq!(r.checked, 23);
            }
        }
    }

    #[test]
    fn junk_between_pages_and_after_the_end_is_unknown_exactly_once() {
        let mut w = world(12);
        w.r2.insert("audit/events/000000000004.json.bak".into(), b"x".into());
        w.r2.insert("audit/events/000000000000.json".into(), b"x".into());
        w.r2.insert(event_object_key(Seq::new(13).unwrap()), b"{}".into());
        w.r2.insert("audit/events/zzz".into(), b"x".into());
        w.r2.insert("audit/other".into(), b"not under the prefix".into());
        for page in [1, 4, 5, 12] {
            let r = run(&w, 1, 12, page, 2, 12);
            assert_eq!(
                found(&r),
                vec![
                    (Some(13), ProblemCode::UnknownObject),
                    (None, ProblemCode::UnknownObject),
                    (None, ProblemCode::UnknownObject),
                    (None, ProblemCode::UnknownObject),
                ],
                "page {page}"
            );
            assert_eq!(r.checked, 12);
        }
    }

    #[test]
    fn events_appended_during_the_run_are_not_unknown() {
        let w = world(10);
        // The run started at size 8; 9 and 10 were appended (and mirrored) since.
        let signer = NoteSigner::from_seed("paul-p.test/audit", &[1; 32]).unwrap();
        let review = review_anchors::<&str>(&[], &signer.verifier());
        let verifier = Verifier::new(LogHead::genesis(), 8, 8, review).unwrap();
        let mut run8 = VerifyRun::new("r".into(), "t".into(), 1, 8, 8, 0, verifier);
        let plan = run8.next_page(100).unwrap();
        assert_eq!(plan.list_through, None);
        let keys: Vec<String> = w.r2.keys().cloned().collect();
        let selected = run8.select_objects(&plan, &keys, 10);
        assert_eq!(selected.read.len(), 8);
        assert!(selected.unknown.is_empty());
        let read: Vec<_> = selected
            .read
            .iter()
            .map(|k| (k.clone(), w.r2.get(k).cloned()))
            .collect();
        run8.apply(&plan, &records(&w, 1, 8), &read, &selected.unknown)
            .unwrap();
        assert!(run8.finish().unwrap().valid);
    }

    #[test]
    fn tampering_is_reported_at_its_seq_through_pages() {
        let mut w = world(30);
        let k7 = event_object_key(Seq::new(7).unwrap());
        let mut edited = w.r2[&k7].clone();
        edited[10] ^= 1;
        w.r2.insert(k7, edited);
        w.r2.remove(&event_object_key(Seq::new(15).unwrap()));
        for s in 28..=30 {
            w.r2.remove(&event_object_key(Seq::new(s).unwrap()));
        }
        let r = run(&w, 1, 30, 4, 3, 30);
        assert_eq!(
            found(&r),
            vec![
                (Some(7), ProblemCode::EventHashMismatch),
                (Some(15), ProblemCode::SequenceGap),
                (Some(28), ProblemCode::Truncated),
            ]
        );
        assert_eq!(r.first_bad_seq.map(Seq::get), Some(7));
    }

    #[test]
    fn partial_runs_check_only_their_range() {
        let mut w = world(30);
        w.r2.remove(&event_object_key(Seq::new(3).unwrap()));
        let r = run(&w, 10, 20, 4, 5, 30);
        assert!(r.valid, "{r:#?}");
        assert_eq!(r.checked, 11);
        let r = run(&w, 2, 20, 4, 5, 30);
        assert_eq!(found(&r), vec![(Some(3), ProblemCode::SequenceGap)]);
    }

    #[test]
    fn an_empty_log_still_lists_and_reports_strays() {
        let mut w = world(0);
        assert!(run(&w, 1, 0, 10, 10, 0).valid);
        w.r2.insert(event_object_key(Seq::new(1).unwrap()), b"{}".into());
        let r = run(&w, 1, 0, 10, 10, 0);
        assert_eq!(found(&r), vec![(Some(1), ProblemCode::UnknownObject)]);
        assert_eq!(r.checked, 0);
    }

    #[test]
    fn runs_survive_a_serde_round_trip_between_pages() {
        let w = world(9);
        let signer = NoteSigner::from_seed("paul-p.test/audit", &[1; 32]).unwrap();
        let review = review_anchors::<&str>(&[], &signer.verifier());
        let verifier = Verifier::new(LogHead::genesis(), 9, 9, review).unwrap();
        let mut stored = serde_json::to_string(&VerifyRun::new(
            "r".into(),
            "t".into(),
            1,
            9,
            9,
            0,
            verifier,
        ))
        .unwrap();
        loop {
            let mut run: VerifyRun = serde_json::from_str(&stored).unwrap();
            let Some(plan) = run.next_page(2) else {
                assert!(run.finish().unwrap().valid);
                break;
            };
            let keys: Vec<String> = w.r2.keys().cloned().collect();
            let sel = run.select_objects(&plan, &keys, 9);
            let read: Vec<_> = sel
                .read
                .iter()
                .map(|k| (k.clone(), w.r2.get(k).cloned()))
                .collect();
            run.apply(
                &plan,
                &records(&w, plan.first, plan.last),
                &read,
                &sel.unknown,
            )
            .unwrap();
            stored = serde_json::to_string(&run).unwrap();
        }
    }

    #[test]
    fn records_that_do_not_match_the_page_are_refused_without_change() {
        let w = world(5);
        let signer = NoteSigner::from_seed("paul-p.test/audit", &[1; 32]).unwrap();
        let review = review_anchors::<&str>(&[], &signer.verifier());
        let verifier = Verifier::new(LogHead::genesis(), 5, 5, review).unwrap();
        let mut run = VerifyRun::new("r".into(), "t".into(), 1, 5, 5, 0, verifier);
        let plan = run.next_page(3).unwrap();
        let before = run.clone();
        assert!(run.apply(&plan, &records(&w, 2, 4), &[], &[]).is_err());
        assert!(run.apply(&plan, &records(&w, 1, 2), &[], &[]).is_err());
        assert_eq!(run, before);
        assert!(run.clone().finish().is_err());
    }
}
