//! Checkr's page-number pagination: `page` (>= 1, default 1) and `per_page`
//! (0..=100, default 25); responses are
//! `{"data","object":"list","next_href","previous_href","count"}` with absolute links
//! that keep the request's other query parameters.

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::params::Query;

/// Default `per_page`.
pub(crate) const DEFAULT_PER_PAGE: usize = 25;
/// Largest `per_page`.
pub(crate) const MAX_PER_PAGE: usize = 100;

/// A requested page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    /// 1-based page number.
    pub(crate) page: usize,
    /// Items per page.
    pub(crate) per_page: usize,
}

impl Page {
    /// Reads `page` and `per_page` from the query; 400 naming the parameter when
    /// either is not an integer in range.
    pub(crate) fn from_query(query: &Query) -> Result<Self, ApiError> {
        let page = match query.get("page") {
            None => 1,
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(ApiError::bad_request(
                        "page must be an integer greater than or equal to 1",
                    ));
                }
            },
        };
        let per_page = match query.get("per_page") {
            None => DEFAULT_PER_PAGE,
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(n) if n <= MAX_PER_PAGE => n,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "per_page must be an integer between 0 and {MAX_PER_PAGE}"
                    )));
                }
            },
        };
        Ok(Self { page, per_page })
    }
}

/// Builds the list response for `items` (all matching records, already rendered and
/// ordered), cutting out the requested page. `path` is the endpoint path
/// (`/v1/candidates`); links are `base_url + path + ?page=..&per_page=..&<filters>`.
pub(crate) fn list_response(
    base_url: &str,
    path: &str,
    query: &Query,
    page: Page,
    items: Vec<Value>,
) -> Value {
    let count = items.len();
    let page_items = page.window(&items).to_vec();
    list_response_counted(base_url, path, query, page, count, page_items)
}

/// [`list_response`] for a listing of `count` records of which only the requested
/// page's, `page_items`, were rendered (see [`Page::window`]): large listings render one
/// page per request, not every record.
pub(crate) fn list_response_counted(
    base_url: &str,
    path: &str,
    query: &Query,
    page: Page,
    count: usize,
    page_items: Vec<Value>,
) -> Value {
    let start = page.page.saturating_sub(1).saturating_mul(page.per_page);
    let has_next = page.per_page > 0 && start.saturating_add(page.per_page) < count;
    let next_href = if has_next {
        Value::String(href(base_url, path, query, page.page + 1, page.per_page))
    } else {
        Value::Null
    };
    let previous_href = if page.page > 1 {
        Value::String(href(base_url, path, query, page.page - 1, page.per_page))
    } else {
        Value::Null
    };
    // Checkr sends `null` links on the first and last pages; its description types them as
    // (non-nullable) strings, so they are left out.
    crate::resources::omit_nulls(
        json!({
            "data": page_items,
            "object": "list",
            "next_href": next_href,
            "previous_href": previous_href,
            "count": count,
        }),
        &[],
    )
}

impl Page {
    /// The requested page's slice of `items`.
    pub(crate) fn window<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let start = self
            .page
            .saturating_sub(1)
            .saturating_mul(self.per_page)
            .min(items.len());
        let end = start.saturating_add(self.per_page).min(items.len());
        &items[start..end]
    }
}

fn href(base_url: &str, path: &str, query: &Query, page: usize, per_page: usize) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    serializer.append_pair("page", &page.to_string());
    serializer.append_pair("per_page", &per_page.to_string());
    for (k, v) in query.pairs() {
        if k != "page" && k != "per_page" {
            serializer.append_pair(k, v);
        }
    }
    format!("{base_url}{path}?{}", serializer.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!(i)).collect()
    }

    #[test]
    fn defaults_and_validation() {
        assert_eq!(
            Page::from_query(&Query::parse(None)).ok(),
            Some(Page {
                page: 1,
                per_page: 25
            })
        );
        assert!(Page::from_query(&Query::parse(Some("page=0"))).is_err());
        assert!(Page::from_query(&Query::parse(Some("page=x"))).is_err());
        assert!(Page::from_query(&Query::parse(Some("per_page=101"))).is_err());
        assert!(Page::from_query(&Query::parse(Some("per_page=-1"))).is_err());
        assert_eq!(
            Page::from_query(&Query::parse(Some("per_page=0"))).ok(),
            Some(Page {
                page: 1,
                per_page: 0
            })
        );
    }

    #[test]
    fn links_keep_filters() {
        let q = Query::parse(Some("email=a%40b.co&page=2&per_page=2"));
        let page = Page::from_query(&q).expect("valid page");
        let body = list_response("http://h", "/v1/candidates", &q, page, items(5));
        assert_eq!(body["data"], json!([2, 3]));
        assert_eq!(body["count"], 5);
        assert_eq!(
            body["next_href"],
            "http://h/v1/candidates?page=3&per_page=2&email=a%40b.co"
        );
        assert_eq!(
            body["previous_href"],
            "http://h/v1/candidates?page=1&per_page=2&email=a%40b.co"
        );
        let last = list_response(
            "http://h",
            "/v1/x",
            &q,
            Page {
                page: 3,
                per_page: 2,
            },
            items(5),
        );
        assert_eq!(last["next_href"], Value::Null);
        assert_eq!(last["data"], json!([4]));
        let huge = list_response(
            "http://h",
            "/v1/x",
            &q,
            Page {
                page: usize::MAX,
                per_page: 100,
            },
            items(5),
        );
        assert_eq!(huge["data"], json!([]));
    }
}
