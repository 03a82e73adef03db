//! The SAM template (`infra/template.yaml`) against what the code needs: the table is the
//! one `table_definition()` describes (and `eventpulse provision` creates), each function's
//! role allows exactly what `eventpulse_aws::iam` lists for it, the functions get the
//! environment `Settings::from_env` reads, the API definition is the generated file, and
//! the alarms name the metrics the processor emits. No AWS and no moto: the template is
//! read as YAML.

use eventpulse_aws::Settings;
use eventpulse_aws::compose::{
    CURSOR_KEY_PARAMETER, EXPORTS_BUCKET, EXPORTS_QUEUE_URL, NOTIFY_TOPIC_ARN, PROCESS_BUCKET,
    QUARANTINE_BUCKET, TABLE,
};
use eventpulse_aws::dynamo::table_definition;
use eventpulse_aws::iam::{self, Function, Resource, Service};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// CloudFormation's short forms (`!Ref X`, `!GetAtt A.B`, `!Sub s`, …) as the long forms
/// they stand for, so the template reads as plain JSON.
fn to_json(v: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64().expect("a YAML number"))
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(s) => Value::Array(s.into_iter().map(to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let k = match to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = to_json(t.value);
            match name {
                "Ref" | "Condition" => json!({ name: value }),
                "GetAtt" => match value {
                    Value::String(s) => {
                        let (resource, attribute) =
                            s.split_once('.').expect("!GetAtt Resource.Attribute");
                        json!({ "Fn::GetAtt": [resource, attribute] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                _ => json!({ format!("Fn::{name}"): value }),
            }
        }
    }
}

fn template() -> Value {
    let text = std::fs::read_to_string(repo().join("infra/template.yaml")).expect("template");
    to_json(serde_yaml::from_str(&text).expect("the template is YAML"))
}

fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    t["Resources"]
        .get(id)
        .unwrap_or_else(|| panic!("the template has no resource {id}"))
}

fn props<'a>(t: &'a Value, id: &str) -> &'a Value {
    &resource(t, id)["Properties"]
}

fn of_type<'a>(t: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    t["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

/// An ARN-valued expression as text: `!GetAtt A.B` → `${A.B}`, `!Ref X` → `${X}`, `!Sub s`
/// → `s`, a string as it is.
fn expr(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) if o.len() == 1 => {
            let (k, inner) = o.iter().next().expect("one key");
            match (k.as_str(), inner) {
                ("Ref", Value::String(x)) => format!("${{{x}}}"),
                ("Fn::GetAtt", Value::Array(a)) if a.len() == 2 => {
                    format!(
                        "${{{}.{}}}",
                        a[0].as_str().expect("id"),
                        a[1].as_str().expect("attribute")
                    )
                }
                ("Fn::Sub", Value::String(s)) => s.clone(),
                _ => panic!("not a resource expression: {v}"),
            }
        }
        _ => panic!("not a resource expression: {v}"),
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().map(expr).collect(),
        other => vec![expr(other)],
    }
}

// ---------------------------------------------------------------------------------------
// The table.

#[test]
fn the_table_is_the_one_the_adapter_queries() {
    let t = template();
    let def = table_definition();
    let table = resource(&t, "Table");
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    let p = &table["Properties"];
    let key_schema = |k: eventpulse_aws::dynamo::KeyDefinition| {
        json!([
            {"AttributeName": k.partition_key, "KeyType": "HASH"},
            {"AttributeName": k.sort_key, "KeyType": "RANGE"},
        ])
    };
    assert_eq!(p["KeySchema"], key_schema(def.key));

    let mut want_attributes = BTreeMap::new();
    for k in std::iter::once(def.key).chain(def.indexes.iter().map(|i| i.key)) {
        want_attributes.insert(k.partition_key.to_string(), "S".to_string());
        want_attributes.insert(k.sort_key.to_string(), "S".to_string());
    }
    let attributes: BTreeMap<String, String> = p["AttributeDefinitions"]
        .as_array()
        .expect("AttributeDefinitions")
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().expect("name").to_string(),
                a["AttributeType"].as_str().expect("type").to_string(),
            )
        })
        .collect();
    assert_eq!(
        p["AttributeDefinitions"].as_array().map(Vec::len),
        Some(attributes.len()),
        "an attribute is defined twice"
    );
    assert_eq!(attributes, want_attributes);

    let indexes: BTreeMap<String, &Value> = p["GlobalSecondaryIndexes"]
        .as_array()
        .expect("GlobalSecondaryIndexes")
        .iter()
        .map(|g| (g["IndexName"].as_str().expect("IndexName").to_string(), g))
        .collect();
    let want: BTreeSet<String> = def.indexes.iter().map(|i| i.name.to_string()).collect();
    assert_eq!(indexes.keys().cloned().collect::<BTreeSet<_>>(), want);
    for i in def.indexes {
        let g = indexes[i.name];
        assert_eq!(g["KeySchema"], key_schema(i.key), "index {}", i.name);
        // table_definition() projects ALL on every index (provision creates them so).
        assert_eq!(
            g["Projection"],
            json!({"ProjectionType": "ALL"}),
            "index {}",
            i.name
        );
        assert!(
            g.get("ProvisionedThroughput").is_none(),
            "on-demand: {}",
            i.name
        );
    }

    assert_eq!(
        p["TimeToLiveSpecification"],
        json!({"AttributeName": def.ttl_attribute, "Enabled": true})
    );
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(p["DeletionProtectionEnabled"], true);
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["SSESpecification"]["SSEType"], "KMS");
    assert_eq!(expr(&p["SSESpecification"]["KMSMasterKeyId"]), "${Key.Arn}");
    assert_eq!(table["DeletionPolicy"], "Retain");
}

