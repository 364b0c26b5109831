//! The records a sync keeps, per model.
//!
//! A model is a type that implements `Serialize` and `JsonSchema` and has a string `id`;
//! its name is its schema name ([`model_name`](crate::model_name)). The host validates
//! every record against the model's schema and writes each batch in one transaction;
//! saving a record that did not change changes nothing.
//!
//! ```no_run
//! # use terapi_sdk::ActionError;
//! #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
//! struct Candidate { id: String, email: Option<String> }
//!
//! # fn f() -> Result<(), ActionError> {
//! let candidates = vec![Candidate { id: "c1".into(), email: None }];
//! terapi_sdk::records::save(&candidates)?;
//! // Partial records, merged into the stored ones:
//! terapi_sdk::records::update::<Candidate>(&[serde_json::json!({ "id": "c1", "email": "a@b.co" })])?;
//! terapi_sdk::records::delete::<Candidate>(&["c1"])?;
//! # Ok(()) }
//! ```
//!
//! Records are checked before they leave the component: each must serialize to a JSON
//! object with a non-empty string `id`, or the call fails naming the record (its position
//! in the batch) and the field.

use crate::bindings::terapi::runtime::records as wit;
use crate::paginate::Pages;
use crate::{ActionError, model_name};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Saves records of model `M`: creates the new ones, replaces the changed ones, leaves
/// the unchanged ones as they are. An empty slice sends nothing.
pub fn save<M: Serialize + JsonSchema>(records: &[M]) -> Result<(), ActionError> {
    let model = model_name::<M>();
    let batch = encode(&model, records)?;
    if batch.is_empty() {
        return Ok(());
    }
    wit::batch_save(&model, &batch).map_err(|error| host_error("save", &model, error))
}

/// Merges partial records of model `M` into the stored ones: each is a JSON object with
/// the record's `id` and the fields to change.
pub fn update<M: JsonSchema>(partials: &[impl Serialize]) -> Result<(), ActionError> {
    let model = model_name::<M>();
    let batch = encode(&model, partials)?;
    if batch.is_empty() {
        return Ok(());
    }
    wit::batch_update(&model, &batch).map_err(|error| host_error("update", &model, error))
}

/// Marks the records of model `M` with these ids deleted (they stay readable, as
/// deleted).
pub fn delete<M: JsonSchema>(ids: &[impl AsRef<str>]) -> Result<(), ActionError> {
    let model = model_name::<M>();
    let ids = check_ids(&model, ids)?;
    if ids.is_empty() {
        return Ok(());
    }
    wit::batch_delete(&model, &ids).map_err(|error| host_error("delete", &model, error))
}

/// The stored records of model `M` with these ids; deleted records and unknown ids are
/// left out.
pub fn get_by_ids<M: DeserializeOwned + JsonSchema>(
    ids: &[impl AsRef<str>],
) -> Result<Vec<M>, ActionError> {
    let model = model_name::<M>();
    let ids = check_ids(&model, ids)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = wit::get_records_by_ids(&model, &ids)
        .map_err(|error| host_error("get_by_ids", &model, error))?;
    found
        .iter()
        .enumerate()
        .map(|(index, text)| decode(&model, index, text))
        .collect()
}

/// From now on, the host notes which records of model `M` this run saves; see
/// [`track_deletes_end`].
pub fn track_deletes_start<M: JsonSchema>() -> Result<(), ActionError> {
    let model = model_name::<M>();
    wit::track_deletes_start(&model)
        .map_err(|error| host_error("track_deletes_start", &model, error))
}

/// When this run succeeds, every record of model `M` it did not save since
/// [`track_deletes_start`] is marked deleted. A failed run deletes nothing. Call it once
/// the full listing was saved, never after a partial (incremental) one.
pub fn track_deletes_end<M: JsonSchema>() -> Result<(), ActionError> {
    let model = model_name::<M>();
    wit::track_deletes_end(&model).map_err(|error| host_error("track_deletes_end", &model, error))
}

/// What [`save_pages`] saved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Saved {
    /// Pages fetched and saved.
    pub pages: usize,
    /// Records saved.
    pub records: usize,
}

/// One page [`save_pages_with`] just saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedPage {
    /// 1 for the first page of this listing.
    pub number: usize,
    /// Records saved from this page.
    pub records: usize,
    /// Whether the listing has another page to fetch.
    pub has_next: bool,
}

