//! Small helpers shared by every layer: one time formatter, one way to name an error's
//! root cause, one capped body reader, one random-id generator.

use base64::Engine as _;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An instant as RFC 3339 / ISO-8601 text (`2026-11-26T14:29:41Z`), as a JSON string;
/// `null` in the (unreachable for real dates) case that it cannot be formatted.
pub fn iso(instant: OffsetDateTime) -> Value {
    instant
        .format(&Rfc3339)
        .map(Value::String)
        .unwrap_or(Value::Null)
}

/// The innermost cause of an error chain, as text: what a user can act on ("connection
/// refused"), without the wrappers' repetitions of the URL.
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    cause
}

/// Why [`read_capped`] returned no body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than the limit (bytes).
    #[error("the response body exceeds the limit of {0} bytes")]
    TooLarge(u64),
    /// Reading timed out.
    #[error("reading the response body timed out")]
    Timeout,
    /// Reading failed.
    #[error("reading the response body failed: {0}")]
    Transport(String),
}

/// Reads a response body, refusing one longer than `limit` bytes (announced by
/// `Content-Length` or found while reading) without buffering more than the limit.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(BodyError::TooLarge(limit));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() as u64 + chunk.len() as u64 > limit {
                    return Err(BodyError::TooLarge(limit));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(error) if error.is_timeout() => return Err(BodyError::Timeout),
            Err(error) => return Err(BodyError::Transport(root_cause(&error))),
        }
    }
}

/// A random, URL-safe identifier carrying 256 bits from the operating system: for OAuth
/// `state` values and asynchronous run ids alike (unguessable, so knowing one id tells
/// nothing about another).
pub fn random_id() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| format!("no randomness available: {error}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_is_rfc3339_utc() {
        let instant = OffsetDateTime::from_unix_timestamp(1_517_589_540).expect("valid");
        assert_eq!(iso(instant), Value::String("2018-02-02T16:39:00Z".into()));
    }

    #[test]
    fn random_ids_differ_and_are_url_safe() {
        let (a, b) = (random_id().expect("random"), random_id().expect("random"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
