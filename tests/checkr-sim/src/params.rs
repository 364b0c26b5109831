//! Reading request parameters: query strings, and bodies sent as JSON or as
//! `application/x-www-form-urlencoded` (Checkr's documented default), including
//! Rails-style nested form keys (`tags[]=a`, `work_locations[][state]=CA`,
//! `metadata[job]=1`). Nothing here panics on client input: every problem is a
//! 400 naming the field.

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A parsed query string, pairs kept in their original order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string (without the `?`); `None` is an empty query.
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|raw| {
                form_urlencoded::parse(raw.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Self { pairs }
    }

    /// The last value given for `name`, if any. An empty value counts as absent.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// All pairs, in order.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// Parses a request body into a JSON object. JSON when the content type says so
/// (or, without a content type, when the body looks like a JSON object); form
/// encoding otherwise. An empty body is an empty object.
pub(crate) fn parse_body(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Map<String, Value>, ApiError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Ok(Map::new());
    }
    let is_json =
        content_type.contains("json") || (content_type.is_empty() && trimmed.starts_with(b"{"));
    if is_json {
        match serde_json::from_slice::<Value>(trimmed) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object")),
            Err(e) => Err(ApiError::bad_request(format!(
                "Request body is not valid JSON: {e}"
            ))),
        }
    } else if content_type.is_empty()
        || content_type.starts_with("application/x-www-form-urlencoded")
    {
        Ok(parse_form(trimmed))
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Unsupported Content-Type: {content_type}"),
        ))
    }
}

/// Parses a form-encoded body, with Rails-style nested keys, into a JSON object whose
/// leaves are strings.
pub(crate) fn parse_form(body: &[u8]) -> Map<String, Value> {
    let mut root = Value::Object(Map::new());
    for (key, value) in form_urlencoded::parse(body) {
        let path = split_key(&key);
        if path.is_empty() {
            continue;
        }
        insert_path(&mut root, &path, Value::String(value.into_owned()));
    }
    match root {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `a[b][]` → `["a", "b", ""]`.
fn split_key(key: &str) -> Vec<String> {
    let Some(open) = key.find('[') else {
        return if key.is_empty() {
            Vec::new()
        } else {
            vec![key.to_string()]
        };
    };
    let mut out = vec![key[..open].to_string()];
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        match stripped.find(']') {
            Some(close) => {
                out.push(stripped[..close].to_string());
                rest = &stripped[close + 1..];
            }
            None => {
                // Unbalanced bracket: treat the remainder as part of the name.
                out.push(stripped.to_string());
                break;
            }
        }
    }
    if out[0].is_empty() {
        return Vec::new();
    }
    out
}

fn insert_path(node: &mut Value, path: &[String], value: Value) {
    let Some((head, rest)) = path.split_first() else {
        *node = value;
        return;
    };
    if head.is_empty() {
        // Array segment.
        if !node.is_array() {
            *node = Value::Array(Vec::new());
        }
        let Value::Array(items) = node else { return };
        if rest.is_empty() {
            items.push(value);
            return;
        }
        // `a[][k]=v`: start a new element when the last one already has `k`.
        let start_new = match items.last() {
            Some(Value::Object(last)) => {
                rest.first().is_some_and(|k| last.contains_key(k.as_str()))
            }
            _ => true,
        };
        if start_new {
            items.push(Value::Object(Map::new()));
        }
        if let Some(last) = items.last_mut() {
            insert_path(last, rest, value);
        }
    } else {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else { return };
        let child = map.entry(head.clone()).or_insert(Value::Null);
        if rest.is_empty() {
            *child = value;
        } else {
            insert_path(child, rest, value);
        }
    }
}

/// An optional string field. Numbers are accepted and turned into strings (some
/// clients send zip codes or phone numbers as numbers); `null` and `""` are absent.
pub(crate) fn opt_string(
    body: &Map<String, Value>,
    field: &str,
) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(ApiError::bad_request(format!("{field} must be a string"))),
    }
}