/// Saves a listing page by page: fetches a page, turns its items into records with `map`,
/// saves them, then fetches the next. Only one page is held at a time, however long the
/// listing. The first failing page or save ends it with that error.
///
/// ```no_run
/// # use terapi_sdk::{ActionError, Paginator, Request};
/// # #[derive(serde::Deserialize)] struct ApiUser { id: String }
/// # #[derive(serde::Serialize, schemars::JsonSchema)] struct User { id: String }
/// # fn f() -> Result<(), ActionError> {
/// let pages = Paginator::link("data", "next_href").pages::<ApiUser>(Request::new("/v1/users"));
/// let saved = terapi_sdk::records::save_pages(pages, |user| User { id: user.id })?;
/// terapi_sdk::info!("{} users in {} pages", saved.records, saved.pages);
/// # Ok(()) }
/// ```
pub fn save_pages<T, M, F>(pages: Pages<T>, map: F) -> Result<Saved, ActionError>
where
    T: DeserializeOwned,
    M: Serialize + JsonSchema,
    F: FnMut(T) -> M,
{
    save_pages_with(pages, map, |_| Ok(()))
}

/// [`save_pages`], calling `after_page` once each page is saved: the place to save a
/// checkpoint (the page to resume from), so a run killed later resumes after it.
pub fn save_pages_with<T, M, F, A>(
    pages: Pages<T>,
    map: F,
    after_page: A,
) -> Result<Saved, ActionError>
where
    T: DeserializeOwned,
    M: Serialize + JsonSchema,
    F: FnMut(T) -> M,
    A: FnMut(SavedPage) -> Result<(), ActionError>,
{
    feed_pages(pages, map, |batch: &[M]| save(batch), after_page)
}

/// The loop of [`save_pages_with`], with the saving step given (so it runs natively in
/// tests).
pub(crate) fn feed_pages<T, M, F, S, A>(
    mut pages: Pages<T>,
    mut map: F,
    mut save: S,
    mut after_page: A,
) -> Result<Saved, ActionError>
where
    T: DeserializeOwned,
    F: FnMut(T) -> M,
    S: FnMut(&[M]) -> Result<(), ActionError>,
    A: FnMut(SavedPage) -> Result<(), ActionError>,
{
    let mut saved = Saved::default();
    while let Some(page) = pages.next() {
        let page = page?;
        let batch: Vec<M> = page.items.into_iter().map(&mut map).collect();
        save(&batch)?;
        saved.pages += 1;
        saved.records += batch.len();
        after_page(SavedPage {
            number: page.number,
            records: batch.len(),
            has_next: pages.has_next(),
        })?;
    }
    Ok(saved)
}

/// Serializes each record, checking it is an object with a non-empty string `id`.
pub(crate) fn encode<R: Serialize>(model: &str, records: &[R]) -> Result<Vec<String>, ActionError> {
    records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let value = serde_json::to_value(record).map_err(|error| {
                record_error(
                    model,
                    index,
                    None,
                    format!("could not be serialized: {error}"),
                )
            })?;
            let Value::Object(fields) = &value else {
                return Err(record_error(
                    model,
                    index,
                    None,
                    format!("is not a JSON object but {}", kind(&value)),
                ));
            };
            match fields.get("id") {
                Some(Value::String(id)) if !id.trim().is_empty() => {}
                Some(Value::String(_)) => {
                    return Err(record_error(model, index, Some("id"), "is empty".into()));
                }
                Some(other) => {
                    return Err(record_error(
                        model,
                        index,
                        Some("id"),
                        format!("must be a string, not {}", kind(other)),
                    ));
                }
                None => {
                    return Err(record_error(model, index, Some("id"), "is missing".into()));
                }
            }
            Ok(value.to_string())
        })
        .collect()
}

fn check_ids(model: &str, ids: &[impl AsRef<str>]) -> Result<Vec<String>, ActionError> {
    ids.iter()
        .enumerate()
        .map(|(index, id)| {
            let id = id.as_ref();
            if id.trim().is_empty() {
                Err(record_error(model, index, Some("id"), "is empty".into()))
            } else {
                Ok(id.to_string())
            }
        })
        .collect()
}

fn decode<M: DeserializeOwned>(model: &str, index: usize, text: &str) -> Result<M, ActionError> {
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let field = (path != ".").then_some(path);
        record_error(
            model,
            index,
            field.as_deref(),
            format!("does not match the model: {}", error.inner()),
        )
    })
}

fn record_error(model: &str, index: usize, field: Option<&str>, problem: String) -> ActionError {
    let message = match field {
        Some(field) => format!("{model} record {index}: field `{field}` {problem}"),
        None => format!("{model} record {index} {problem}"),
    };
    ActionError::new(message).with_payload(json!({
        "model": model,
        "record": index,
        "field": field,
    }))
}

