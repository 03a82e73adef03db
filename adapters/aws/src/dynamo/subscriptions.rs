//! The owners' notification subscriptions ([`SubscriptionTable`]), in the owner's partition
//! beside everything else of theirs:
//!
//! | item | `sk` | attributes |
//! |---|---|---|
//! | subscription | `S#{subscriptionId}` | protocol, endpoint, kinds (list, in order), status, createdAt, secret, deliveryRef |
//! | counter | `SUBS` | `n`, the owner's subscriptions |
//! | endpoint | `SE#{protocol}#{hex SHA-256 of the endpoint}` | subscriptionId |
//!
//! Creating is one transaction of all three (the counter below the cap, the endpoint and
//! the subscription new), so neither rule can be broken by concurrent requests; deleting
//! is one transaction that frees the endpoint and decrements the counter with it. The
//! endpoint is hashed so that its key stays short whatever the endpoint's length. `S#`,
//! `SE#` and `SUBS` sort apart (`#` < `$` < `E` < `U`), so the list is a key range.

use super::DynamoTable;
use super::error;
use super::expr::Expr;
use super::items::{Item, Reader, key, n, owner_pk, s, ts};
use super::reads::backoff;
use aws_sdk_dynamodb::types::AttributeValue;
use eventpulse_generated::types::NotificationKind;
use eventpulse_handlers::ports::{
    PortError, PortResult, SubscriptionCreated, SubscriptionRecord, SubscriptionTable,
};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// The sort key prefix of subscriptions.
const PREFIX: &str = "S#";
/// Above every `S#…` key and below `SE#…` and `SUBS` (`$` follows `#`).
const PREFIX_END: &str = "S$";
/// The per-owner counter.
const COUNTER_SK: &str = "SUBS";
/// Rounds of a transaction cancelled by a concurrent one (DynamoDB's TransactionConflict:
/// every create of an owner writes the same counter item) before the error is returned.
const ROUNDS: u32 = 8;

fn subscription_sk(id: &str) -> String {
    format!("{PREFIX}{id}")
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The key of the item that holds an endpoint for its subscription.
fn endpoint_sk(s: &SubscriptionRecord) -> String {
    format!(
        "SE#{}#{}",
        s.protocol,
        hex(&Sha256::digest(s.endpoint.as_bytes()))
    )
}

/// The create transaction's client request token: the same for every try of one create,
/// distinct across owners and ids, within DynamoDB's 36 characters.
fn create_token(s: &SubscriptionRecord) -> String {
    let digest = Sha256::digest(format!("{}\n{}", s.owner, s.subscription_id).as_bytes());
    hex(&digest[..16])
}

fn subscription_item(sub: &SubscriptionRecord) -> PortResult<Item> {
    let mut item = key(owner_pk(&sub.owner), subscription_sk(&sub.subscription_id));
    item.insert("protocol".into(), s(sub.protocol.to_string()));
    item.insert("endpoint".into(), s(&sub.endpoint));
    item.insert(
        "kinds".into(),
        AttributeValue::L(sub.kinds.iter().map(|k| s(k.to_string())).collect()),
    );
    item.insert("status".into(), s(sub.status.to_string()));
    item.insert("createdAt".into(), s(ts(&sub.created_at)?));
    if let Some(secret) = &sub.secret {
        item.insert("secret".into(), s(secret));
    }
    if let Some(r) = &sub.delivery_ref {
        item.insert("deliveryRef".into(), s(r));
    }
    Ok(item)
}

fn subscription(table: &str, item: &Item) -> PortResult<SubscriptionRecord> {
    let r = Reader::new(table, item);
    let kinds = match item.get("kinds") {
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|v| match v {
                AttributeValue::S(k) => k
                    .parse::<NotificationKind>()
                    .map_err(|_| r.bad(format!("kinds holds {k:?}, not a kind"))),
                _ => Err(r.bad("kinds holds something other than a string")),
            })
            .collect::<PortResult<Vec<_>>>()?,
        _ => return Err(r.bad("kinds is missing or not a list")),
    };
    Ok(SubscriptionRecord {
        owner: r.owner()?.into(),
        subscription_id: r.id(PREFIX)?.into(),
        protocol: r.parse("protocol")?,
        endpoint: r.s("endpoint")?.into(),
        kinds,
        status: r.parse("status")?,
        created_at: r.ts("createdAt")?,
        secret: r.opt_s("secret")?.map(Into::into),
        delivery_ref: r.opt_s("deliveryRef")?.map(Into::into),
    })
}

