//! The table's definition, and creating it where it is missing (tests, first deployments;
//! the SAM template declares the same table, and a test can compare the two through
//! [`table_definition`]).

use super::error;
use super::reads::backoff;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType,
    Projection, ProjectionType, ScalarAttributeType, TableDescription, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use eventpulse_handlers::ports::{PortError, PortResult};
use std::time::{Duration, Instant};

/// A key schema: a partition key and a sort key, both strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDefinition {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// A global secondary index; every index projects ALL attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: &'static str,
    pub key: KeyDefinition,
}

/// The whole table: keys, indexes, TTL attribute; billing is on demand (PAY_PER_REQUEST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDefinition {
    pub key: KeyDefinition,
    pub indexes: [IndexDefinition; 3],
    /// Epoch seconds after which DynamoDB deletes the item (notifications).
    pub ttl_attribute: &'static str,
}

/// What [`provision`] creates and what every access pattern relies on.
pub fn table_definition() -> TableDefinition {
    let index = |name, partition_key, sort_key| IndexDefinition {
        name,
        key: KeyDefinition {
            partition_key,
            sort_key,
        },
    };
    TableDefinition {
        key: KeyDefinition {
            partition_key: "pk",
            sort_key: "sk",
        },
        indexes: [
            index("gsi1", "gsi1pk", "gsi1sk"),
            index("gsi2", "gsi2pk", "gsi2sk"),
            index("gsi3", "gsi3pk", "gsi3sk"),
        ],
        ttl_attribute: "expiresAt",
    }
}

/// How long a new table (and its indexes) may take to become ACTIVE.
const ACTIVE_WITHIN: Duration = Duration::from_secs(300);

fn schema(op: &str, table: &str, k: KeyDefinition) -> PortResult<Vec<KeySchemaElement>> {
    [
        (k.partition_key, KeyType::Hash),
        (k.sort_key, KeyType::Range),
    ]
    .into_iter()
    .map(|(name, kind)| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| error::build(op, table, e))
    })
    .collect()
}

fn has_keys(elements: &[KeySchemaElement], want: KeyDefinition) -> bool {
    let name = |kind: KeyType| {
        elements
            .iter()
            .find(|e| *e.key_type() == kind)
            .map(|e| e.attribute_name())
    };
    elements.len() == 2
        && name(KeyType::Hash) == Some(want.partition_key)
        && name(KeyType::Range) == Some(want.sort_key)
}

/// Refuses an existing table whose keys or indexes are not the ones this adapter queries.
fn check_shape(table: &str, d: &TableDescription) -> PortResult<()> {
    let def = table_definition();
    let mismatch = |what: String| {
        PortError::permanent(format!(
            "dynamodb provision on table {table}: the existing table {what}; expected {def:?}"
        ))
    };
    if !has_keys(d.key_schema(), def.key) {
        return Err(mismatch(format!("has key schema {:?}", d.key_schema())));
    }
    for want in def.indexes {
        let found = d
            .global_secondary_indexes()
            .iter()
            .find(|g| g.index_name() == Some(want.name));
        match found {
            Some(g) if has_keys(g.key_schema(), want.key) => {}
            _ => return Err(mismatch(format!("lacks index {want:?}"))),
        }
    }
    Ok(())
}

fn is_active(d: &TableDescription) -> bool {
    d.table_status() == Some(&TableStatus::Active)
        && d.global_secondary_indexes()
            .iter()
            .all(|g| g.index_status() == Some(&IndexStatus::Active))
}

async fn describe(client: &Client, table: &str) -> PortResult<Option<TableDescription>> {
    match client.describe_table().table_name(table).send().await {
        Ok(out) => Ok(out.table),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => Err(error::sdk("provision (DescribeTable)", table, err)),
    }
}

async fn create(client: &Client, table: &str) -> PortResult<()> {
    const OP: &str = "provision (CreateTable)";
    let def = table_definition();
    let mut attributes = vec![def.key.partition_key, def.key.sort_key];
    for i in def.indexes {
        attributes.extend([i.key.partition_key, i.key.sort_key]);
    }
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(schema(OP, table, def.key)?));
    for a in attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| error::build(OP, table, e))?,
        );
    }
    for i in def.indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(i.name)
                .set_key_schema(Some(schema(OP, table, i.key)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(|e| error::build(OP, table, e))?,
        );
    }
    match request.send().await {
        Ok(_) => Ok(()),
        // Someone else is creating it: wait for it like for ours.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(err) => Err(error::sdk(OP, table, err)),
    }
}

async fn enable_ttl(client: &Client, table: &str) -> PortResult<()> {
    const OP: &str = "provision (TimeToLive)";
    let attr = table_definition().ttl_attribute;
    let now = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| error::sdk(OP, table, e))?;
    let current = now.time_to_live_description();
    if let Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) =
        current.and_then(|d| d.time_to_live_status())
    {
        let on = current.and_then(|d| d.attribute_name());
        if on == Some(attr) {
            return Ok(());
        }
        return Err(PortError::permanent(format!(
            "dynamodb {OP} on table {table}: TTL is on {on:?}, expected {attr}"
        )));
    }
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(attr)
        .enabled(true)
        .build()
        .map_err(|e| error::build(OP, table, e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(spec)
        .send()
        .await
        .map_err(|e| error::sdk(OP, table, e))?;
    Ok(())
}

/// Creates the table if it is missing (on-demand billing, the three indexes, TTL on
/// `expiresAt`) and waits until it and its indexes are ACTIVE. Idempotent; an existing
/// table of another shape is refused. True when this call created it.
pub async fn provision(client: &Client, table_name: &str) -> PortResult<bool> {
    let created = match describe(client, table_name).await? {
        Some(d) => {
            check_shape(table_name, &d)?;
            false
        }
        None => {
            create(client, table_name).await?;
            true
        }
    };
    let started = Instant::now();
    let mut round = 0;
    loop {
        match describe(client, table_name).await? {
            Some(d) if is_active(&d) => {
                check_shape(table_name, &d)?;
                break;
            }
            _ if started.elapsed() > ACTIVE_WITHIN => {
                return Err(PortError::transient(format!(
                    "dynamodb provision on table {table_name}: not ACTIVE after {ACTIVE_WITHIN:?}"
                )));
            }
            _ => {}
        }
        round += 1;
        tokio::time::sleep(backoff(round).max(Duration::from_millis(100))).await;
    }
    enable_ttl(client, table_name).await?;
    Ok(created)
}
