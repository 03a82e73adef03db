//! Subscriptions in SQLite ([`SubscriptionTable`]), and the local delivery queue the
//! deliverer ([`crate::deliver`]) works from: what SNS keeps for its subscribers on AWS.

use super::{
    SqliteTable, collect, corrupt, db_error, int, limit, parse_enum, parse_ts, query_rows, ts,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eventpulse_generated::types::{NotificationKind, SubscriptionProtocol};
use eventpulse_handlers::ports::{
    PortResult, SubscriptionCreated, SubscriptionRecord, SubscriptionTable,
};
use rusqlite::{OptionalExtension, Row, params};

const COLUMNS: &str =
    "owner, subscription_id, protocol, endpoint, kinds, status, created_at, secret, delivery_ref";

type Raw = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn raw(r: &Row) -> rusqlite::Result<Raw> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn record(r: Raw) -> PortResult<SubscriptionRecord> {
    let (
        owner,
        subscription_id,
        protocol,
        endpoint,
        kinds,
        status,
        created_at,
        secret,
        delivery_ref,
    ) = r;
    let kinds = kinds
        .split(',')
        .filter(|k| !k.is_empty())
        .map(|k| parse_enum::<NotificationKind>("notification kind", k))
        .collect::<PortResult<Vec<_>>>()?;
    Ok(SubscriptionRecord {
        owner,
        subscription_id,
        protocol: parse_enum("subscription protocol", &protocol)?,
        endpoint,
        kinds,
        status: parse_enum("subscription status", &status)?,
        created_at: parse_ts(&created_at)?,
        secret,
        delivery_ref,
    })
}

/// `,a,b,`: one kind is then found with `instr(kinds, ',a,')`.
fn kinds_text(kinds: &[NotificationKind]) -> String {
    let mut out = String::from(",");
    for k in kinds {
        out.push_str(&k.to_string());
        out.push(',');
    }
    out
}

/// A message due for an endpoint, with what sending it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub owner: String,
    pub subscription_id: String,
    /// The notification's id, or [`CONFIRMATION`].
    pub message_id: String,
    pub body: String,
    pub attempts: u32,
    pub give_up_at: DateTime<Utc>,
    pub protocol: SubscriptionProtocol,
    pub endpoint: String,
    pub secret: Option<String>,
}

/// The message id of a subscription's confirmation request.
pub const CONFIRMATION: &str = "subscription_confirmation";

#[async_trait]
impl SubscriptionTable for SqliteTable {
    async fn create_subscription(
        &self,
        s: &SubscriptionRecord,
        max_per_owner: usize,
    ) -> PortResult<SubscriptionCreated> {
        let s = s.clone();
        let created_at = ts(&s.created_at)?;
        let cap = int(max_per_owner as u64)?;
        // One change on the writer: the count, the endpoint check and the insert see the
        // same state, so concurrent creates cannot pass the cap or repeat an endpoint.
        self.with("create_subscription", move |c| {
            let count: i64 = c
                .prepare_cached("SELECT count(*) FROM subscriptions WHERE owner = ?1")
                .and_then(|mut q| q.query_row(params![s.owner], |r| r.get(0)))
                .map_err(db_error)?;
            if count >= cap {
                return Ok(SubscriptionCreated::LimitReached);
            }
            let taken = c
                .prepare_cached(
                    "SELECT 1 FROM subscriptions WHERE owner = ?1 AND protocol = ?2 AND endpoint = ?3",
                )
                .and_then(|mut q| {
                    q.query_row(params![s.owner, s.protocol.to_string(), s.endpoint], |_| Ok(()))
                        .optional()
                })
                .map_err(db_error)?;
            if taken.is_some() {
                return Ok(SubscriptionCreated::EndpointTaken);
            }
            let n = c
                .prepare_cached(&format!(
                    "INSERT INTO subscriptions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (owner, subscription_id) DO NOTHING"
                ))
                .and_then(|mut q| {
                    q.execute(params![
                        s.owner,
                        s.subscription_id,
                        s.protocol.to_string(),
                        s.endpoint,
                        kinds_text(&s.kinds),
                        s.status.to_string(),
                        created_at,
                        s.secret,
                        s.delivery_ref,
                    ])
                })
                .map_err(db_error)?;
            if n == 0 {
                return Err(corrupt(format!(
                    "subscription id {} is in use already",
                    s.subscription_id
                )));
            }
            Ok(SubscriptionCreated::Created)
        })
        .await
    }