impl DynamoTable {
    /// [counter below the cap, `ADD n 1`; the endpoint item new; the subscription new].
    pub(crate) async fn create_subscription(
        &self,
        sub: &SubscriptionRecord,
        cap: usize,
    ) -> PortResult<SubscriptionCreated> {
        const OP: &str = "create_subscription";
        let mut last = None;
        for round in 0..ROUNDS {
            if round > 0 {
                tokio::time::sleep(backoff(round)).await;
            }
            let mut counter = Expr::new();
            counter.add("n", n(1));
            let count = counter.name("n");
            let cap = counter.value("cap", n(cap));
            let below_cap = format!("attribute_not_exists({count}) OR {count} < {cap}");
            let mut endpoint = key(owner_pk(&sub.owner), endpoint_sk(sub));
            endpoint.insert("subscriptionId".into(), s(&sub.subscription_id));
            let actions = vec![
                self.update(
                    OP,
                    key(owner_pk(&sub.owner), COUNTER_SK.into()),
                    &counter,
                    Some(below_cap),
                )?,
                self.put(OP, endpoint, true)?,
                self.put(OP, subscription_item(sub)?, true)?,
            ];
            match self
                .transact_with(OP, actions, Some(create_token(sub)))
                .await
            {
                Ok(Ok(())) => return Ok(SubscriptionCreated::Created),
                Ok(Err(refused)) if refused.failed(0) => {
                    return Ok(SubscriptionCreated::LimitReached);
                }
                Ok(Err(refused)) if refused.failed(1) => {
                    return Ok(SubscriptionCreated::EndpointTaken);
                }
                Ok(Err(_)) => {
                    return Err(PortError::permanent(format!(
                        "dynamodb {OP} on table {}: subscription {} of {} exists already",
                        self.table, sub.subscription_id, sub.owner
                    )));
                }
                Err(e) if e.retryable => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| PortError::transient(format!("dynamodb {OP}: no attempt"))))
    }

    pub(crate) async fn get_subscription(
        &self,
        owner: &str,
        id: &str,
    ) -> PortResult<Option<SubscriptionRecord>> {
        self.get(
            "get_subscription",
            key(owner_pk(owner), subscription_sk(id)),
            None,
        )
        .await?
        .map(|item| subscription(&self.table, &item))
        .transpose()
    }

    /// Query `pk = O#{owner}` over the subscriptions' keys, ascending, consistent. A key
    /// condition holds one condition on `sk`, so past a cursor the range is `BETWEEN
    /// S#{after} AND S$` and the item at `after` itself is skipped.
    pub(crate) async fn list_subscriptions(
        &self,
        owner: &str,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<Vec<SubscriptionRecord>> {
        const OP: &str = "list_subscriptions";
        let mut out = Vec::new();
        let after_sk = after.map(subscription_sk);
        let mut start: Option<Item> = None;
        while out.len() < limit {
            let mut e = Expr::new();
            let (pk, sk) = (e.name("pk"), e.name("sk"));
            let partition = e.value("pk", s(owner_pk(owner)));
            let condition = match &after_sk {
                None => {
                    let prefix = e.value("prefix", s(PREFIX));
                    format!("{pk} = {partition} AND begins_with({sk}, {prefix})")
                }
                Some(a) => {
                    let (lo, hi) = (e.value("lo", s(a)), e.value("hi", s(PREFIX_END)));
                    format!("{pk} = {partition} AND {sk} BETWEEN {lo} AND {hi}")
                }
            };
            // One more on the first page past a cursor: the item at the cursor comes back.
            let want = limit - out.len() + usize::from(after_sk.is_some() && start.is_none());
            let page = self
                .client
                .query()
                .table_name(&*self.table)
                .key_condition_expression(condition)
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .consistent_read(true)
                .scan_index_forward(true)
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| error::sdk(OP, &self.table, err))?;
            for item in page.items.unwrap_or_default() {
                let at_cursor = matches!(
                    (item.get("sk"), &after_sk),
                    (Some(AttributeValue::S(k)), Some(a)) if k == a
                );
                if !at_cursor {
                    out.push(subscription(&self.table, &item)?);
                }
            }
            match page.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// UpdateItem `SET status, deliveryRef` (or `REMOVE deliveryRef`), `attribute_exists(pk)`.
    pub(crate) async fn update_subscription(&self, sub: &SubscriptionRecord) -> PortResult<bool> {
        const OP: &str = "update_subscription";
        let mut x = Expr::new();
        x.set("status", s(sub.status.to_string()))
            .set_or_remove("deliveryRef", sub.delivery_ref.as_deref().map(s));
        let condition = format!("attribute_exists({})", x.name("pk"));
        let out = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(key(
                owner_pk(&sub.owner),
                subscription_sk(&sub.subscription_id),
            )))
            .update_expression(x.update())
            .condition_expression(condition)
            .set_expression_attribute_names(x.names())
            .set_expression_attribute_values(x.values())
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(error::sdk(OP, &self.table, err)),
        }
    }

