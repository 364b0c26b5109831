//! Properties the fuzz targets (`fuzz/`, `cargo xtask fuzz`) and the property tests below
//! check on arbitrary input: each function takes raw bytes, runs one of the host's
//! parsers on untrusted input exactly as the host does, and panics only when a property
//! fails. Not an API: hidden from the documentation, stable only for `fuzz/`.
//!
//! * [`webhook`]: signature verification and event parsing of provider webhooks.
//! * [`schema`]: compiling a component-supplied JSON Schema and validating input with it.
//! * [`config`]: `terapi.toml` parsing; [`providers`]: `providers.toml` parsing.

use crate::providers::ProviderWebhooks;
use crate::service::inbound::{MAX_EVENT_ID, parse_event, verify_signature};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::fmt::Write as _;

/// Splits `data` at the first NUL byte (all of it and nothing when there is none).
fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&byte| byte == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Checkr's webhook definition, as `providers.toml` has it.
fn checkr_webhooks() -> ProviderWebhooks {
    ProviderWebhooks {
        signature_header: "X-Checkr-Signature".into(),
        account_field: "account_id".into(),
        connection_config_key: "checkr_account_id".into(),
        revocation_event: Some("token.deauthorized".into()),
        revoked_token_pointer: Some("/data/object/access_code".into()),
    }
}

/// `data` = key, NUL, presented signature, NUL, body. Properties: the body's true
/// signature verifies (lower or upper case, surrounded by spaces); a presented signature
/// verifies only if it is that signature; a signature with anything but hex digits
/// never verifies; parsing the body never panics and an accepted event has an id of 1 to
/// 255 bytes and a string type, both as the body has them.
pub fn webhook(data: &[u8]) {
    let (key, rest) = split(data);
    let (presented, body) = split(rest);
    let presented = String::from_utf8_lossy(presented);
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return;
    };
    mac.update(body);
    let truth = hex(&mac.finalize().into_bytes());
    assert!(verify_signature(key, body, &truth));
    assert!(verify_signature(key, body, &truth.to_ascii_uppercase()));
    assert!(verify_signature(key, body, &format!(" {truth}\t")));
    if verify_signature(key, body, &presented) {
        assert_eq!(
            presented.trim().to_ascii_lowercase(),
            truth,
            "only the body's signature verifies"
        );
    }
    // The same digits with one pair disguised: `0f` as `+f`, which integer parsing
    // alone would take for the same byte.
    if let Some(at) = truth.find('0').filter(|at| at % 2 == 0) {
        let mut disguised = truth.clone();
        disguised.replace_range(at..=at, "+");
        assert!(!verify_signature(key, body, &disguised), "{disguised}");
    }
    match parse_event(body, &checkr_webhooks()) {
        Ok(parsed) => {
            assert!(!parsed.event_id.is_empty() && parsed.event_id.len() <= MAX_EVENT_ID);
            assert_eq!(
                parsed.event.get("id"),
                Some(&Value::String(parsed.event_id.clone()))
            );
            assert_eq!(
                parsed.event.get("type"),
                Some(&Value::String(parsed.event_type.clone()))
            );
            assert_eq!(
                parsed.account_id.as_deref(),
                parsed.event.get("account_id").and_then(Value::as_str)
            );
        }
        Err(error) => assert_eq!(error.code, "invalid_event"),
    }
}

/// `data` = schema JSON, NUL, input JSON. Properties: compiling and validating never
/// panic; a compiled schema's verdict is stable (validating twice agrees); a refusal
/// lists at least one problem; and no problem quotes a string value of the input that
/// the schema does not itself contain (inputs may hold secrets).
pub fn schema(data: &[u8]) {
    let (schema, input) = split(data);
    let Ok(schema_value) = serde_json::from_slice::<Value>(schema) else {
        return;
    };
    let schema_text = schema_value.to_string();
    let Ok(compiled) = crate::schema::InputSchema::compile(schema_value) else {
        return;
    };
    let Ok(input) = serde_json::from_slice::<Value>(input) else {
        return;
    };
    let first = compiled.validate(&input);
    assert_eq!(
        first,
        compiled.validate(&input),
        "validation is deterministic"
    );
    let Err(problems) = first else {
        return;
    };
    assert!(!problems.is_empty());
    let mut strings = Vec::new();
    collect_strings(&input, &mut strings);
    for value in strings {
        if value.len() < 6 || schema_text.contains(value.as_str()) {
            continue;
        }
        for problem in &problems {
            assert!(
                !problem.message.contains(value.as_str()),
                "a problem quotes the input's value {value:?}: {problem}"
            );
        }
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        Value::Object(map) => map.values().for_each(|item| collect_strings(item, out)),
        _ => {}
    }
}

