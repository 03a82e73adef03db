//! The read primitives every access pattern is built from: a consistent GetItem, a
//! consistent BatchGetItem (with `UnprocessedKeys` retried), and one page of a Query on a
//! key range. There is no Scan.

use super::DynamoTable;
use super::error;
use super::expr::Expr;
use super::items::{Item, s};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use eventpulse_handlers::ports::{PortError, PortResult};
use std::time::Duration;

/// BatchGetItem takes at most 100 keys.
const BATCH_KEYS: usize = 100;
/// Rounds of `UnprocessedKeys` before giving up (transient: the table is throttling).
const BATCH_ROUNDS: u32 = 10;

/// A jittered exponential backoff ("full jitter"): up to 25 ms · 2^attempt, at most 2 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let cap = 25u64.saturating_mul(1 << attempt.min(7)).min(2_000);
    Duration::from_millis(fastrand::u64(0..=cap))
}

/// `#a, #b, …` for a projection expression.
fn projection(e: &mut Expr, attrs: &[&str]) -> String {
    attrs
        .iter()
        .map(|a| e.name(a))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One end of a sort key range.
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    pub key: String,
    pub inclusive: bool,
}

/// A Query on one partition of the table or an index, over a range of its sort key.
#[derive(Debug, Clone)]
pub(crate) struct KeyQuery {
    /// `None` for the table itself.
    pub index: Option<&'static str>,
    pub pk_attr: &'static str,
    pub pk: String,
    pub sk_attr: &'static str,
    pub lower: Option<Bound>,
    pub upper: Option<Bound>,
    /// Ascending sort key order when true.
    pub forward: bool,
}

impl KeyQuery {
    /// False when the range holds no key at all (DynamoDB refuses a BETWEEN whose lower end
    /// is above its upper end, so such a query is never sent).
    fn can_match(&self) -> bool {
        match (&self.lower, &self.upper) {
            (Some(lo), Some(hi)) => {
                lo.key < hi.key || (lo.key == hi.key && lo.inclusive && hi.inclusive)
            }
            _ => true,
        }
    }

    /// Key condition on the pk and the range. One condition is allowed on a sort key, so
    /// a range with two ends is a BETWEEN (inclusive), and the excluded ends are dropped
    /// from the results by [`KeyQuery::within`].
    fn condition(&self, e: &mut Expr) -> String {
        let pk = e.name(self.pk_attr);
        let pv = e.value("pk", s(&self.pk));
        let mut c = format!("{pk} = {pv}");
        if self.lower.is_none() && self.upper.is_none() {
            return c;
        }
        let sk = e.name(self.sk_attr);
        match (&self.lower, &self.upper) {
            (None, None) => {}
            (Some(lo), None) => {
                let op = if lo.inclusive { ">=" } else { ">" };
                let v = e.value("lo", s(&lo.key));
                c.push_str(&format!(" AND {sk} {op} {v}"));
            }
            (None, Some(hi)) => {
                let op = if hi.inclusive { "<=" } else { "<" };
                let v = e.value("hi", s(&hi.key));
                c.push_str(&format!(" AND {sk} {op} {v}"));
            }
            (Some(lo), Some(hi)) => {
                let (l, h) = (e.value("lo", s(&lo.key)), e.value("hi", s(&hi.key)));
                c.push_str(&format!(" AND {sk} BETWEEN {l} AND {h}"));
            }
        }
        c
    }

    /// Whether an item returned by the key condition is within the range's excluded ends.
    fn within(&self, item: &Item) -> bool {
        let Some(AttributeValue::S(k)) = item.get(self.sk_attr) else {
            return true; // the conversion reports the malformed item
        };
        let lo_ok = self
            .lower
            .as_ref()
            .is_none_or(|b| b.inclusive || k != &b.key);
        let hi_ok = self
            .upper
            .as_ref()
            .is_none_or(|b| b.inclusive || k != &b.key);
        lo_ok && hi_ok
    }
}

/// One page of a query, and where the next one starts (`None` at the end).
pub(crate) struct Page {
    pub items: Vec<Item>,
    pub next: Option<Item>,
}

impl DynamoTable {
    /// A strongly consistent GetItem, optionally of some attributes only.
    pub(crate) async fn get(
        &self,
        op: &str,
        key: Item,
        attrs: Option<&[&str]>,
    ) -> PortResult<Option<Item>> {
        let mut e = Expr::new();
        let projection = attrs.map(|a| projection(&mut e, a));
        let out = self
            .client
            .get_item()
            .table_name(&*self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .set_projection_expression(projection)
            .set_expression_attribute_names(e.names())
            .send()
            .await
            .map_err(|err| error::sdk(op, &self.table, err))?;
        Ok(out.item)
    }

    /// Strongly consistent reads of many items (distinct keys), in batches of 100, retrying
    /// the keys DynamoDB leaves unprocessed with a jittered backoff. Missing items are
    /// simply absent from the result, which is in no particular order.
    pub(crate) async fn batch_get(
        &self,
        op: &str,
        keys: Vec<Item>,
        attrs: &[&str],
    ) -> PortResult<Vec<Item>> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_KEYS) {
            let mut pending = chunk.to_vec();
            let mut round = 0;
            while !pending.is_empty() {
                if round == BATCH_ROUNDS {
                    return Err(PortError::transient(format!(
                        "dynamodb {op} on table {}: {} keys still unprocessed after {BATCH_ROUNDS} rounds",
                        self.table,
                        pending.len()
                    )));
                }
                if round > 0 {
                    tokio::time::sleep(backoff(round)).await;
                }
                round += 1;
                let mut e = Expr::new();
                let projection = projection(&mut e, attrs);
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .projection_expression(projection)
                    .set_expression_attribute_names(e.names())
                    .build()
                    .map_err(|err| error::build(op, &self.table, err))?;
                let mut out = self
                    .client
                    .batch_get_item()
                    .request_items(&*self.table, request)
                    .send()
                    .await
                    .map_err(|err| error::sdk(op, &self.table, err))?;
                if let Some(items) = out.responses.as_mut().and_then(|r| r.remove(&*self.table)) {
                    found.extend(items);
                }
                if let Some(left) = out
                    .unprocessed_keys
                    .as_mut()
                    .and_then(|u| u.remove(&*self.table))
                {
                    pending = left.keys;
                }
            }
        }
        Ok(found)
    }

    /// One page of `q`, at most `limit` items read, from `start` (a previous page's `next`).
    pub(crate) async fn query_page(
        &self,
        op: &str,
        q: &KeyQuery,
        start: Option<Item>,
        limit: usize,
    ) -> PortResult<Page> {
        if !q.can_match() || limit == 0 {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let mut e = Expr::new();
        let condition = q.condition(&mut e);
        let out = self
            .client
            .query()
            .table_name(&*self.table)
            .set_index_name(q.index.map(Into::into))
            .key_condition_expression(condition)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .scan_index_forward(q.forward)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|err| error::sdk(op, &self.table, err))?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter(|i| q.within(i))
            .collect();
        Ok(Page {
            items,
            next: out.last_evaluated_key.filter(|k| !k.is_empty()),
        })
    }

    /// Up to `limit` items of `q`, page after page.
    pub(crate) async fn query_up_to(
        &self,
        op: &str,
        q: &KeyQuery,
        limit: usize,
    ) -> PortResult<Vec<Item>> {
        let mut out = Vec::new();
        let mut start = None;
        while out.len() < limit {
            let page = self.query_page(op, q, start, limit - out.len()).await?;
            out.extend(page.items);
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }
}