    /// GetItem (consistent), then [delete the subscription if it exists; delete its endpoint
    /// item; counter `ADD n -1`]. `None` when it is missing, or was deleted in between.
    pub(crate) async fn delete_subscription(
        &self,
        owner: &str,
        id: &str,
    ) -> PortResult<Option<SubscriptionRecord>> {
        const OP: &str = "delete_subscription";
        let Some(sub) = self.get_subscription(owner, id).await? else {
            return Ok(None);
        };
        let mut last = None;
        for round in 0..ROUNDS {
            if round > 0 {
                tokio::time::sleep(backoff(round)).await;
            }
            let mut exists = Expr::new();
            let condition = format!("attribute_exists({})", exists.name("pk"));
            let mut counter = Expr::new();
            counter.add("n", n(-1));
            let actions = vec![
                self.delete(
                    OP,
                    key(owner_pk(owner), subscription_sk(id)),
                    &exists,
                    Some(condition),
                )?,
                self.delete(
                    OP,
                    key(owner_pk(owner), endpoint_sk(&sub)),
                    &Expr::new(),
                    None,
                )?,
                self.update(OP, key(owner_pk(owner), COUNTER_SK.into()), &counter, None)?,
            ];
            match self.transact(OP, actions).await {
                Ok(Ok(())) => return Ok(Some(sub)),
                // Deleted by a concurrent request (or by this one, its answer lost).
                Ok(Err(_)) => return Ok(None),
                Err(e) if e.retryable => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| PortError::transient(format!("dynamodb {OP}: no attempt"))))
    }
}

#[async_trait::async_trait]
impl SubscriptionTable for DynamoTable {
    async fn create_subscription(
        &self,
        subscription: &SubscriptionRecord,
        max_per_owner: usize,
    ) -> PortResult<SubscriptionCreated> {
        DynamoTable::create_subscription(self, subscription, max_per_owner).await
    }
    async fn get_subscription(
        &self,
        owner: &str,
        subscription_id: &str,
    ) -> PortResult<Option<SubscriptionRecord>> {
        DynamoTable::get_subscription(self, owner, subscription_id).await
    }
    async fn list_subscriptions(
        &self,
        owner: &str,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<Vec<SubscriptionRecord>> {
        DynamoTable::list_subscriptions(self, owner, after, limit).await
    }
    async fn update_subscription(&self, subscription: &SubscriptionRecord) -> PortResult<bool> {
        DynamoTable::update_subscription(self, subscription).await
    }
    async fn delete_subscription(
        &self,
        owner: &str,
        subscription_id: &str,
    ) -> PortResult<Option<SubscriptionRecord>> {
        DynamoTable::delete_subscription(self, owner, subscription_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use eventpulse_generated::types::{SubscriptionProtocol, SubscriptionState};

    fn record(owner: &str, id: &str, endpoint: &str) -> SubscriptionRecord {
        SubscriptionRecord {
            owner: owner.into(),
            subscription_id: id.into(),
            protocol: SubscriptionProtocol::Sqs,
            endpoint: endpoint.into(),
            kinds: vec![NotificationKind::ExportDone],
            status: SubscriptionState::Pending,
            created_at: Utc::now(),
            secret: None,
            delivery_ref: None,
        }
    }

    /// The three kinds of keys sort apart, so the subscriptions' range holds nothing else.
    #[test]
    fn keys_sort_apart() {
        let r = record("alice", "zzzz", "arn:aws:sqs:us-east-1:123456789012:q");
        let sub = subscription_sk(&r.subscription_id);
        assert!(PREFIX < sub.as_str() && sub.as_str() < PREFIX_END);
        assert!(PREFIX_END < endpoint_sk(&r).as_str() && PREFIX_END < COUNTER_SK);
        assert!(endpoint_sk(&r).starts_with("SE#sqs#") && endpoint_sk(&r).len() == 7 + 64);
    }

    #[test]
    fn the_create_token_is_per_owner_and_id_and_short() {
        let a = create_token(&record("alice", "1", "e"));
        assert_eq!(a, create_token(&record("alice", "1", "other endpoint")));
        assert_ne!(a, create_token(&record("bob", "1", "e")));
        assert_ne!(a, create_token(&record("alice", "2", "e")));
        assert_eq!(a.len(), 32);
    }
}