    async fn get_subscription(
        &self,
        owner: &str,
        subscription_id: &str,
    ) -> PortResult<Option<SubscriptionRecord>> {
        let (owner, id) = (owner.to_string(), subscription_id.to_string());
        self.read("get_subscription", move |c| {
            let sql = format!(
                "SELECT {COLUMNS} FROM subscriptions WHERE owner = ?1 AND subscription_id = ?2"
            );
            query_rows(c, &sql, params![owner, id], raw)?
                .pop()
                .map(record)
                .transpose()
        })
        .await
    }

    async fn list_subscriptions(
        &self,
        owner: &str,
        after: Option<&str>,
        n: usize,
    ) -> PortResult<Vec<SubscriptionRecord>> {
        let (owner, after) = (owner.to_string(), after.unwrap_or("").to_string());
        self.read("list_subscriptions", move |c| {
            let sql = format!(
                "SELECT {COLUMNS} FROM subscriptions WHERE owner = ?1 AND subscription_id > ?2
                 ORDER BY subscription_id LIMIT ?3"
            );
            collect(
                query_rows(c, &sql, params![owner, after, limit(n)], raw)?,
                record,
            )
        })
        .await
    }

    async fn update_subscription(&self, s: &SubscriptionRecord) -> PortResult<bool> {
        let s = s.clone();
        self.with("update_subscription", move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE subscriptions SET status = ?3, delivery_ref = ?4
                     WHERE owner = ?1 AND subscription_id = ?2",
                )
                .and_then(|mut q| {
                    q.execute(params![
                        s.owner,
                        s.subscription_id,
                        s.status.to_string(),
                        s.delivery_ref
                    ])
                })
                .map_err(db_error)?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_subscription(
        &self,
        owner: &str,
        subscription_id: &str,
    ) -> PortResult<Option<SubscriptionRecord>> {
        let (owner, id) = (owner.to_string(), subscription_id.to_string());
        self.with("delete_subscription", move |c| {
            let sql = format!(
                "DELETE FROM subscriptions WHERE owner = ?1 AND subscription_id = ?2 RETURNING {COLUMNS}"
            );
            // Its queued deliveries go with it (ON DELETE CASCADE): nothing more is sent.
            query_rows(c, &sql, params![owner, id], raw)?
                .pop()
                .map(record)
                .transpose()
        })
        .await
    }
}

/// The local delivery queue.
impl SqliteTable {
    /// Records the confirmation token's hash on the subscription and queues its
    /// confirmation request; false when the subscription is gone.
    pub async fn queue_confirmation(
        &self,
        owner: &str,
        subscription_id: &str,
        token_hash: String,
        body: String,
        now: DateTime<Utc>,
        give_up_at: DateTime<Utc>,
    ) -> PortResult<bool> {
        let (owner, id) = (owner.to_string(), subscription_id.to_string());
        let (now, give_up_at) = (ts(&now)?, ts(&give_up_at)?);
        self.with("queue_confirmation", move |c| {
            let n = c
                .execute(
                    "UPDATE subscriptions SET confirm_token = ?3 WHERE owner = ?1 AND subscription_id = ?2",
                    params![owner, id, token_hash],
                )
                .map_err(db_error)?;
            if n == 0 {
                return Ok(false);
            }
            c.execute(
                "INSERT INTO deliveries (owner, subscription_id, message_id, body, next_attempt_at, give_up_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT DO UPDATE SET body = excluded.body, attempts = 0,
                     next_attempt_at = excluded.next_attempt_at, give_up_at = excluded.give_up_at",
                params![owner, id, CONFIRMATION, body, now, give_up_at],
            )
            .map_err(db_error)?;
            Ok(true)
        })
        .await
    }

    /// Confirms the subscription whose token has this hash (again is harmless) and drops
    /// its queued confirmation request; its owner and id, or `None` for an unknown token.
    pub async fn confirm_token(&self, token_hash: String) -> PortResult<Option<(String, String)>> {
        self.with("confirm_subscription", move |c| {
            let found: Option<(String, String)> = c
                .query_row(
                    "UPDATE subscriptions SET status = 'confirmed' WHERE confirm_token = ?1
                     RETURNING owner, subscription_id",
                    params![token_hash],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db_error)?;
            if let Some((owner, id)) = &found {
                c.execute(
                    "DELETE FROM deliveries WHERE owner = ?1 AND subscription_id = ?2 AND message_id = ?3",
                    params![owner, id, CONFIRMATION],
                )
                .map_err(db_error)?;
            }
            Ok(found)
        })
        .await
    }