fn host_error(operation: &str, model: &str, error: String) -> ActionError {
    ActionError::new(format!("records::{operation} of {model} failed: {error}"))
        .with_payload(json!({ "model": model, "operation": operation, "error": error }))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Paginator, Request, Response};

    #[derive(Serialize, serde::Deserialize, JsonSchema, Debug, PartialEq)]
    struct Number {
        id: String,
        value: u32,
    }

    #[test]
    fn records_are_encoded_as_objects_with_their_id() {
        let batch = encode(
            "Number",
            &[Number {
                id: "n1".into(),
                value: 1,
            }],
        )
        .expect("encoded");
        assert_eq!(batch, vec![r#"{"id":"n1","value":1}"#.to_string()]);
    }

    #[test]
    fn bad_records_are_refused_naming_record_and_field() {
        let error =
            encode("Number", &[json!({ "id": "a" }), json!({ "value": 2 })]).expect_err("no id");
        assert_eq!(error.message, "Number record 1: field `id` is missing");
        let payload = error.payload.expect("payload");
        assert_eq!(payload["record"], 1);
        assert_eq!(payload["field"], "id");

        let error = encode("Number", &[json!({ "id": 7 })]).expect_err("numeric id");
        assert_eq!(
            error.message,
            "Number record 0: field `id` must be a string, not a number"
        );
        let error = encode("Number", &[json!({ "id": " " })]).expect_err("blank id");
        assert!(
            error.message.ends_with("`id` is empty"),
            "{}",
            error.message
        );
        let error = encode("Number", &[json!(["id"])]).expect_err("array");
        assert_eq!(
            error.message,
            "Number record 0 is not a JSON object but an array"
        );
        assert!(check_ids("Number", &["a", ""]).is_err());
        assert_eq!(check_ids("Number", &["a"]).expect("ok"), vec!["a"]);
    }

    #[test]
    fn stored_records_decode_or_name_the_field() {
        let number: Number = decode("Number", 0, r#"{"id":"n","value":3}"#).expect("decoded");
        assert_eq!(number.value, 3);
        let error = decode::<Number>("Number", 2, r#"{"id":"n","value":"x"}"#).expect_err("bad");
        assert!(
            error.message.starts_with("Number record 2: field `value`"),
            "{}",
            error.message
        );
    }

    #[test]
    fn pages_are_saved_one_at_a_time_as_they_arrive() {
        use std::cell::RefCell;
        use std::rc::Rc;
        // Three pages of 2, 2 and 1 numbers; the log shows fetches and saves interleaved.
        let log = Rc::new(RefCell::new(Vec::<String>::new()));
        let fetches = log.clone();
        let pages = Paginator::offset("data", "offset")
            .page_size("limit", 2)
            .pages_with::<u32, _>(Request::new("/numbers"), move |request: Request| {
                let offset: u32 = request
                    .params()
                    .iter()
                    .find(|(name, _)| name == "offset")
                    .and_then(|(_, value)| value.parse().ok())
                    .unwrap_or(0);
                fetches.borrow_mut().push(format!("fetch {offset}"));
                let items: Vec<u32> = (offset..5).take(2).collect();
                Ok(Response::new(
                    "GET /numbers",
                    200,
                    Vec::new(),
                    json!({ "data": items }).to_string(),
                ))
            });
        let saves = log.clone();
        let checkpoints = log.clone();
        let saved = feed_pages(
            pages,
            |n| Number {
                id: format!("n{n}"),
                value: n,
            },
            |batch: &[Number]| {
                let ids: Vec<&str> = batch.iter().map(|n| n.id.as_str()).collect();
                saves.borrow_mut().push(format!("save {}", ids.join(",")));
                Ok(())
            },
            |page| {
                checkpoints.borrow_mut().push(format!(
                    "page {} ({}, more: {})",
                    page.number, page.records, page.has_next
                ));
                Ok(())
            },
        )
        .expect("saved");
        assert_eq!(
            saved,
            Saved {
                pages: 3,
                records: 5
            }
        );
        assert_eq!(
            *log.borrow(),
            vec![
                "fetch 0",
                "save n0,n1",
                "page 1 (2, more: true)",
                "fetch 2",
                "save n2,n3",
                "page 2 (2, more: true)",
                "fetch 4",
                "save n4",
                "page 3 (1, more: false)",
            ]
        );
    }

    #[test]
    fn a_failing_save_stops_the_listing() {
        let pages = Paginator::link("data", "next").pages_with::<u32, _>(
            Request::new("/numbers"),
            |_request: Request| {
                Ok(Response::new(
                    "GET /numbers",
                    200,
                    Vec::new(),
                    json!({ "data": [1], "next": "https://x.test/more" }).to_string(),
                ))
            },
        );
        let mut calls = 0;
        let error = feed_pages(
            pages,
            |n| n,
            |_batch: &[u32]| {
                calls += 1;
                Err(ActionError::new("store is down"))
            },
            |_| Ok(()),
        )
        .expect_err("fails");
        assert_eq!(error.message, "store is down");
        assert_eq!(calls, 1);
    }
}
