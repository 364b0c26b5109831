//! `GET /records` (and `/records/`), shaped like Nango's: the records a sync keeps for a
//! connection, one model at a time, in modification order, with Nango's
//! `_nango_metadata` on each and a `next_cursor` to page with. Paging by cursor never
//! skips or repeats a change while syncs write (see `terapi_runtime::store`).

use super::AppState;
use super::actions::connection_headers;
use super::errors::ApiError;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use terapi_runtime::{RecordAction, RecordCursor, RecordQuery, StoredRecord};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Default page size, as in Nango.
const DEFAULT_LIMIT: usize = 100;
/// Largest page size, as in Nango.
const MAX_LIMIT: usize = 10_000;

/// The parsed query of `GET /records`.
#[derive(Debug, PartialEq)]
pub(crate) struct RecordsRequest {
    pub(crate) model: String,
    pub(crate) query: RecordQuery,
}

/// Parses `modified_after`: RFC 3339 (`2026-11-26T14:00:00Z`, or with an offset or
/// fractional seconds) or a plain date (`2026-11-26`, meaning its midnight UTC).
fn parse_date(text: &str) -> Option<OffsetDateTime> {
    if let Ok(instant) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(instant);
    }
    let date = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    Some(date.midnight().assume_utc())
}

/// Parses the query string; errors name the parameter and say what it must be.
pub(crate) fn parse_query(raw: &str) -> Result<RecordsRequest, ApiError> {
    let mut model = None;
    let mut query = RecordQuery {
        limit: DEFAULT_LIMIT,
        ..RecordQuery::default()
    };
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        match name.as_ref() {
            "model" => model = Some(value.into_owned()),
            "limit" => {
                query.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                    .ok_or_else(|| {
                        ApiError::invalid_query(format!(
                            "`limit` must be an integer from 1 to {MAX_LIMIT}, not `{value}`"
                        ))
                    })?;
            }
            "modified_after" => {
                query.modified_after = Some(parse_date(&value).ok_or_else(|| {
                    ApiError::invalid_query(format!(
                        "`modified_after` must be an ISO 8601 date or time (e.g. \
                         2026-11-26T14:00:00Z), not `{value}`"
                    ))
                })?);
            }
            "filter" => {
                for word in value.split(',').filter(|word| !word.trim().is_empty()) {
                    let action = RecordAction::parse(word).ok_or_else(|| {
                        ApiError::invalid_query(format!(
                            "`filter` takes `added`, `updated` and `deleted`, comma-separated; \
                             `{}` is none of them",
                            word.trim()
                        ))
                    })?;
                    query.actions.insert(action);
                }
            }
            "cursor" => {
                if !value.is_empty() {
                    query.after = Some(RecordCursor::decode(&value).ok_or_else(|| {
                        ApiError::invalid_query(format!(
                            "`cursor` `{value}` is not a cursor this API returned (use a \
                             `next_cursor` or a record's `_nango_metadata.cursor`)"
                        ))
                    })?);
                }
            }
            "ids" | "ids[]" => {
                if value.is_empty() {
                    return Err(ApiError::invalid_query("`ids` must not be empty"));
                }
                query.ids.push(value.into_owned());
            }
            // Nango's deprecated parameters and client extras are accepted and ignored
            // only where they change nothing; anything else is a mistake worth naming.
            "delta" | "variant" => {}
            other => {
                return Err(ApiError::invalid_query(format!(
                    "unknown query parameter `{other}`; expected model, modified_after, \
                     limit, filter, cursor, ids"
                )));
            }
        }
    }
    let model = model
        .filter(|model| !model.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_query("the `model` query parameter is required"))?;
    Ok(RecordsRequest { model, query })
}

/// `GET /records?model=...` with `Connection-Id` and `Provider-Config-Key` headers.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let (connection_id, key) = connection_headers(&headers)?;
    let request = parse_query(raw.as_deref().unwrap_or(""))?;
    let page = state
        .service()
        .list_records(&key, &connection_id, &request.model, &request.query)
        .await?;
    let next_cursor = page.next_cursor.map(RecordCursor::encode);
    let records: Vec<Value> = page
        .records
        .into_iter()
        .map(StoredRecord::into_nango_json)
        .collect();
    Ok(Json(
        json!({ "records": records, "next_cursor": next_cursor }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_query_parses() {
        let cursor = RecordCursor(9).encode();
        let request = parse_query(&format!(
            "model=Candidate&limit=7&filter=added,updated&cursor={cursor}&ids=a&ids=b\
             &modified_after=2026-11-26T14:00:00Z"
        ))
        .expect("parses");
        assert_eq!(request.model, "Candidate");
        assert_eq!(request.query.limit, 7);
        assert_eq!(request.query.after, Some(RecordCursor(9)));
        assert_eq!(request.query.ids, vec!["a", "b"]);
        assert_eq!(
            request.query.actions,
            [RecordAction::Added, RecordAction::Updated]
                .into_iter()
                .collect()
        );
        assert!(request.query.modified_after.is_some());
        let defaults = parse_query("model=Candidate").expect("defaults");
        assert_eq!(defaults.query.limit, 100);
        assert!(parse_query("model=X&modified_after=2026-11-26").is_ok());
    }

    #[test]
    fn bad_queries_name_the_parameter() {
        for (query, named) in [
            ("", "`model`"),
            ("model=X&limit=0", "`limit`"),
            ("model=X&limit=10001", "`limit`"),
            ("model=X&limit=ten", "`limit`"),
            ("model=X&filter=added,gone", "`gone`"),
            ("model=X&cursor=42", "`cursor`"),
            ("model=X&modified_after=yesterday", "`modified_after`"),
            ("model=X&sort=asc", "`sort`"),
        ] {
            let error = parse_query(query).expect_err(query);
            assert_eq!(error.status.as_u16(), 400, "{query}");
            assert!(error.message.contains(named), "{query}: {}", error.message);
        }
    }
}
