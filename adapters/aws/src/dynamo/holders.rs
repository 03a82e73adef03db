//! The commit rule's reads: who holds an event, and what each holder's upload says.
//!
//! An event item carries `holders`, a string set of `"{uploadId}/{etag}"` (upload ids have
//! no `/`, so the first `/` splits). A holder is *listing* while its upload is stored with
//! that ETag, and *live* while it is listing or its upload is pending. An event is listed
//! while some holder is listing; since a stored upload never changes again, a listed event
//! stays listed. Upload states are read with strongly consistent BatchGetItem, once per
//! upload per port call.

use super::DynamoTable;
use super::items::{Reader, key, owner_pk, upload_sk};
use eventpulse_generated::types::UploadState;
use eventpulse_handlers::ports::{PortError, PortResult, UploadRecord};
use std::collections::HashMap;

/// The holder tag of an upload committing one content.
pub(crate) fn tag(u: &UploadRecord) -> PortResult<String> {
    let etag = u.etag.as_deref().ok_or_else(|| {
        PortError::permanent(format!(
            "upload {}/{} is committed without the ETag of its content",
            u.owner, u.upload_id
        ))
    })?;
    Ok(format!("{}/{etag}", u.upload_id))
}

fn split(holder: &str) -> (&str, &str) {
    holder.split_once('/').unwrap_or((holder, ""))
}

/// What the commit rule needs of an upload.
#[derive(Debug, Clone)]
struct Ledger {
    status: UploadState,
    etag: Option<String>,
    /// When `mark_stored` ran (the adapter's clock): orders the uploads that list one event.
    committed_at: Option<String>,
}

/// Upload states of one owner, read on demand and kept for one port call.
pub(crate) struct Holders<'a> {
    table: &'a DynamoTable,
    owner: &'a str,
    uploads: HashMap<String, Option<Ledger>>,
}

impl<'a> Holders<'a> {
    pub(crate) fn new(table: &'a DynamoTable, owner: &'a str) -> Self {
        Self {
            table,
            owner,
            uploads: HashMap::new(),
        }
    }

    /// Reads the uploads of these holders not read yet, in consistent batches.
    pub(crate) async fn load<'h>(
        &mut self,
        op: &str,
        holders: impl IntoIterator<Item = &'h String>,
    ) -> PortResult<()> {
        let mut wanted: Vec<String> = Vec::new();
        for h in holders {
            let (upload, _) = split(h);
            if !self.uploads.contains_key(upload) && !wanted.iter().any(|w| w == upload) {
                wanted.push(upload.to_string());
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let keys = wanted
            .iter()
            .map(|u| key(owner_pk(self.owner), upload_sk(u)))
            .collect();
        let items = self
            .table
            .batch_get(op, keys, &["pk", "sk", "status", "etag", "committedAt"])
            .await?;
        for id in wanted {
            self.uploads.insert(id, None);
        }
        for item in &items {
            let r = Reader::new(&self.table.table, item);
            let ledger = Ledger {
                status: r.parse("status")?,
                etag: r.opt_s("etag")?.map(Into::into),
                committed_at: r.opt_s("committedAt")?.map(Into::into),
            };
            self.uploads.insert(r.id("U#")?.to_string(), Some(ledger));
        }
        Ok(())
    }

    fn ledger<'h>(&self, holder: &'h str) -> (Option<&Ledger>, &'h str) {
        let (upload, etag) = split(holder);
        (self.uploads.get(upload).and_then(Option::as_ref), etag)
    }

    /// The holder's upload is stored with the holder's ETag. (Holders must be loaded.)
    pub(crate) fn listing(&self, holder: &str) -> bool {
        matches!(self.ledger(holder),
            (Some(l), etag) if l.status == UploadState::Stored && l.etag.as_deref() == Some(etag))
    }

    /// Listing, or its upload is pending (being committed).
    pub(crate) fn live(&self, holder: &str) -> bool {
        self.listing(holder)
            || matches!(self.ledger(holder), (Some(l), _) if l.status == UploadState::Pending)
    }

    /// The upload that first listed an event held by `holders`, if it is listed: of the
    /// listing holders, the one stored earliest (ties by upload id).
    pub(crate) fn listed_by<'h>(&self, holders: &'h [String]) -> Option<&'h str> {
        holders
            .iter()
            .filter(|h| self.listing(h))
            .min_by_key(|h| {
                (
                    self.ledger(h).0.and_then(|l| l.committed_at.clone()),
                    split(h).0,
                )
            })
            .map(|h| split(h).0)
    }
}