/// A required string field: 400 `"<field> is a required field"` when absent.
pub(crate) fn req_string(body: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    opt_string(body, field)?.ok_or_else(|| ApiError::required(field))
}

/// An optional boolean: JSON booleans, or the strings `true`/`false`/`1`/`0`.
pub(crate) fn opt_bool(body: &Map<String, Value>, field: &str) -> Result<Option<bool>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(ApiError::bad_request(format!("{field} must be a boolean"))),
        },
        Some(_) => Err(ApiError::bad_request(format!("{field} must be a boolean"))),
    }
}

/// An optional array of strings. A single string is taken as a one-element array.
pub(crate) fn opt_string_array(
    body: &Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    let bad = || ApiError::bad_request(format!("{field} must be an array of strings"));
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(bad()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad()),
    }
}

/// An optional object whose values are strings, numbers or booleans (`metadata`).
pub(crate) fn opt_flat_object(
    body: &Map<String, Value>,
    field: &str,
) -> Result<Option<Map<String, Value>>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => {
            if map.values().any(|v| v.is_object() || v.is_array()) {
                return Err(ApiError::bad_request(format!(
                    "{field} values must be strings"
                )));
            }
            Ok(Some(map.clone()))
        }
        Some(_) => Err(ApiError::bad_request(format!("{field} must be an object"))),
    }
}

/// Optional `work_locations`: an array of `{country, state, city}` objects. Country
/// defaults to `US`; it must be two letters; `state` is required for US locations.
pub(crate) fn opt_work_locations(body: &Map<String, Value>) -> Result<Option<Value>, ApiError> {
    let field = "work_locations";
    let bad = || {
        ApiError::bad_request(format!(
            "{field} must be an array of objects with country, state and city"
        ))
    };
    let items = match body.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items.clone(),
        // Form encoding of a single location: `work_locations[country]=US`.
        Some(Value::Object(map)) => vec![Value::Object(map.clone())],
        Some(_) => return Err(bad()),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(loc) = item else {
            return Err(bad());
        };
        let country = opt_string(&loc, "country").map_err(|_| bad())?;
        let state = opt_string(&loc, "state").map_err(|_| bad())?;
        let city = opt_string(&loc, "city").map_err(|_| bad())?;
        let country = country
            .unwrap_or_else(|| "US".to_string())
            .to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ApiError::bad_request(
                "work_locations country must be an ISO-3166 alpha-2 code",
            ));
        }
        if country == "US" && state.is_none() {
            return Err(ApiError::bad_request(
                "work_locations state is required for US locations",
            ));
        }
        let mut obj = Map::new();
        obj.insert("country".into(), Value::String(country));
        obj.insert(
            "state".into(),
            state.map(Value::String).unwrap_or(Value::Null),
        );
        obj.insert(
            "city".into(),
            city.map(Value::String).unwrap_or(Value::Null),
        );
        out.push(Value::Object(obj));
    }
    Ok(Some(Value::Array(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_form_keys() {
        let map = parse_form(
            b"email=a%40b.co&tags[]=x&tags[]=y&work_locations[][country]=US&work_locations[][state]=CA\
              &work_locations[][country]=US&work_locations[][state]=NY&metadata[job]=12&bad[=1&=z",
        );
        assert_eq!(map["email"], "a@b.co");
        assert_eq!(map["tags"], serde_json::json!(["x", "y"]));
        assert_eq!(
            map["work_locations"],
            serde_json::json!([{"country":"US","state":"CA"},{"country":"US","state":"NY"}])
        );
        assert_eq!(map["metadata"], serde_json::json!({"job":"12"}));
    }

    #[test]
    fn query_last_value_wins_and_empty_is_absent() {
        let q = Query::parse(Some("page=1&page=2&email="));
        assert_eq!(q.get("page"), Some("2"));
        assert_eq!(q.get("email"), None);
    }
}
