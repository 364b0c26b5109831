//! What every Checkr action shares: the connection's token and Checkr's authentication,
//! retries, pagination, the connection's hierarchy setting, idempotency keys and paths.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use terapi_sdk::{ActionError, Credentials, Paginator, Request};

/// Retries for requests that are safe to repeat (reads, deletes, and creates that carry an
/// `Idempotency-Key`): the host retries 429s after Checkr's `X-Ratelimit-Reset`, and 5xx and
/// network errors with backoff.
pub const RETRIES: u32 = 3;

/// Checkr's largest page.
const PER_PAGE: u32 = 100;

/// The connection's access token, or the error every Checkr action reports without one.
pub fn access_token() -> Result<String, ActionError> {
    match terapi_sdk::get_connection().credentials {
        Credentials::OAuth2 { access_token, .. } if !access_token.is_empty() => Ok(access_token),
        _ => Err(ActionError::new("access_token is missing")),
    }
}

/// A request to `endpoint` authenticated as Checkr requires: HTTP Basic with the access
/// token as user name and an empty password. No retries: see [`idempotent`] for requests
/// that may be repeated.
pub fn request(endpoint: &str) -> Result<Request, ActionError> {
    let token = access_token()?;
    Ok(Request::new(endpoint).header("Authorization", terapi_sdk::basic_auth(&token, "")))
}

/// [`request`] for a call that is safe to repeat (a GET, or a DELETE of one resource),
/// with [`RETRIES`] retries.
pub fn idempotent(endpoint: &str) -> Result<Request, ActionError> {
    Ok(request(endpoint)?.retries(RETRIES))
}

/// Checkr's pagination: items in `data`, the next page's absolute URL in `next_href`,
/// 100 per page. Checkr's description does not require `data`: a page without it has no
/// items.
pub fn paginator() -> Paginator {
    Paginator::link("data", "next_href")
        .page_size("per_page", PER_PAGE)
        .missing_items_empty()
}

/// Whether the connection's account uses Checkr's Account Hierarchy: its connection
/// configuration's `accountHierarchyEnabled` (gathered at connect time) is `true`.
pub fn hierarchy_enabled() -> bool {
    match &terapi_sdk::get_connection().connection_config["accountHierarchyEnabled"] {
        Value::Bool(enabled) => *enabled,
        Value::String(text) => text.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// `/v1/{collection}/{id}` with `id` percent-encoded, so an id can never reach another path.
pub fn path(collection: &str, id: &str) -> String {
    let mut out = format!("/v1/{collection}/");
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The `Idempotency-Key` of a create: the caller's own when given, else one derived from
/// the connection, the action and the request body, so that repeating the same create —
/// the host retrying a request whose response was lost, or the caller retrying the whole
/// action — returns the first result instead of creating a duplicate. Checkr keeps keys
/// for 24 hours.
pub fn idempotency_key(
    action: &str,
    body: &impl Serialize,
    explicit: Option<&str>,
) -> Result<String, ActionError> {
    if let Some(key) = explicit {
        return Ok(key.trim().to_string());
    }
    let connection = terapi_sdk::get_connection();
    // Through `Value`, whose maps are sorted, so equal bodies hash equally.
    let body = serde_json::to_value(body)?;
    let mut hasher = Sha256::new();
    for part in [
        connection.provider_config_key.as_bytes(),
        connection.connection_id.as_bytes(),
        action.as_bytes(),
        body.to_string().as_bytes(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let hex: String = digest
        .iter()
        .take(20)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok(format!("terapi-{action}-{hex}"))
}

/// Rewords Checkr's 403 for accounts without Account Hierarchy so the caller knows what to
/// change; the payload (upstream status, message and body) is kept.
pub fn explain_hierarchy_error(error: ActionError) -> ActionError {
    let not_enabled = error.payload.as_ref().is_some_and(|payload| {
        payload["status"] == 403
            && payload["error"]
                .as_str()
                .is_some_and(|message| message.contains("not enabled for Hierarchy"))
    });
    if !not_enabled {
        return error;
    }
    ActionError {
        message: format!(
            "Account Hierarchy is not enabled for this Checkr account: {}",
            error.message
        ),
        payload: error.payload,
    }
}