    /// Queues `body` (notification `message_id` of `kind`) for every confirmed subscription
    /// of `owner` that takes `kind`; queuing the same notification again adds nothing.
    /// How many deliveries were queued.
    pub async fn queue_notification(
        &self,
        owner: &str,
        message_id: &str,
        kind: NotificationKind,
        body: String,
        now: DateTime<Utc>,
        give_up_at: DateTime<Utc>,
    ) -> PortResult<usize> {
        let (owner, message_id) = (owner.to_string(), message_id.to_string());
        let kind = format!(",{kind},");
        let (now, give_up_at) = (ts(&now)?, ts(&give_up_at)?);
        self.with("queue_notification", move |c| {
            c.prepare_cached(
                "INSERT INTO deliveries (owner, subscription_id, message_id, body, next_attempt_at, give_up_at)
                 SELECT owner, subscription_id, ?2, ?3, ?4, ?5 FROM subscriptions
                 WHERE owner = ?1 AND status = 'confirmed' AND instr(kinds, ?6) > 0
                 ON CONFLICT DO NOTHING",
            )
            .and_then(|mut q| q.execute(params![owner, message_id, body, now, give_up_at, kind]))
            .map_err(db_error)
        })
        .await
    }

    /// Deliveries due at `now`, the longest waiting first.
    pub async fn due_deliveries(&self, now: DateTime<Utc>, n: usize) -> PortResult<Vec<Delivery>> {
        let now = ts(&now)?;
        self.read("due_deliveries", move |c| {
            let rows = query_rows(
                c,
                "SELECT d.owner, d.subscription_id, d.message_id, d.body, d.attempts, d.give_up_at,
                        s.protocol, s.endpoint, s.secret
                 FROM deliveries d JOIN subscriptions s USING (owner, subscription_id)
                 WHERE d.next_attempt_at <= ?1 ORDER BY d.next_attempt_at LIMIT ?2",
                params![now, limit(n)],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, Option<String>>(8)?,
                    ))
                },
            )?;
            collect(
                rows,
                |(
                    owner,
                    subscription_id,
                    message_id,
                    body,
                    attempts,
                    give_up_at,
                    protocol,
                    endpoint,
                    secret,
                )| {
                    Ok(Delivery {
                        owner,
                        subscription_id,
                        message_id,
                        body,
                        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                        give_up_at: parse_ts(&give_up_at)?,
                        protocol: parse_enum("subscription protocol", &protocol)?,
                        endpoint,
                        secret,
                    })
                },
            )
        })
        .await
    }

    /// When the next queued delivery is due, if any is queued.
    pub async fn next_delivery_at(&self) -> PortResult<Option<DateTime<Utc>>> {
        self.read("next_delivery_at", |c| {
            let t: Option<String> = c
                .query_row("SELECT min(next_attempt_at) FROM deliveries", [], |r| {
                    r.get(0)
                })
                .map_err(db_error)?;
            t.as_deref().map(parse_ts).transpose()
        })
        .await
    }

    /// Removes a delivery: it was delivered, or it is given up.
    pub async fn delivery_done(&self, d: &Delivery) -> PortResult<()> {
        let (owner, id, mid) = (
            d.owner.clone(),
            d.subscription_id.clone(),
            d.message_id.clone(),
        );
        self.with("delivery_done", move |c| {
            c.execute(
                "DELETE FROM deliveries WHERE owner = ?1 AND subscription_id = ?2 AND message_id = ?3",
                params![owner, id, mid],
            )
            .map_err(db_error)?;
            Ok(())
        })
        .await
    }

    /// Records a failed attempt and when to try again.
    pub async fn delivery_failed(
        &self,
        d: &Delivery,
        next_attempt_at: DateTime<Utc>,
        error: String,
    ) -> PortResult<()> {
        let (owner, id, mid) = (
            d.owner.clone(),
            d.subscription_id.clone(),
            d.message_id.clone(),
        );
        let next = ts(&next_attempt_at)?;
        self.with("delivery_failed", move |c| {
            c.execute(
                "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?4, last_error = ?5
                 WHERE owner = ?1 AND subscription_id = ?2 AND message_id = ?3",
                params![owner, id, mid, next, error],
            )
            .map_err(db_error)?;
            Ok(())
        })
        .await
    }
}
