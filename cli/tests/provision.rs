//! `eventpulse provision` as a user runs it, against moto server: twice, the same output,
//! and the resources it names exist.
//!
//! Reads `EVENTPULSE_MOTO_ENDPOINT` (`eval "$(bash scripts/moto.sh start)"`) and fails when
//! it is unset: a green run must mean the binary really talked to an AWS endpoint.

use eventpulse_aws::{Clients, Endpoint};
use std::collections::HashMap;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

fn moto() -> String {
    std::env::var("EVENTPULSE_MOTO_ENDPOINT")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect("EVENTPULSE_MOTO_ENDPOINT is not set: start moto with `eval \"$(bash scripts/moto.sh start)\"`")
}

/// The binary with moto as the account, and nothing from the developer's AWS setup.
fn provision(endpoint: &str, prefix: &str, home: &std::path::Path) -> Output {
    let (config, credentials) = (home.join("config"), home.join("credentials"));
    for f in [&config, &credentials] {
        std::fs::write(f, "").expect("empty profile file");
    }
    Command::new(env!("CARGO_BIN_EXE_eventpulse"))
        .args(["provision", "--prefix", prefix])
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .expect("run eventpulse provision")
}

/// `export NAME=value` lines → NAME → value (the values here need no shell quoting).
fn exports(stdout: &str) -> HashMap<String, String> {
    stdout
        .lines()
        .map(|l| {
            let (k, v) = l
                .strip_prefix("export ")
                .and_then(|l| l.split_once('='))
                .unwrap_or_else(|| panic!("not an export line: {l:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[tokio::test]
async fn provision_twice_prints_the_same_configuration() {
    let endpoint = moto();
    let home = tempfile::tempdir().expect("tempdir");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let prefix = format!("ep-cli-{}-{nanos}", std::process::id());

    let first = provision(&endpoint, &prefix, home.path());
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{prefix} is provisioned")),
        "{stderr}"
    );
    let stdout = String::from_utf8(first.stdout).expect("UTF-8");
    let second = provision(&endpoint, &prefix, home.path());
    assert!(second.status.success());
    assert_eq!(String::from_utf8_lossy(&second.stdout), stdout);

    let vars = exports(&stdout);
    let var = |k: &str| vars.get(k).unwrap_or_else(|| panic!("{k} in {stdout}"));
    assert_eq!(vars.len(), 8, "{stdout}");
    assert_eq!(var("EVENTPULSE_TABLE"), &format!("{prefix}-events"));
    assert_eq!(
        var("EVENTPULSE_CURSOR_KEY_PARAMETER"),
        &format!("/{prefix}/cursor-key")
    );

    let clients = Clients::for_endpoint(&Endpoint {
        url: endpoint,
        region: "us-east-1".into(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
    })
    .await;
    for b in [
        "EVENTPULSE_PROCESS_BUCKET",
        "EVENTPULSE_QUARANTINE_BUCKET",
        "EVENTPULSE_EXPORTS_BUCKET",
    ] {
        clients
            .s3
            .head_bucket()
            .bucket(var(b))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{b}: {e:?}"));
    }
    clients
        .dynamodb()
        .describe_table()
        .table_name(var("EVENTPULSE_TABLE"))
        .send()
        .await
        .expect("the table exists");
    clients
        .sns
        .get_topic_attributes()
        .topic_arn(var("EVENTPULSE_NOTIFY_TOPIC_ARN"))
        .send()
        .await
        .expect("the topic exists");
    let sqs = clients.sqs();
    for (q, name) in [
        ("EVENTPULSE_EXPORTS_QUEUE_URL", format!("{prefix}-exports")),
        (
            "EVENTPULSE_EVENTS_QUEUE_URL",
            format!("{prefix}-object-created"),
        ),
    ] {
        let url = sqs
            .get_queue_url()
            .queue_name(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{q}: {e:?}"))
            .queue_url;
        assert_eq!(url.as_ref(), Some(var(q)), "{q}");
    }
    clients
        .eventbridge()
        .describe_rule()
        .name(format!("{prefix}-object-created"))
        .send()
        .await
        .expect("the rule exists");
    clients
        .ssm()
        .get_parameter()
        .name(var("EVENTPULSE_CURSOR_KEY_PARAMETER"))
        .send()
        .await
        .expect("the cursor key exists");
}

#[test]
fn an_invalid_prefix_fails_with_the_reason() {
    let home = tempfile::tempdir().expect("tempdir");
    let o = provision(&moto(), "Bad.Prefix", home.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("invalid prefix \"Bad.Prefix\""), "{stderr}");
}