// ---------------------------------------------------------------------------------------
// The roles.

const ROLES: [(Function, &str, &str, &str); 3] = [
    (
        Function::Processor,
        "ProcessorFunction",
        "ProcessorRole",
        "ProcessorLogGroup",
    ),
    (
        Function::Exporter,
        "ExporterFunction",
        "ExporterRole",
        "ExporterLogGroup",
    ),
    (Function::Api, "ApiFunction", "ApiRole", "ApiLogGroup"),
];

/// The template's ARN expression for each resource `iam` names, and the type it must be.
fn arn_of(function: Function, r: Resource) -> (String, Option<(&'static str, &'static str)>) {
    let log_group = ROLES
        .iter()
        .find(|(f, ..)| *f == function)
        .map(|(.., log_group)| *log_group)
        .expect("every function is in ROLES");
    match r {
        Resource::ProcessBucket => ("${ProcessBucket.Arn}".into(), Some(("ProcessBucket", "AWS::S3::Bucket"))),
        Resource::ProcessIncoming => (
            "${ProcessBucket.Arn}/incoming/*".into(),
            Some(("ProcessBucket", "AWS::S3::Bucket")),
        ),
        Resource::QuarantineObjects => (
            "${QuarantineBucket.Arn}/*".into(),
            Some(("QuarantineBucket", "AWS::S3::Bucket")),
        ),
        Resource::ExportsObjects => (
            "${ExportsBucket.Arn}/*".into(),
            Some(("ExportsBucket", "AWS::S3::Bucket")),
        ),
        Resource::Table => ("${Table.Arn}".into(), Some(("Table", "AWS::DynamoDB::Table"))),
        Resource::Index(name) => (
            format!("${{Table.Arn}}/index/{name}"),
            Some(("Table", "AWS::DynamoDB::Table")),
        ),
        Resource::NotifyTopic => (
            "${NotificationsTopic}".into(),
            Some(("NotificationsTopic", "AWS::SNS::Topic")),
        ),
        // A subscription's ARN is the topic's, `:` and its id.
        Resource::NotifySubscriptions => (
            "${NotificationsTopic}:*".into(),
            Some(("NotificationsTopic", "AWS::SNS::Topic")),
        ),
        Resource::ExportsQueue => (
            "${ExportsQueue.Arn}".into(),
            Some(("ExportsQueue", "AWS::SQS::Queue")),
        ),
        Resource::CursorKey => (
            "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${AWS::StackName}/cursor-key".into(),
            None,
        ),
        Resource::ProcessorFailureQueue => (
            "${ProcessorFailureQueue.Arn}".into(),
            Some(("ProcessorFailureQueue", "AWS::SQS::Queue")),
        ),
        Resource::OwnLogGroup => (
            format!("${{{log_group}.Arn}}"),
            Some((log_group, "AWS::Logs::LogGroup")),
        ),
        Resource::Any => ("*".into(), None),
    }
}

type Grants = BTreeSet<(String, String)>;