/// `data` = a `terapi.toml`. Properties: parsing never panics, and an accepted
/// configuration's data directory is resolved (absolute under the base directory).
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(config) =
        crate::config::RuntimeConfig::from_toml_str(&text, std::path::Path::new("/base"))
    {
        // Whatever was accepted resolves its paths under the base.
        assert!(config.data_dir.is_absolute(), "{:?}", config.data_dir);
    }
}

/// `data` = a `providers.toml`. Property: parsing never panics.
pub fn providers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(providers) = crate::providers::Providers::parse(&text) {
        for name in providers.names() {
            assert!(providers.get(name).is_some());
        }
    }
}

#[cfg(test)]
mod tests {
    //! The same properties under proptest, with generators that produce well-formed
    //! inputs more often than random bytes do; fixed case counts keep `cargo xtask test`
    //! bounded (a few seconds each).
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::Config;

    /// Arbitrary JSON, a few levels deep.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(Value::from),
            "[a-z0-9 ._-]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    /// JSON Schemas built from the keywords the host analyses, including `$ref`s to
    /// definitions that may or may not exist, cycles, and patterns.
    fn schema_strategy() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(serde_json::json!(true)),
            Just(serde_json::json!(false)),
            prop::sample::select(vec![
                "string", "integer", "number", "object", "array", "null", "boolean"
            ])
            .prop_map(|kind| serde_json::json!({ "type": kind })),
            prop::sample::select(vec![
                "^a+$", "(a+)+$", "^(?=a)", "[", "\\d{2,4}", "(x|x)*y", "^.{3}$"
            ])
            .prop_map(|pattern| serde_json::json!({ "pattern": pattern })),
            prop::sample::select(vec![
                "#",
                "#/$defs/a",
                "#/$defs/b",
                "#/$defs/missing",
                "#/properties/x",
                "https://example.com/s",
                "#anchor"
            ])
            .prop_map(|target| serde_json::json!({ "$ref": target })),
            prop::collection::vec(json(), 0..4)
                .prop_map(|options| serde_json::json!({ "enum": options })),
            (0u64..5)
                .prop_map(|limit| serde_json::json!({ "minLength": limit, "maxItems": limit })),
        ];
        let node = leaf.prop_recursive(4, 40, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(|all| serde_json::json!({ "allOf": all })),
                prop::collection::vec(inner.clone(), 1..4).prop_map(|any| serde_json::json!({ "anyOf": any })),
                prop::collection::vec(inner.clone(), 1..4).prop_map(|one| serde_json::json!({ "oneOf": one })),
                inner.clone().prop_map(|not| serde_json::json!({ "not": not })),
                inner.clone().prop_map(|items| serde_json::json!({ "type": "array", "items": items })),
                prop::collection::btree_map("[a-z]{1,3}", inner.clone(), 1..4).prop_map(|properties| {
                    serde_json::json!({ "type": "object", "properties": properties, "additionalProperties": false })
                }),
                (inner.clone(), inner).prop_map(|(if_, then)| serde_json::json!({ "if": if_, "then": then })),
            ]
        });
        (node.clone(), node.clone(), node).prop_map(|(root, a, b)| {
            let mut root = match root {
                Value::Object(map) => map,
                other => [("allOf".to_string(), Value::Array(vec![other]))]
                    .into_iter()
                    .collect(),
            };
            root.insert("$defs".into(), serde_json::json!({ "a": a, "b": b }));
            Value::Object(root)
        })
    }

    proptest! {
        #![proptest_config(Config { cases: 512, failure_persistence: None, ..Config::default() })]

        #[test]
        fn webhooks_verify_and_parse(
            key in prop::collection::vec(1u8..=255, 0..40),
            presented in "[0-9a-fA-F +]{0,70}",
            event in json(),
            id in prop_oneof![Just(None), "[a-z0-9]{0,300}".prop_map(Some)],
            kind in prop_oneof![Just(None), "[a-z.]{1,20}".prop_map(Some)],
        ) {
            let mut event = event;
            if let Value::Object(map) = &mut event {
                if let Some(id) = id { map.insert("id".into(), Value::String(id)); }
                if let Some(kind) = kind { map.insert("type".into(), Value::String(kind)); }
            }
            let mut data = key;
            data.push(0);
            data.extend_from_slice(presented.as_bytes());
            data.push(0);
            data.extend_from_slice(event.to_string().as_bytes());
            webhook(&data);
        }

        #[test]
        fn webhook_bytes(data in prop::collection::vec(any::<u8>(), 0..300)) {
            webhook(&data);
        }

        #[test]
        fn schemas_compile_and_validate(schema in schema_strategy(), input in json()) {
            let mut data = schema.to_string().into_bytes();
            data.push(0);
            data.extend_from_slice(input.to_string().as_bytes());
            super::schema(&data);
        }

        #[test]
        fn configs_parse(text in config_text()) {
            config(text.as_bytes());
        }

        #[test]
        fn providers_parse(text in providers_text()) {
            providers(text.as_bytes());
        }
    }

    /// `key = value` lines under the sections and keys `terapi.toml` has, with values
    /// of every TOML type.
    fn config_text() -> impl Strategy<Value = String> {
        let section = prop::sample::select(vec![
            "",
            "[server]",
            "[limits]",
            "[database]",
            "[integrations.x]",
            "[integrations.checkr-partner]",
            "[integrations.\"a b\"]",
            "[nope]",
        ]);
        let key = prop::sample::select(vec![
            "data_dir",
            "component",
            "provider",
            "api_base_url",
            "client_id",
            "client_secret",
            "webhook_secret",
            "listen",
            "public_url",
            "invocation_timeout_ms",
            "memory_bytes",
            "http_max_requests",
            "url",
            "kind",
            "authorization_url",
            "token_url",
            "scopes",
            "allowed_hosts",
            "webhook_max_body_bytes",
            "unknown",
        ]);
        let value = prop_oneof![
            "\"[a-z0-9:/._ -]{0,20}\"".prop_map(|text| text.to_string()),
            any::<i64>().prop_map(|number| number.to_string()),
            Just("true".to_string()),
            Just("[\"a\", \"b\"]".to_string()),
            Just("{ a = 1 }".to_string()),
            Just("1.5e300".to_string()),
            Just("\"http://127.0.0.1:1\"".to_string()),
            Just("\"postgres://x\"".to_string()),
            "[ -~]{0,12}",
        ];
        prop::collection::vec((section, prop::collection::vec((key, value), 0..4)), 0..5).prop_map(
            |sections| {
                let mut text = String::new();
                for (header, lines) in sections {
                    text.push_str(header);
                    text.push('\n');
                    for (key, value) in lines {
                        let _ = writeln!(text, "{key} = {value}");
                    }
                }
                text
            },
        )
    }

    /// Provider tables with the fields `providers.toml` has, including `webhooks`.
    fn providers_text() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "display_name",
            "docs",
            "auth_mode",
            "authorization_url",
            "token_url",
            "api_base_url",
            "default_scopes",
            "request_auth",
            "refresh_tokens",
            "rate_limit_reset_header",
            "token_response_metadata",
            "deauthorize_endpoint",
            "post_connection_check",
            "webhooks",
            "unknown",
        ]);
        let sub = prop::sample::select(vec!["", "", "", ".webhooks", ".post_connection_check"]);
        let value = prop_oneof![
            "\"[a-zA-Z0-9:/._{} -]{0,24}\"".prop_map(|text| text.to_string()),
            Just("\"oauth2\"".to_string()),
            Just("\"api_key\"".to_string()),
            Just("\"basic-token-as-username\"".to_string()),
            Just("\"bearer\"".to_string()),
            Just("[\"read_write\"]".to_string()),
            Just("false".to_string()),
            Just("{ endpoint = \"/v1/x\", config_key = \"k\" }".to_string()),
            Just("{ signature_header = \"X-Sig\", account_field = \"a\", connection_config_key = \"c\", revoked_token_pointer = \"/x\" }".to_string()),
            any::<u16>().prop_map(|number| number.to_string()),
            "[ -~]{0,10}",
        ];
        prop::collection::vec(
            (
                "[a-z-]{1,8}",
                sub,
                prop::collection::vec((key, value), 0..5),
            ),
            0..4,
        )
        .prop_map(|tables| {
            let mut text = String::new();
            for (name, sub, lines) in tables {
                let _ = writeln!(text, "[{name}{sub}]");
                for (key, value) in lines {
                    let _ = writeln!(text, "{key} = {value}");
                }
            }
            text
        })
    }
}
