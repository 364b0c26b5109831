//! The Checkr syncs, one file each: `background-checks` (invitations), `candidates` and
//! `reports`. Their models are in [`models`]; what they share (timestamps, resuming a
//! listing at a page) is here.
//!
//! Every request goes through [`checkr::idempotent`](crate::checkr::idempotent), so the host retries
//! 429s after Checkr's `X-Ratelimit-Reset` and 5xx with backoff; listings use Checkr's
//! pagination (`per_page=100`, following `next_href`), and each page is saved as it
//! arrives.
//!
//! Each sync also applies Checkr's webhooks to its records as they arrive
//! (`invitation.*`, `candidate.*`, `report.*`), through [`refresh_from_event`]: the
//! event names the object, and the handler refetches it rather than saving the event's
//! copy. Checkr delivers events out of order and retries them, so an event's copy may be
//! older than one already applied; the API's current state never is. It also works for
//! events sent without their object.

pub mod background_checks;
pub mod candidates;
pub mod models;
pub mod reports;

use crate::checkr;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use terapi_sdk::schemars::JsonSchema;
use terapi_sdk::{ActionError, Pages, records};

/// What a webhook event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSubject {
    /// The event's type, e.g. `report.completed`.
    pub kind: String,
    /// The id of the object it is about (`data.object.id`).
    pub object_id: String,
}

/// Reads an event's type and its object's id, or says which is missing.
pub fn event_subject(event: &Value) -> Result<EventSubject, ActionError> {
    let kind = event["type"]
        .as_str()
        .ok_or_else(|| ActionError::new("the webhook event has no string `type`"))?;
    let object_id = event["data"]["object"]["id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ActionError::new(format!(
                "the `{kind}` webhook event has no `data.object.id`"
            ))
            .with_payload(json!({ "type": kind }))
        })?;
    Ok(EventSubject {
        kind: kind.to_string(),
        object_id: object_id.to_string(),
    })
}

/// Applies a webhook event about one object of `collection` (`reports`, ...): fetches the
/// object (`GET /v1/{collection}/{id}`) and saves it as a record of model `M`, or marks
/// the record deleted when the event's type is one of `deleted` or Checkr no longer finds
/// the object (404).
pub fn refresh_from_event<T, M>(
    event: &Value,
    collection: &str,
    deleted: &[&str],
    convert: impl FnOnce(T) -> M,
) -> Result<(), ActionError>
where
    T: DeserializeOwned,
    M: Serialize + JsonSchema,
{
    let subject = event_subject(event)?;
    let gone = if deleted.contains(&subject.kind.as_str()) {
        true
    } else {
        let response = terapi_sdk::get(checkr::idempotent(&checkr::path(
            collection,
            &subject.object_id,
        ))?)?;
        if response.status == 404 {
            true
        } else {
            let object: T = response.json()?;
            records::save(&[convert(object)])?;
            false
        }
    };
    if gone {
        records::delete::<M>(&[&subject.object_id])?;
    }
    terapi_sdk::info!(
        "{collection}: applied {} to {} ({})",
        subject.kind,
        subject.object_id,
        if gone { "deleted" } else { "saved" }
    );
    Ok(())
}

/// The pages of Checkr's listing at `endpoint`, starting at page `first_page` (1 for
/// the whole listing; later when resuming an interrupted run).
pub fn pages_from<T: DeserializeOwned>(
    endpoint: &str,
    params: &[(&str, String)],
    first_page: u32,
) -> Result<Pages<T>, ActionError> {
    let mut request = checkr::idempotent(endpoint)?;
    for (name, value) in params {
        request = request.param(*name, value);
    }
    if first_page > 1 {
        request = request.param("page", first_page);
    }
    Ok(checkr::paginator().pages(request))
}

/// Seconds since the Unix epoch, by the host's wall clock.
pub fn now() -> Result<i64, ActionError> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .map_err(|_| ActionError::new("the host's clock is before 1970"))
}

/// `2024-01-31T12:00:00Z` for a count of seconds since the Unix epoch.
pub fn format_timestamp(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let seconds = epoch.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::parse_timestamp;

    #[test]
    fn timestamps_round_trip() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "2018-02-02T16:39:00Z",
            "2024-12-31T00:00:01Z",
            "1969-12-31T23:59:59Z",
        ] {
            let epoch = parse_timestamp(text).expect("parses");
            assert_eq!(format_timestamp(epoch), text);
        }
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn events_name_their_subject_or_say_what_is_missing() {
        let subject = event_subject(&json!({
            "id": "e1", "type": "report.completed", "data": { "object": { "id": "r1" } }
        }))
        .expect("complete");
        assert_eq!(
            subject,
            EventSubject {
                kind: "report.completed".into(),
                object_id: "r1".into()
            }
        );
        let error =
            event_subject(&json!({ "data": { "object": { "id": "r1" } } })).expect_err("no type");
        assert!(
            error.message.contains("no string `type`"),
            "{}",
            error.message
        );
        let error = event_subject(&json!({ "type": "report.completed", "data": {} }))
            .expect_err("no object");
        assert!(
            error
                .message
                .contains("`report.completed` webhook event has no `data.object.id`"),
            "{}",
            error.message
        );
    }

    #[test]
    fn the_component_describes_its_syncs() {
        use terapi_sdk::bindings::Guest;
        let syncs = crate::__TerapiComponent::describe_syncs();
        let summary: Vec<(&str, &str, &str, bool, bool)> = syncs
            .iter()
            .map(|sync| {
                (
                    sync.name.as_str(),
                    sync.models[0].name.as_str(),
                    sync.frequency.as_str(),
                    sync.auto_start,
                    sync.track_deletes,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "background-checks",
                    "BackgroundCheck",
                    "every hour",
                    true,
                    true
                ),
                ("candidates", "Candidate", "every hour", true, false),
                ("reports", "Report", "every hour", true, false),
            ]
        );
        assert!(syncs.iter().all(|sync| sync.models.len() == 1));
        let subscriptions: Vec<(&str, Vec<String>)> = syncs
            .iter()
            .map(|sync| (sync.name.as_str(), sync.webhook_subscriptions.clone()))
            .collect();
        assert_eq!(
            subscriptions,
            vec![
                ("background-checks", vec!["invitation.*".to_string()]),
                ("candidates", vec!["candidate.*".to_string()]),
                ("reports", vec!["report.*".to_string()]),
            ]
        );
        assert!(syncs.iter().all(|sync| !sync.description.is_empty()));
        assert!(
            crate::__TerapiComponent::describe().len() >= 11,
            "the actions are still there"
        );
        let error = crate::__TerapiComponent::fetch_data("invoices".into()).expect_err("unknown");
        assert!(error.message.contains("no such sync `invoices`"));
    }
}
