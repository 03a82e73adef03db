//! The commit rule: how one object's events become stored, in steps every backend can take.
//!
//! DynamoDB cannot write 1,000 events, an upload record and a quarantine removal in one
//! atomic step (`TransactWriteItems` takes 100 actions and 4 MB), so no backend is asked to.
//! Instead the processor drives a replay-safe sequence of small steps (ARCHITECTURE.md,
//! "The commit rule"):
//!
//! 1. **Ledger**: a final upload is not committed again (a replay, or other content).
//! 2. **Pre-check**: conflicts with events other uploads hold are found before anything is
//!    written, so the common conflict (changed content re-sent under old eventIds) writes
//!    nothing at all. (Skipped for a lone event: its conditional hold writes nothing either.)
//! 3. **Hold** the events in chunks of [`CHUNK`], each event on its own condition, tagged
//!    with the upload id and ETag. Held events are invisible.
//! 4. **Mark stored**: the commit point. All held events are listed from here on, at once.
//!    It is asked for together with the last chunk's hold
//!    ([`EventTable::hold_and_mark_stored`]): a backend that can take both in one atomic
//!    step does (SQLite), the others take them one after the other.
//!
//! A crash between any two steps leaves the object in the process bucket and the upload
//! pending, with some events held and none listed; the replay holds them again (a no-op for
//! those already held) and marks the upload stored. A conflict that appears only mid-way (a
//! concurrent upload took an eventId after the pre-check) releases what was held and ends
//! in the conflict quarantine.

use crate::ports::{
    EventRecord, EventTable, Held, HoldAndMark, PortError, PortResult, conflicts_in,
};
use crate::ports::{StoreOutcome, UploadRecord};
use eventpulse_generated::types::UploadState;
use std::collections::{HashMap, HashSet};

/// Events held per table call: DynamoDB's transaction and batch limits are 100 and 25
/// items; 100 conditional writes in flight at once is the AWS adapter's unit of work.
pub const CHUNK: usize = 100;

/// Stores every event of one object under `upload` (status ignored: it becomes stored),
/// or nothing visible at all.
///
/// An event that repeats an earlier event of the same object with the same content counts as
/// a duplicate; with other content, as a conflict.
pub async fn store_events(
    table: &dyn EventTable,
    upload: &UploadRecord,
    events: &[EventRecord],
) -> PortResult<StoreOutcome> {
    let ledger = table.get_upload(&upload.owner, &upload.upload_id).await?;
    store_events_after(table, upload, events, ledger).await
}