/// A role's Allow statements as (action, resource) pairs, and its key statements as
/// (KMS action, kms:ViaService endpoint prefix) pairs.
fn role_grants(t: &Value, role: &str) -> (Grants, Grants) {
    let r = resource(t, role);
    assert_eq!(r["Type"], "AWS::IAM::Role");
    let p = &r["Properties"];
    assert!(
        p.get("ManagedPolicyArns").is_none(),
        "{role}: a managed policy is not least privilege"
    );
    let via = regex_free_via();
    let (mut grants, mut key) = (Grants::new(), Grants::new());
    for policy in p["Policies"].as_array().expect("Policies") {
        for s in policy["PolicyDocument"]["Statement"]
            .as_array()
            .expect("Statement")
        {
            let sid = s["Sid"].as_str().unwrap_or("?");
            assert_eq!(s["Effect"], "Allow", "{role}/{sid}");
            assert!(
                s.get("NotAction").is_none() && s.get("NotResource").is_none(),
                "{role}/{sid}"
            );
            let actions: Vec<String> = match &s["Action"] {
                Value::Array(a) => a
                    .iter()
                    .map(|a| a.as_str().expect("action").to_string())
                    .collect(),
                Value::String(a) => vec![a.clone()],
                other => panic!("{role}/{sid}: Action {other}"),
            };
            let resources = strings(&s["Resource"]);
            for a in &actions {
                assert!(!a.contains('*'), "{role}/{sid}: wildcard action {a}");
            }
            if actions.iter().any(|a| a.starts_with("kms:")) {
                assert!(
                    actions.iter().all(|a| a.starts_with("kms:")),
                    "{role}/{sid}"
                );
                assert_eq!(
                    resources,
                    ["${Key.Arn}"],
                    "{role}/{sid}: the stack's key only"
                );
                let condition = &s["Condition"];
                assert_eq!(condition.as_object().map(Map::len), Some(1), "{role}/{sid}");
                let value = expr(&condition["StringEquals"]["kms:ViaService"]);
                let prefix =
                    via(&value).unwrap_or_else(|| panic!("{role}/{sid}: kms:ViaService {value}"));
                for a in actions {
                    assert!(
                        key.insert((a.clone(), prefix.clone())),
                        "{role}: {a} via {prefix} twice"
                    );
                }
            } else {
                assert!(
                    s.get("Condition").is_none(),
                    "{role}/{sid}: unexpected condition"
                );
                for a in &actions {
                    for res in &resources {
                        assert!(
                            grants.insert((a.clone(), res.clone())),
                            "{role}: {a} on {res} twice"
                        );
                    }
                }
            }
        }
    }
    (grants, key)
}

/// `{prefix}.${AWS::Region}.amazonaws.com` → prefix.
fn regex_free_via() -> impl Fn(&str) -> Option<String> {
    |v: &str| {
        v.strip_suffix(".${AWS::Region}.amazonaws.com")
            .filter(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
            .map(str::to_string)
    }
}

#[test]
fn each_role_allows_exactly_what_its_function_calls() {
    let t = template();
    for (function, function_id, role, log_group) in ROLES {
        let f = props(&t, function_id);
        assert_eq!(
            expr(&f["Role"]),
            format!("${{{role}.Arn}}"),
            "{function_id} runs as {role}"
        );
        assert_eq!(
            expr(&f["LoggingConfig"]["LogGroup"]),
            format!("${{{log_group}}}")
        );

        let (grants, key) = role_grants(&t, role);
        let want: Grants = iam::grants(function)
            .into_iter()
            .map(|(action, r)| {
                let (arn, typed) = arn_of(function, r);
                if let Some((id, kind)) = typed {
                    assert_eq!(resource(&t, id)["Type"], kind, "{id}");
                }
                (action.to_string(), arn)
            })
            .collect();
        let missing: Vec<_> = want.difference(&grants).collect();
        let extra: Vec<_> = grants.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{role} differs from eventpulse_aws::iam for {function:?}:\n  missing (the code calls it): {missing:?}\n  extra (nothing calls it): {extra:?}"
        );
        for (action, res) in &grants {
            assert!(
                res != "*" || action.starts_with("xray:"),
                "{role}: {action} on every resource"
            );
        }

        let want_key: Grants = iam::key_grants(function)
            .into_iter()
            .map(|(k, s)| (k.to_string(), s.endpoint_prefix().to_string()))
            .collect();
        assert_eq!(
            key, want_key,
            "{role}: key permissions (action, via service)"
        );
    }
}

#[test]
fn the_platform_grants_match_the_functions_wiring() {
    let t = template();
    // The exports queue is polled by the exporter, partial batch failures reported.
    let esm = props(&t, "ExportsEventSourceMapping");
    assert_eq!(expr(&esm["FunctionName"]), "${ExporterFunction}");
    assert_eq!(expr(&esm["EventSourceArn"]), "${ExportsQueue.Arn}");
    assert_eq!(
        esm["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    // Failed asynchronous invocations go to the queue the role may send to.
    let invoke = props(&t, "ProcessorEventInvokeConfig");
    assert_eq!(expr(&invoke["FunctionName"]), "${ProcessorFunction}");
    assert_eq!(
        expr(&invoke["DestinationConfig"]["OnFailure"]["Destination"]),
        "${ProcessorFailureQueue.Arn}"
    );
    // Tracing is on where the roles allow X-Ray.
    for (_, function_id, _, _) in ROLES {
        assert_eq!(props(&t, function_id)["Tracing"], "Active", "{function_id}");
    }
    // The ESM's visibility rule: the queue hides a message 6 x the function's timeout.
    let timeout = props(&t, "ExporterFunction")["Timeout"]
        .as_u64()
        .expect("Timeout");
    let visibility = props(&t, "ExportsQueue")["VisibilityTimeout"]
        .as_u64()
        .expect("VisibilityTimeout");
    assert!(
        visibility >= 6 * timeout,
        "visibility {visibility} < 6 x timeout {timeout}"
    );
}

// ---------------------------------------------------------------------------------------
// The functions' configuration and code.

#[test]
fn the_functions_get_the_environment_settings_reads() {
    let t = template();
    let env = |id: &str| -> BTreeMap<String, String> {
        props(&t, id)["Environment"]["Variables"]
            .as_object()
            .expect("Variables")
            .iter()
            .map(|(k, v)| (k.clone(), expr(v)))
            .collect()
    };
    let common = [
        (PROCESS_BUCKET, "${ProcessBucket}"),
        (QUARANTINE_BUCKET, "${QuarantineBucket}"),
        (EXPORTS_BUCKET, "${ExportsBucket}"),
        (TABLE, "${Table}"),
        (NOTIFY_TOPIC_ARN, "${NotificationsTopic}"),
    ];
    let as_map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(env("ProcessorFunction"), as_map(&common));
    assert_eq!(env("ExporterFunction"), as_map(&common));
    let mut api = common.to_vec();
    api.push((EXPORTS_QUEUE_URL, "${ExportsQueue}"));
    api.push((CURSOR_KEY_PARAMETER, "/${AWS::StackName}/cursor-key"));
    assert_eq!(env("ApiFunction"), as_map(&api));
    // The parameter the API reads is the one its role may read.
    let (arn, _) = arn_of(Function::Api, Resource::CursorKey);
    assert!(arn.ends_with(&format!(
        ":parameter{}",
        env("ApiFunction")[CURSOR_KEY_PARAMETER]
    )));
    // And Settings accepts exactly this set.
    for id in ["ProcessorFunction", "ExporterFunction", "ApiFunction"] {
        let vars = env(id);
        let settings = Settings::from_lookup(|k| vars.get(k).cloned()).expect(id);
        assert_eq!(settings.exports_queue_url.is_some(), id == "ApiFunction");
    }
}

#[test]
fn the_functions_run_the_binaries_cargo_lambda_builds() {
    let t = template();
    for (id, package) in [
        ("ProcessorFunction", "processor"),
        ("ExporterFunction", "processor"),
        ("ApiFunction", "api"),
    ] {
        let p = props(&t, id);
        let manifest =
            std::fs::read_to_string(repo().join(format!("functions/{package}/Cargo.toml")))
                .expect("Cargo.toml");
        let bin = format!("eventpulse-{package}");
        assert!(
            manifest.contains(&format!("name = \"{bin}\"")),
            "{package} builds {bin}"
        );
        assert_eq!(
            p["CodeUri"],
            format!("../target/lambda-arm64/{bin}/"),
            "{id}"
        );
        assert_eq!(p["Handler"], "bootstrap");
        assert_eq!(p["Runtime"], "provided.al2023");
        assert_eq!(p["Architectures"], json!(["arm64"]));
        assert_eq!(p["LoggingConfig"]["LogFormat"], "JSON");
        let log_group = p["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .expect("log group");
        let lg = props(&t, log_group);
        assert!(
            lg.get("RetentionInDays").is_some() && lg.get("KmsKeyId").is_some(),
            "{log_group}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The API definition.

/// Every `Fn::GetAtt` target and `${Name…}` of a `Fn::Sub` in `v`.
fn references(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            for (k, inner) in o {
                match (k.as_str(), inner) {
                    ("Fn::GetAtt", Value::Array(a)) => {
                        out.insert(a[0].as_str().expect("GetAtt id").to_string());
                    }
                    ("Fn::Sub", Value::String(s)) => {
                        for part in s.split("${").skip(1) {
                            let name = part.split('}').next().expect("}");
                            let id = name.split('.').next().expect("id");
                            if !id.starts_with("AWS::") {
                                out.insert(id.to_string());
                            }
                        }
                    }
                    ("Ref", Value::String(s)) if !s.starts_with("AWS::") => {
                        out.insert(s.clone());
                    }
                    _ => references(inner, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

fn contains_key(v: &Value, key: &str) -> bool {
    match v {
        Value::Object(o) => o.iter().any(|(k, x)| k == key || contains_key(x, key)),
        Value::Array(a) => a.iter().any(|x| contains_key(x, key)),
        _ => false,
    }
}

#[test]
fn the_api_definition_is_the_generated_file_unchanged() {
    let t = template();
    let api = resource(&t, "Api");
    assert_eq!(api["Type"], "AWS::Serverless::Api");
    let p = &api["Properties"];
    assert_eq!(
        p["DefinitionBody"],
        json!({"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "api/apigateway.openapi.yaml"}}}),
        "the definition is included from the generated file"
    );
    // Nothing SAM would have to write into a definition it cannot see, and no second
    // source of paths.
    for key in [
        "DefinitionUri",
        "Auth",
        "Cors",
        "Models",
        "GatewayResponses",
        "BinaryMediaTypes",
    ] {
        assert!(p.get(key).is_none(), "Api has {key}");
    }
    assert!(
        !contains_key(&t, "paths") && !contains_key(&t, "Paths"),
        "a path is written in the template"
    );
    for kind in [
        "AWS::ApiGateway::Resource",
        "AWS::ApiGateway::Method",
        "AWS::ApiGateway::RestApi",
    ] {
        assert!(of_type(&t, kind).is_empty(), "the template declares {kind}");
    }
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        assert!(
            f["Properties"].get("Events").is_none(),
            "{id}: SAM events would edit the definition"
        );
    }

    // The file is the one `cargo xtask codegen` writes (xtask/tests/fresh.rs fails when it
    // is stale), next to the template where the Location points.
    let path = repo().join("infra").join("api/apigateway.openapi.yaml");
    let text = std::fs::read_to_string(&path).expect("the generated definition");
    assert!(text.starts_with("# @generated by `cargo xtask codegen` from openapi.yaml"));
    let definition: Value =
        serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(&text).expect("YAML"))
            .expect("JSON");
    assert!(
        definition["paths"]
            .as_object()
            .is_some_and(|p| p.len() >= 10)
    );

    // Every resource the included file refers to exists, with the type it assumes.
    let mut refs = BTreeSet::new();
    references(&definition, &mut refs);
    let want: BTreeSet<String> = ["ApiFunction", "UserPool"].map(String::from).into();
    assert_eq!(refs, want, "the definition's references");
    assert_eq!(
        resource(&t, "ApiFunction")["Type"],
        "AWS::Serverless::Function"
    );
    assert_eq!(resource(&t, "UserPool")["Type"], "AWS::Cognito::UserPool");

    // API Gateway may invoke the function on this API's stage only.
    let permission = props(&t, "ApiInvokePermission");
    assert_eq!(expr(&permission["FunctionName"]), "${ApiFunction}");
    assert_eq!(permission["Principal"], "apigateway.amazonaws.com");
    assert!(expr(&permission["SourceArn"]).ends_with(":${Api}/${StageName}/*"));
}

#[test]
fn the_stage_logs_every_request_as_json_and_throttles() {
    let t = template();
    let p = props(&t, "Api");
    assert_eq!(
        expr(&p["AccessLogSetting"]["DestinationArn"]),
        "${ApiAccessLogGroup.Arn}"
    );
    let format = p["AccessLogSetting"]["Format"].as_str().expect("Format");
    let line: Value = serde_json::from_str(format).expect("the access log format is JSON");
    for (field, variable) in [
        ("requestId", "$context.requestId"),
        ("sub", "$context.authorizer.claims.sub"),
        ("sourceIp", "$context.identity.sourceIp"),
        ("resourcePath", "$context.resourcePath"),
        ("status", "$context.status"),
        ("latencyMs", "$context.responseLatency"),
    ] {
        assert_eq!(line[field], variable, "{field}");
    }
    let settings = &p["MethodSettings"][0];
    assert_eq!(settings["ResourcePath"], "/*");
    assert_eq!(settings["HttpMethod"], "*");
    assert!(
        settings.get("ThrottlingRateLimit").is_some()
            && settings.get("ThrottlingBurstLimit").is_some()
    );
    assert_eq!(settings["DataTraceEnabled"], false);
}

// ---------------------------------------------------------------------------------------
// Storage, messaging, monitoring and audit invariants.

#[test]
fn every_bucket_is_private_versioned_tls_only_and_cleaned_up() {
    let t = template();
    let policies: BTreeMap<String, &Value> = of_type(&t, "AWS::S3::BucketPolicy")
        .into_iter()
        .map(|(_, p)| {
            (
                expr(&p["Properties"]["Bucket"]),
                &p["Properties"]["PolicyDocument"],
            )
        })
        .collect();
    let buckets = of_type(&t, "AWS::S3::Bucket");
    assert_eq!(
        buckets.len(),
        5,
        "process, quarantine, exports, access logs, trail"
    );
    for (id, b) in buckets {
        let p = &b["Properties"];
        assert_eq!(
            p["PublicAccessBlockConfiguration"],
            json!({"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true}),
            "{id}"
        );
        assert_eq!(p["VersioningConfiguration"]["Status"], "Enabled", "{id}");
        assert_eq!(
            p["OwnershipControls"]["Rules"][0]["ObjectOwnership"], "BucketOwnerEnforced",
            "{id}"
        );
        let rules = p["LifecycleConfiguration"]["Rules"]
            .as_array()
            .expect("lifecycle");
        assert!(
            rules
                .iter()
                .any(|r| r.get("AbortIncompleteMultipartUpload").is_some()),
            "{id}"
        );
        assert!(
            rules
                .iter()
                .any(|r| r.get("NoncurrentVersionExpiration").is_some()),
            "{id}"
        );
        assert_eq!(b["DeletionPolicy"], "Retain", "{id}");
        let policy = policies
            .get(&format!("${{{id}}}"))
            .unwrap_or_else(|| panic!("{id} has no bucket policy"));
        let tls = policy["Statement"]
            .as_array()
            .expect("Statement")
            .iter()
            .find(|s| s["Sid"] == "DenyInsecureTransport")
            .unwrap_or_else(|| panic!("{id}: no TLS-only statement"));
        assert_eq!(tls["Effect"], "Deny");
        assert_eq!(
            tls["Condition"],
            json!({"Bool": {"aws:SecureTransport": "false"}})
        );
        let rule = &p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0];
        if id == "AccessLogBucket" {
            // S3 server access logs can only be delivered to SSE-S3 buckets.
            assert_eq!(
                rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
                "AES256"
            );
        } else {
            assert_eq!(
                rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"], "aws:kms",
                "{id}"
            );
            assert_eq!(
                expr(&rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]),
                "${Key.Arn}",
                "{id}"
            );
            assert_eq!(rule["BucketKeyEnabled"], true, "{id}");
            assert_eq!(
                expr(&p["LoggingConfiguration"]["DestinationBucketName"]),
                "${AccessLogBucket}",
                "{id}"
            );
        }
    }
}

#[test]
fn uploads_cannot_overwrite_and_the_processor_sees_only_incoming() {
    let t = template();
    let p = props(&t, "ProcessBucket");
    assert_eq!(
        p["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"],
        true
    );
    let policy = of_type(&t, "AWS::S3::BucketPolicy")
        .into_iter()
        .find(|(_, b)| expr(&b["Properties"]["Bucket"]) == "${ProcessBucket}")
        .expect("process bucket policy")
        .1;
    let statements = policy["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .expect("Statement");
    let by_sid = |sid: &str| {
        statements
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("{sid}"))
    };
    let presigned = by_sid("DenyPresignedUploadsWithoutIfNoneMatch");
    assert_eq!(presigned["Effect"], "Deny");
    assert_eq!(presigned["Action"], "s3:PutObject");
    assert_eq!(
        presigned["Condition"]["Null"],
        json!({"s3:if-none-match": "true"})
    );
    assert_eq!(
        presigned["Condition"]["StringEquals"],
        json!({"s3:authType": "REST-QUERY-STRING"})
    );
    let others = by_sid("DenyUnconditionalWritesExceptTheApiFunctionsCopy");
    assert_eq!(
        others["Condition"]["Null"],
        json!({"s3:if-none-match": "true"})
    );
    assert_eq!(
        expr(&others["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]),
        "${ApiRole.Arn}"
    );
    let outside = by_sid("DenyWritesOutsideIncoming");
    assert_eq!(
        expr(&outside["NotResource"]),
        "${ProcessBucket.Arn}/incoming/*"
    );

    // The rule sends the processor Object Created under incoming/ of this bucket only.
    let rule = props(&t, "ObjectCreatedRule");
    assert_eq!(
        rule["EventPattern"],
        json!({"source": ["aws.s3"], "detail-type": ["Object Created"],
               "detail": {"bucket": {"name": [{"Ref": "ProcessBucket"}]}, "object": {"key": [{"prefix": "incoming/"}]}}})
    );
    for id in ["ObjectCreatedRule", "SweepRule"] {
        let target = &props(&t, id)["Targets"][0];
        assert_eq!(expr(&target["Arn"]), "${ProcessorFunction.Arn}", "{id}");
        assert!(target.get("RetryPolicy").is_some(), "{id}");
        assert_eq!(
            expr(&target["DeadLetterConfig"]["Arn"]),
            "${ObjectCreatedDeadLetterQueue.Arn}",
            "{id}"
        );
    }
    // The sweep's own event is what the processor routes to the sweep.
    assert!(
        props(&t, "SweepRule")["ScheduleExpression"]
            .as_str()
            .is_some_and(|s| s.starts_with("rate("))
    );
    assert!(props(&t, "SweepRule")["Targets"][0].get("Input").is_none());
}

#[test]
fn topics_and_queues_are_encrypted_and_every_dlq_is_alarmed() {
    let t = template();
    for (id, topic) in of_type(&t, "AWS::SNS::Topic") {
        assert_eq!(
            expr(&topic["Properties"]["KmsMasterKeyId"]),
            "${Key.Arn}",
            "{id}"
        );
    }
    let alarmed: BTreeSet<String> = of_type(&t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible")
        .map(|(_, a)| expr(&a["Properties"]["Dimensions"][0]["Value"]))
        .collect();
    for (id, q) in of_type(&t, "AWS::SQS::Queue") {
        assert_eq!(
            expr(&q["Properties"]["KmsMasterKeyId"]),
            "${Key.Arn}",
            "{id}"
        );
        if q["Properties"].get("RedrivePolicy").is_none() {
            assert!(
                alarmed.contains(&format!("${{{id}.QueueName}}")),
                "dead-letter queue {id} has no alarm"
            );
        }
    }
    for (id, a) in of_type(&t, "AWS::CloudWatch::Alarm") {
        assert_eq!(
            a["Properties"]["AlarmActions"],
            json!([{"Ref": "OpsTopic"}]),
            "{id}"
        );
    }
}

#[test]
fn the_quarantine_alarm_counts_every_reason_code_the_processor_emits() {
    let t = template();
    // The reason codes of the schema…
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/quarantine-report.schema.json"))
            .expect("schema"),
    )
    .expect("JSON");
    let codes: BTreeSet<String> = schema["$defs"]["ReasonCode"]["enum"]
        .as_array()
        .expect("ReasonCode enum")
        .iter()
        .map(|c| c.as_str().expect("code").to_string())
        .collect();
    // …are exactly the ReasonCode dimensions the alarm sums, each once.
    let metrics = props(&t, "QuarantineRateAlarm")["Metrics"]
        .as_array()
        .expect("Metrics");
    let mut summed = Vec::new();
    for m in metrics {
        let Some(stat) = m.get("MetricStat") else {
            continue;
        };
        let metric = &stat["Metric"];
        assert_eq!(metric["Namespace"], "EventPulse");
        let dims: BTreeMap<&str, &str> = metric["Dimensions"]
            .as_array()
            .expect("Dimensions")
            .iter()
            .map(|d| {
                (
                    d["Name"].as_str().expect("Name"),
                    d["Value"].as_str().expect("Value"),
                )
            })
            .collect();
        assert_eq!(dims.get("Function"), Some(&"processor"));
        match metric["MetricName"].as_str() {
            Some("ObjectsQuarantined") => summed.push(dims["ReasonCode"].to_string()),
            Some("ObjectsStored") => assert_eq!(dims.len(), 1),
            other => panic!("unexpected metric {other:?}"),
        }
        // Every fetched metric enters the sum.
        let id = m["Id"].as_str().expect("Id");
        assert!(
            metrics.iter().any(|e| e["Expression"]
                .as_str()
                .is_some_and(|x| x.contains(&format!("FILL({id},0)")))),
            "{id} is fetched but not summed"
        );
    }
    assert_eq!(summed.len(), codes.len(), "a reason code is summed twice");
    // CloudWatch's hard limit: a metric math alarm fetches at most 10 metrics. A tenth
    // reason code needs another design (a Metrics Insights query, or a composite alarm).
    let fetched = metrics
        .iter()
        .filter(|m| m.get("MetricStat").is_some())
        .count();
    assert!(
        fetched <= 10,
        "{fetched} metrics in one alarm; CloudWatch allows 10"
    );
    assert_eq!(summed.into_iter().collect::<BTreeSet<_>>(), codes);
    // And those are the names and dimensions the processor's EMF documents use.
    let emf =
        std::fs::read_to_string(repo().join("functions/processor/src/emf.rs")).expect("emf.rs");
    // (the names as string literals, whatever the code around them looks like)
    for needle in [
        "\"EventPulse\"",
        "\"ObjectsStored\"",
        "\"ObjectsQuarantined\"",
        "\"ReasonCode\"",
        "\"Function\"",
        "\"processor\"",
    ] {
        assert!(
            emf.contains(needle),
            "functions/processor/src/emf.rs no longer has {needle}"
        );
    }
}

#[test]
fn the_trail_records_management_events_and_this_stacks_data_access() {
    let t = template();
    let trail = resource(&t, "Trail");
    assert_eq!(trail["Type"], "AWS::CloudTrail::Trail");
    let p = &trail["Properties"];
    assert_eq!(p["IsMultiRegionTrail"], true);
    assert_eq!(p["EnableLogFileValidation"], true);
    assert_eq!(expr(&p["KMSKeyId"]), "${Key.Arn}");
    let selectors = p["AdvancedEventSelectors"]
        .as_array()
        .expect("AdvancedEventSelectors");
    let field = |sel: &Value, name: &str| -> Option<Value> {
        sel["FieldSelectors"]
            .as_array()?
            .iter()
            .find(|f| f["Field"] == name)
            .cloned()
    };
    let of_kind = |kind: &str| {
        selectors
            .iter()
            .find(|s| field(s, "resources.type").is_some_and(|f| f["Equals"] == json!([kind])))
            .unwrap_or_else(|| panic!("no selector for {kind}"))
    };
    assert!(selectors.iter().any(|s| {
        s["FieldSelectors"].as_array().map(Vec::len) == Some(1)
            && field(s, "eventCategory").is_some_and(|f| f["Equals"] == json!(["Management"]))
    }));
    let s3 = field(of_kind("AWS::S3::Object"), "resources.ARN").expect("S3 ARNs");
    assert_eq!(
        strings(&s3["StartsWith"])
            .into_iter()
            .collect::<BTreeSet<_>>(),
        [
            "${ProcessBucket.Arn}/",
            "${QuarantineBucket.Arn}/",
            "${ExportsBucket.Arn}/"
        ]
        .map(String::from)
        .into()
    );
    let table = field(of_kind("AWS::DynamoDB::Table"), "resources.ARN").expect("table ARN");
    assert_eq!(strings(&table["Equals"]), ["${Table.Arn}"]);
    for s in [of_kind("AWS::S3::Object"), of_kind("AWS::DynamoDB::Table")] {
        assert_eq!(
            field(s, "eventCategory").expect("category")["Equals"],
            json!(["Data"])
        );
        // Reads and writes alike: no readOnly filter.
        assert!(field(s, "readOnly").is_none());
    }
}

#[test]
fn the_regions_services_see_the_key_only_through_these_services() {
    // The role test compares kms:ViaService prefixes; they must be the services' own.
    let via = regex_free_via();
    for s in [
        Service::S3,
        Service::DynamoDb,
        Service::Sns,
        Service::Sqs,
        Service::Ssm,
    ] {
        let value = format!("{}.${{AWS::Region}}.amazonaws.com", s.endpoint_prefix());
        assert_eq!(via(&value).as_deref(), Some(s.endpoint_prefix()));
    }
    assert_eq!(via("*.amazonaws.com"), None);
}

#[test]
fn every_lint_exception_says_why() {
    let t = template();
    let mut skips = 0;
    for (id, r) in t["Resources"].as_object().expect("Resources") {
        for s in r["Metadata"]["checkov"]["skip"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let check = s["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: a skip without id"));
            let why = s["comment"].as_str().unwrap_or_default();
            assert!(
                why.len() >= 60,
                "{id}: skip of {check} without a real reason: {why:?}"
            );
            skips += 1;
        }
    }
    assert!(
        skips > 0,
        "the scan found no checkov skip at all: is the Metadata path right?"
    );
    // cfn-lint exceptions: YAML comments, which the parser drops, so read the text; the
    // comment right above each ignore_checks must name every check it ignores.
    let text = std::fs::read_to_string(repo().join("infra/template.yaml")).expect("template");
    let lines: Vec<&str> = text.lines().collect();
    let mut ignores = 0;
    for (n, line) in lines.iter().enumerate() {
        let Some(list) = line.trim().strip_prefix("ignore_checks:") else {
            continue;
        };
        let comment: Vec<&str> = lines[..n]
            .iter()
            .rev()
            .take_while(|l| l.trim().starts_with('#'))
            .copied()
            .collect();
        let comment = comment.join(" ");
        for check in list
            .trim()
            .trim_matches(['[', ']'])
            .split(',')
            .map(str::trim)
        {
            assert!(
                comment.contains(check) && comment.len() > 80,
                "line {}: ignore of {check} without a comment that says why",
                n + 1
            );
            ignores += 1;
        }
    }
    assert!(ignores > 0);
}

/// The table keeps a finished export's record `EXPORT_RECORD_DAYS` (its TTL): the exports
/// bucket may not keep the result longer, or a record would expire before its object.
#[test]
fn export_results_never_outlive_their_records() {
    let t = template();
    let max = &t["Parameters"]["ExportsRetentionDays"]["MaxValue"];
    assert_eq!(
        max.as_i64(),
        Some(eventpulse_aws::dynamo::EXPORT_RECORD_DAYS),
        "ExportsRetentionDays' MaxValue must be EXPORT_RECORD_DAYS ({max})"
    );
    let days = &t["Parameters"]["ExportsRetentionDays"]["Default"];
    assert!(
        days.as_i64()
            .is_some_and(|d| d <= eventpulse_aws::dynamo::EXPORT_RECORD_DAYS)
    );
}