/// [`store_events`] for a caller that has just read the upload's record (`ledger`): the
/// processor reads it to decide whether to process at all, and a second read here would
/// cost a table round trip per object for nothing. A record that changed since it was read
/// is no risk: every later step is conditional (a hold on the upload's own condition, the
/// mark on the upload still pending), so a commit that raced another run's outcome ends in
/// `AlreadyFinal` or `already` as if it had read the newer record.
pub async fn store_events_after(
    table: &dyn EventTable,
    upload: &UploadRecord,
    events: &[EventRecord],
    ledger: Option<UploadRecord>,
) -> PortResult<StoreOutcome> {
    let etag = upload.etag.as_deref().ok_or_else(|| {
        PortError::permanent("an upload is committed with the ETag of its content")
    })?;
    if let Some(e) = events
        .iter()
        .find(|e| e.owner != upload.owner || e.upload_id != upload.upload_id)
    {
        return Err(PortError::permanent(format!(
            "event {} belongs to {}/{}, not to upload {}/{}",
            e.event_id, e.owner, e.upload_id, upload.owner, upload.upload_id
        )));
    }

    // 1. The ledger.
    match ledger {
        Some(u) if u.status == UploadState::Stored && u.etag.as_deref() == Some(etag) => {
            return Ok(StoreOutcome::Stored {
                inserted: 0,
                duplicates: 0,
                already: true,
            });
        }
        Some(u) if u.status != UploadState::Pending => {
            return Ok(StoreOutcome::AlreadyFinal(u.status));
        }
        Some(_) => {}
        None => {
            // Holds name a pending upload, so that they count as live (and cannot be taken
            // over) while this commit is under way. Losing a race to create it is fine.
            let pending = UploadRecord {
                status: UploadState::Pending,
                event_count: None,
                processed_at: None,
                reason_code: None,
                ..upload.clone()
            };
            table.create_upload(&pending).await?;
        }
    }

    // Repeats within the object: the same content is a duplicate, other content a conflict.
    let mut first: HashMap<&str, &str> = HashMap::with_capacity(events.len());
    let mut distinct: Vec<EventRecord> = Vec::with_capacity(events.len());
    let mut repeats = 0u64;
    let mut conflicts: Vec<String> = Vec::new();
    for e in events {
        match first.get(e.event_id.as_str()) {
            None => {
                first.insert(&e.event_id, &e.content_hash);
                distinct.push(e.clone());
            }
            Some(h) if *h == e.content_hash => repeats += 1,
            Some(_) => conflicts.push(e.event_id.clone()),
        }
    }

    // 2. The pre-check (in chunks too: a backend reads them in batches). A lone event needs
    // none: its hold is conditional, and a conflicting hold writes nothing, which is all the
    // pre-check would have spared (a round trip per single-event object saved).
    if distinct.len() > 1 {
        for chunk in distinct.chunks(CHUNK) {
            conflicts.extend(table.find_conflicts(upload, chunk).await?);
        }
    }
    if !conflicts.is_empty() {
        return Ok(StoreOutcome::Conflict {
            event_ids: in_document_order(events, conflicts),
        });
    }

    // 3. Hold, chunk by chunk; 4. the commit point, taken with the last chunk (one step on a
    // backend that can make it atomic, two otherwise).
    let (mut inserted, mut duplicates) = (0u64, repeats);
    let chunks: Vec<&[EventRecord]> = distinct.chunks(CHUNK).collect();
    let last_step = match chunks.split_last() {
        // No events (the schema refuses an empty batch; the rule holds regardless).
        None => HoldAndMark::after_mark(table.mark_stored(upload).await?, Vec::new()),
        Some((last, earlier)) => {
            for (n, chunk) in earlier.iter().enumerate() {
                let held = table.hold_events(upload, chunk).await?;
                let lost = conflicts_in("hold_events", chunk, &held)?;
                if !lost.is_empty() {
                    release(table, upload, &distinct[..(n + 1) * CHUNK]).await?;
                    return Ok(StoreOutcome::Conflict {
                        event_ids: in_document_order(events, lost),
                    });
                }
                count(&held, &mut inserted, &mut duplicates);
            }
            let step = table.hold_and_mark_stored(upload, last).await?;
            if let HoldAndMark::Marked(held) = &step {
                conflicts_in("hold_and_mark_stored", last, held)?;
            }
            step
        }
    };
    match last_step {
        HoldAndMark::Marked(held) => {
            count(&held, &mut inserted, &mut duplicates);
            Ok(StoreOutcome::Stored {
                inserted,
                duplicates,
                already: false,
            })
        }
        HoldAndMark::Conflict(lost) => {
            release(table, upload, &distinct).await?;
            Ok(StoreOutcome::Conflict {
                event_ids: in_document_order(events, lost),
            })
        }
        HoldAndMark::AlreadyStored => Ok(StoreOutcome::Stored {
            inserted: 0,
            duplicates: 0,
            already: true,
        }),
        HoldAndMark::AlreadyFinal(state) => {
            // Another run finalised the upload first (quarantined, or stored with other
            // content): these holds must never be listed, and are void already; drop them.
            release(table, upload, &distinct).await?;
            Ok(StoreOutcome::AlreadyFinal(state))
        }
    }
}

fn count(held: &[Held], inserted: &mut u64, duplicates: &mut u64) {
    for h in held {
        match h {
            Held::New => *inserted += 1,
            Held::Duplicate => *duplicates += 1,
            Held::Conflict => {}
        }
    }
}

async fn release(
    table: &dyn EventTable,
    upload: &UploadRecord,
    events: &[EventRecord],
) -> PortResult<()> {
    for chunk in events.chunks(CHUNK) {
        let ids: Vec<String> = chunk.iter().map(|e| e.event_id.clone()).collect();
        table.release_events(upload, &ids).await?;
    }
    Ok(())
}

/// `ids` in the order their events first appear in the object, each once.
fn in_document_order(events: &[EventRecord], ids: Vec<String>) -> Vec<String> {
    let mut wanted: HashSet<String> = ids.into_iter().collect();
    let mut out: Vec<String> = Vec::with_capacity(wanted.len());
    for e in events {
        if wanted.remove(&e.event_id) {
            out.push(e.event_id.clone());
        }
    }
    out
}
