//! Following a provider's pagination.
//!
//! List endpoints return one page at a time. A [`Paginator`] says how a provider pages —
//! where the items are in each response, and how to ask for the next page — and
//! [`Paginator::pages`] turns a first request into an iterator of typed pages that sends
//! one request per page, only when the next page is wanted:
//!
//! * [`Paginator::link`]: the response carries the next page's URL (Checkr's `next_href`,
//!   an absolute URL that keeps the filters and `per_page`);
//! * [`Paginator::link_header`]: the next page's URL is in an RFC 8288 `Link` header with
//!   `rel="next"` (GitHub style);
//! * [`Paginator::cursor`]: the response carries an opaque cursor that the next request
//!   sends back as a query parameter;
//! * [`Paginator::offset`]: the next request asks for the items after the ones received so
//!   far.
//!
//! Pagination stops when there is no next page (no link, no cursor, a short or empty page
//! at an offset) and, to survive a provider that loops, when a next link or cursor repeats
//! one already followed, or after [`Paginator::max_pages`]. A page that fails (an HTTP
//! error, a non-2xx status, a body without the items) ends the iteration with that error.
//!
//! ```no_run
//! # use terapi_sdk::{ActionError, Paginator, Request};
//! # fn f() -> Result<(), ActionError> {
//! #[derive(serde::Deserialize)]
//! struct Candidate { id: String }
//!
//! let checkr = Paginator::link("data", "next_href").page_size("per_page", 100);
//! let request = Request::new("/v1/candidates").param("email", "jane@example.com").retries(3);
//! // Everything, page after page:
//! for page in checkr.pages::<Candidate>(request.clone()) {
//!     for candidate in page?.items {
//!         terapi_sdk::info!("candidate {}", candidate.id);
//!     }
//! }
//! // At most 10, fetching no page more than needed:
//! let first_ten = checkr.pages::<Candidate>(request).collect_up_to(Some(10))?;
//! # Ok(()) }
//! ```

use crate::ActionError;
use crate::http::{HttpError, Request, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashSet;
use std::marker::PhantomData;

/// How a provider's list endpoints page. Build one with [`Paginator::link`],
/// [`Paginator::link_header`], [`Paginator::cursor`] or [`Paginator::offset`], then
/// [`Paginator::pages`] for each listing.
///
/// Paths into a response body are dot-separated object keys (`data`, `meta.next`); the
/// empty path is the body itself (for APIs that answer with a bare array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paginator {
    items_path: String,
    style: Style,
    page_size: Option<(String, u32)>,
    max_pages: Option<usize>,
    missing_items_empty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Style {
    LinkInBody { path: String },
    LinkHeader,
    Cursor { path: String, param: String },
    Offset { param: String },
}

impl Paginator {
    /// Items at `items_path`; the next page's URL (absolute, or a path on the provider's
    /// API) at `next_link_path`, `null` or absent on the last page. Checkr:
    /// `Paginator::link("data", "next_href")`.
    pub fn link(items_path: impl Into<String>, next_link_path: impl Into<String>) -> Self {
        Self::with_style(
            items_path,
            Style::LinkInBody {
                path: next_link_path.into(),
            },
        )
    }

    /// Items at `items_path`; the next page's URL in the `Link` response header
    /// (`<https://api.example.com/items?page=2>; rel="next"`), absent on the last page.
    pub fn link_header(items_path: impl Into<String>) -> Self {
        Self::with_style(items_path, Style::LinkHeader)
    }

    /// Items at `items_path`; the cursor for the next page at `cursor_path` (a string or a
    /// number; `null`, `""` or absent on the last page), sent back as query parameter
    /// `cursor_param`.
    pub fn cursor(
        items_path: impl Into<String>,
        cursor_path: impl Into<String>,
        cursor_param: impl Into<String>,
    ) -> Self {
        Self::with_style(
            items_path,
            Style::Cursor {
                path: cursor_path.into(),
                param: cursor_param.into(),
            },
        )
    }

    /// Items at `items_path`; the next request sets query parameter `offset_param` to the
    /// number of items received so far (starting from the first request's own value of it,
    /// or 0). The last page is the first empty one or, with a [`Paginator::page_size`], the
    /// first one shorter than the page size.
    pub fn offset(items_path: impl Into<String>, offset_param: impl Into<String>) -> Self {
        Self::with_style(
            items_path,
            Style::Offset {
                param: offset_param.into(),
            },
        )
    }

    fn with_style(items_path: impl Into<String>, style: Style) -> Self {
        Paginator {
            items_path: items_path.into(),
            style,
            page_size: None,
            max_pages: None,
            missing_items_empty: false,
        }
    }

    /// Asks for `size` items per page with query parameter `param` on the first request
    /// (later ones keep it: links carry it, cursor and offset requests are built from the
    /// first one).
    pub fn page_size(mut self, param: impl Into<String>, size: u32) -> Self {
        self.page_size = Some((param.into(), size));
        self
    }

    /// Treats a page without its items (the items path absent or `null`) as a page with
    /// none, for APIs whose description does not promise the list (Checkr's list schemas
    /// do not require `data`). Without it, such a page is an error.
    pub fn missing_items_empty(mut self) -> Self {
        self.missing_items_empty = true;
        self
    }

    /// Fetches at most `pages` pages, whatever the provider says.
    pub fn max_pages(mut self, pages: usize) -> Self {
        self.max_pages = Some(pages);
        self
    }

    /// The pages of the listing `first` requests, each item deserialized as `T`. Nothing is
    /// sent until the iterator is advanced.
    pub fn pages<T: DeserializeOwned>(&self, first: Request) -> Pages<T> {
        self.pages_with(first, crate::http::send)
    }

    /// [`Paginator::pages`] with another way to send requests (tests, caches).
    pub fn pages_with<T, S>(&self, first: Request, send: S) -> Pages<T>
    where
        T: DeserializeOwned,
        S: FnMut(Request) -> Result<Response, HttpError> + 'static,
    {
        let first = match &self.page_size {
            Some((param, size)) => first.set_param(param.clone(), size),
            None => first,
        };
        let mut seen = HashSet::new();
        if first.params().is_empty() && is_absolute(first.endpoint()) {
            seen.insert(first.endpoint().to_string());
        }
        let offset = match &self.style {
            Style::Offset { param } => first
                .params()
                .iter()
                .rev()
                .find(|(name, _)| name == param)
                .and_then(|(_, value)| value.parse().ok())
                .unwrap_or(0),
            _ => 0,
        };
        Pages {
            paginator: self.clone(),
            base: first.clone(),
            next: Some(first),
            seen,
            offset,
            fetched: 0,
            stop: None,
            send: Box::new(send),
            _items: PhantomData,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The page's items.
    pub items: Vec<T>,
    /// The rest of the response body (the items themselves replaced by `null`), for
    /// totals such as Checkr's `count`.
    pub body: Value,
    /// 1 for the first page.
    pub number: usize,
}

/// Why a listing ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The provider said there is no next page.
    LastPage,
    /// The provider gave a next link or cursor that was already followed; following it
    /// would loop.
    Repeated,
    /// [`Paginator::max_pages`] pages were fetched and the provider offered more.
    MaxPages,
    /// A page failed; the iterator returned the error.
    Failed,
}

/// The pages of one listing, fetched lazily; see [`Paginator::pages`].
pub struct Pages<T> {
    paginator: Paginator,
    /// The first request, which cursor and offset requests are derived from.
    base: Request,
    next: Option<Request>,
    /// Links or cursors followed so far.
    seen: HashSet<String>,
    offset: u64,
    fetched: usize,
    stop: Option<StopReason>,
    send: Box<dyn FnMut(Request) -> Result<Response, HttpError>>,
    _items: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Pages<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("paginator", &self.paginator)
            .field("fetched", &self.fetched)
            .field("has_next", &self.next.is_some())
            .field("stop", &self.stop)
            .finish_non_exhaustive()
    }
}

/// Everything a listing returned, up to a limit; see [`Pages::collect_up_to`].
#[derive(Debug, Clone, PartialEq)]
pub struct Collected<T> {
    /// The items, in the provider's order.
    pub items: Vec<T>,
    /// True when the limit (or [`Paginator::max_pages`]) cut the listing short: the
    /// provider has more.
    pub has_more: bool,
    /// How many pages were fetched.
    pub pages: usize,
    /// The first page's body without its items (for totals), `null` if no page was
    /// fetched.
    pub first_page: Value,
}

impl<T: DeserializeOwned> Pages<T> {
    /// Whether another page would be fetched by the next call to `next`.
    pub fn has_next(&self) -> bool {
        self.next.is_some()
    }

    /// How many pages were fetched so far.
    pub fn fetched(&self) -> usize {
        self.fetched
    }

    /// Why the listing ended, once it has.
    pub fn stop_reason(&self) -> Option<&StopReason> {
        self.stop.as_ref()
    }

    /// Collects the items of every page, or of just enough pages for `limit` items. The
    /// first failing page's error is returned.
    pub fn collect_up_to(mut self, limit: Option<usize>) -> Result<Collected<T>, ActionError> {
        let mut items = Vec::new();
        let mut first_page = Value::Null;
        let mut has_more = false;
        while limit.is_none_or(|limit| items.len() < limit) {
            let Some(page) = self.next() else { break };
            let page = page?;
            if page.number == 1 {
                first_page = page.body;
            }
            items.extend(page.items);
        }
        if let Some(limit) = limit.filter(|limit| items.len() >= *limit) {
            has_more = items.len() > limit || self.has_next();
            items.truncate(limit);
        }
        if self.stop == Some(StopReason::MaxPages) {
            has_more = true;
        }
        Ok(Collected {
            items,
            has_more,
            pages: self.fetched,
            first_page,
        })
    }

    fn fetch(&mut self, request: Request) -> Result<Page<T>, ActionError> {
        let request_line = request.request_line();
        let response = (self.send)(request.clone())?;
        let link_header = response.header("link").map(str::to_string);
        let mut body: Value = response.json()?;
        let items = match take_at(&mut body, &self.paginator.items_path) {
            None | Some(Value::Null) if self.paginator.missing_items_empty => {
                Some(Value::Array(Vec::new()))
            }
            items => items,
        };
        let items = items.ok_or_else(|| {
            ActionError::new(format!(
                "{request_line} returned no list at `{}`",
                display_path(&self.paginator.items_path)
            ))
        })?;
        let Value::Array(raw_items) = items else {
            return Err(ActionError::new(format!(
                "{request_line} returned something other than a list at `{}`",
                display_path(&self.paginator.items_path)
            )));
        };
        let count = raw_items.len();
        let mut items = Vec::with_capacity(count);
        for (index, item) in raw_items.into_iter().enumerate() {
            let item: T = serde_path_to_error::deserialize(item).map_err(|error| {
                let inner = error.path().to_string();
                let at = if inner == "." {
                    format!("{}[{index}]", display_path(&self.paginator.items_path))
                } else {
                    format!(
                        "{}[{index}].{inner}",
                        display_path(&self.paginator.items_path)
                    )
                };
                ActionError::new(format!(
                    "{request_line} returned an unexpected item at `{at}`: {}",
                    error.inner()
                ))
            })?;
            items.push(item);
        }
        self.fetched += 1;
        self.next = self.next_request(&request, &body, link_header.as_deref(), count);
        Ok(Page {
            items,
            body,
            number: self.fetched,
        })
    }

    /// The request for the page after the one `request` fetched, or `None` (and the
    /// reason recorded) at the end.
    fn next_request(
        &mut self,
        request: &Request,
        body: &Value,
        link_header: Option<&str>,
        count: usize,
    ) -> Option<Request> {
        let next = match &self.paginator.style {
            Style::LinkInBody { path } => value_at(body, path)
                .and_then(Value::as_str)
                .filter(|link| !link.trim().is_empty())
                .map(|link| Follow::Link(link.trim().to_string())),
            Style::LinkHeader => link_header.and_then(next_link).map(Follow::Link),
            Style::Cursor { path, param } => value_at(body, path)
                .and_then(|cursor| match cursor {
                    Value::String(text) if !text.is_empty() => Some(text.clone()),
                    Value::Number(number) => Some(number.to_string()),
                    _ => None,
                })
                .map(|cursor| Follow::Param(param.clone(), cursor)),
            Style::Offset { param } => {
                let short = self
                    .paginator
                    .page_size
                    .as_ref()
                    .is_some_and(|(_, size)| (count as u64) < u64::from(*size));
                if count == 0 || short {
                    None
                } else {
                    self.offset += count as u64;
                    Some(Follow::Offset(param.clone(), self.offset))
                }
            }
        };
        let Some(next) = next else {
            self.stop = Some(StopReason::LastPage);
            return None;
        };
        let repeated = match &next {
            Follow::Link(link) | Follow::Param(_, link) => !self.seen.insert(link.clone()),
            _ => false,
        };
        if repeated {
            self.stop = Some(StopReason::Repeated);
            warn(&format!(
                "{} gave a next page it had already given; stopping after page {}",
                request.request_line(),
                self.fetched
            ));
            return None;
        }
        if self
            .paginator
            .max_pages
            .is_some_and(|max| self.fetched >= max)
        {
            self.stop = Some(StopReason::MaxPages);
            return None;
        }
        Some(match next {
            Follow::Link(link) => request.clone().follow(link),
            Follow::Param(param, cursor) => self.base.clone().set_param(param, cursor),
            Follow::Offset(param, offset) => self.base.clone().set_param(param, offset),
        })
    }
}

impl<T: DeserializeOwned> Iterator for Pages<T> {
    type Item = Result<Page<T>, ActionError>;

    fn next(&mut self) -> Option<Self::Item> {
        let request = self.next.take()?;
        let page = self.fetch(request);
        if page.is_err() {
            self.next = None;
            self.stop = Some(StopReason::Failed);
        }
        Some(page)
    }
}

/// How to ask for the next page.
enum Follow {
    Link(String),
    Param(String, String),
    Offset(String, u64),
}

fn is_absolute(endpoint: &str) -> bool {
    endpoint.starts_with("http://") || endpoint.starts_with("https://")
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

fn value_at<'v>(body: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(body);
    }
    path.split('.').try_fold(body, |value, key| value.get(key))
}

/// Takes the value at `path` out of `body`, leaving `null`.
fn take_at(body: &mut Value, path: &str) -> Option<Value> {
    if path.is_empty() {
        return Some(body.take());
    }
    let mut value = body;
    for key in path.split('.') {
        value = value.get_mut(key)?;
    }
    Some(value.take())
}

/// The `rel="next"` target of an RFC 8288 `Link` header value.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        (is_next && !target.is_empty()).then(|| target.to_string())
    })
}

/// Logs through the host; outside a component (unit tests) there is no host to log to.
fn warn(message: &str) {
    #[cfg(target_family = "wasm")]
    crate::log::warn(message);
    #[cfg(not(target_family = "wasm"))]
    let _ = message;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A request as the fake provider saw it: endpoint and query parameters.
    type Seen = (String, Vec<(String, String)>);

    /// A fake provider: answers each request with `respond(endpoint, params)` and records
    /// what it was asked.
    struct Fake {
        log: Rc<RefCell<Vec<Seen>>>,
    }

    impl Fake {
        fn serve<T: DeserializeOwned>(
            paginator: &Paginator,
            first: Request,
            respond: impl Fn(&str, &[(String, String)]) -> Response + 'static,
        ) -> (Pages<T>, Fake) {
            let log = Rc::new(RefCell::new(Vec::new()));
            let recorder = log.clone();
            let pages = paginator.pages_with(first, move |request: Request| {
                recorder
                    .borrow_mut()
                    .push((request.endpoint().to_string(), request.params().to_vec()));
                Ok(respond(request.endpoint(), request.params()))
            });
            (pages, Fake { log })
        }

        fn requests(&self) -> Vec<Seen> {
            self.log.borrow().clone()
        }
    }

    fn ok(body: Value) -> Response {
        Response::new("GET test", 200, Vec::new(), body.to_string())
    }

    fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
        params
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Checkr-style: 7 numbers, 3 per page, `next_href` absolute with the filters.
    fn checkr_page(endpoint: &str, params: &[(String, String)]) -> Response {
        let page: usize = if endpoint.starts_with("http") {
            endpoint
                .split("page=")
                .nth(1)
                .and_then(|rest| rest.split('&').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(1)
        } else {
            assert_eq!(param(params, "per_page"), Some("3"));
            1
        };
        let items: Vec<u32> = (1..=7).skip((page - 1) * 3).take(3).collect();
        let next = if page * 3 < 7 {
            json!(format!(
                "https://api.checkr.test/v1/candidates?page={}&per_page=3&email=a%40b.co",
                page + 1
            ))
        } else {
            Value::Null
        };
        ok(json!({ "data": items, "object": "list", "next_href": next, "count": 7 }))
    }

    #[test]
    fn link_pagination_follows_next_href_to_the_end() {
        let checkr = Paginator::link("data", "next_href").page_size("per_page", 3);
        let first = Request::new("/v1/candidates").param("email", "a@b.co");
        let (pages, fake) = Fake::serve::<u32>(&checkr, first, checkr_page);
        let pages: Vec<Page<u32>> = pages.collect::<Result<_, _>>().expect("pages");
        assert_eq!(pages.len(), 3);
        assert_eq!(pages[0].items, vec![1, 2, 3]);
        assert_eq!(pages[2].items, vec![7]);
        assert_eq!(pages[0].body["count"], 7);
        assert_eq!(pages[0].body["data"], Value::Null, "items are taken out");
        let requests = fake.requests();
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0].0, "/v1/candidates");
        assert_eq!(
            requests[1],
            (
                "https://api.checkr.test/v1/candidates?page=2&per_page=3&email=a%40b.co".into(),
                Vec::new()
            ),
            "the link is followed as is, without the first request's parameters"
        );
    }

    #[test]
    fn collect_up_to_a_limit_fetches_no_more_pages_than_needed() {
        let checkr = Paginator::link("data", "next_href").page_size("per_page", 3);
        let (pages, fake) =
            Fake::serve::<u32>(&checkr, Request::new("/v1/candidates"), checkr_page);
        let collected = pages.collect_up_to(Some(4)).expect("collected");
        assert_eq!(collected.items, vec![1, 2, 3, 4]);
        assert!(collected.has_more);
        assert_eq!(collected.pages, 2);
        assert_eq!(collected.first_page["count"], 7);
        assert_eq!(fake.requests().len(), 2);

        let (pages, fake) =
            Fake::serve::<u32>(&checkr, Request::new("/v1/candidates"), checkr_page);
        let exact = pages.collect_up_to(Some(3)).expect("collected");
        assert_eq!(exact.items, vec![1, 2, 3]);
        assert!(exact.has_more, "a next link is pending");
        assert_eq!(fake.requests().len(), 1);

        let (pages, _) = Fake::serve::<u32>(&checkr, Request::new("/v1/candidates"), checkr_page);
        let all = pages.collect_up_to(Some(7)).expect("collected");
        assert_eq!(all.items.len(), 7);
        assert!(!all.has_more, "the listing ended exactly at the limit");

        let (pages, _) = Fake::serve::<u32>(&checkr, Request::new("/v1/candidates"), checkr_page);
        let unlimited = pages.collect_up_to(None).expect("collected");
        assert_eq!(unlimited.items, (1..=7).collect::<Vec<_>>());
        assert!(!unlimited.has_more);
    }

    #[test]
    fn a_page_without_items_is_empty_only_when_allowed() {
        for body in [
            json!({ "object": "list", "count": 0 }),
            json!({ "data": null }),
        ] {
            let strict = Paginator::link("data", "next_href");
            let reply = body.clone();
            let (pages, _) =
                Fake::serve::<u32>(
                    &strict,
                    Request::new("/v1/x"),
                    move |_, _| ok(reply.clone()),
                );
            let error = pages.collect_up_to(None).expect_err("no list");
            assert!(error.message.contains("`data`"), "{}", error.message);

            let tolerant = Paginator::link("data", "next_href").missing_items_empty();
            let reply = body.clone();
            let (pages, _) = Fake::serve::<u32>(&tolerant, Request::new("/v1/x"), move |_, _| {
                ok(reply.clone())
            });
            let collected = pages.collect_up_to(None).expect("an empty page");
            assert!(collected.items.is_empty());
            assert!(!collected.has_more);
        }
    }

    #[test]
    fn a_repeated_link_stops_the_listing() {
        let looping = Paginator::link("data", "next_href");
        let (mut pages, fake) = Fake::serve::<u32>(&looping, Request::new("/v1/x"), |_, _| {
            ok(json!({ "data": [1], "next_href": "https://api.test/v1/x?page=2" }))
        });
        let mut count = 0;
        for page in pages.by_ref() {
            page.expect("page");
            count += 1;
        }
        assert_eq!(count, 2, "page 1, then page 2 whose next link is itself");
        assert_eq!(pages.stop_reason(), Some(&StopReason::Repeated));
        assert_eq!(fake.requests().len(), 2);
    }

    #[test]
    fn a_link_back_to_an_absolute_first_request_stops_at_once() {
        let looping = Paginator::link("data", "next");
        let (pages, fake) =
            Fake::serve::<u32>(&looping, Request::new("https://api.test/items"), |_, _| {
                ok(json!({ "data": [1], "next": "https://api.test/items" }))
            });
        assert_eq!(pages.collect_up_to(None).expect("ok").items, vec![1]);
        assert_eq!(fake.requests().len(), 1);
    }

    #[test]
    fn cursor_pagination_sends_the_cursor_back_and_stops_on_a_repeat_or_none() {
        let paginator = Paginator::cursor("results", "meta.next_cursor", "cursor");
        let first = Request::new("/items").param("q", "x");
        let (pages, fake) = Fake::serve::<String>(&paginator, first, |_, params| {
            match param(params, "cursor") {
                None => ok(json!({ "results": ["a", "b"], "meta": { "next_cursor": "c1" } })),
                Some("c1") => ok(json!({ "results": ["c"], "meta": { "next_cursor": 42 } })),
                Some("42") => ok(json!({ "results": ["d"], "meta": { "next_cursor": "" } })),
                Some(other) => panic!("unexpected cursor {other}"),
            }
        });
        let collected = pages.collect_up_to(None).expect("collected");
        assert_eq!(collected.items, vec!["a", "b", "c", "d"]);
        let requests = fake.requests();
        assert_eq!(requests.len(), 3);
        assert_eq!(param(&requests[1].1, "q"), Some("x"), "filters are kept");
        assert_eq!(param(&requests[2].1, "cursor"), Some("42"));

        let (mut pages, fake) =
            Fake::serve::<String>(&paginator, Request::new("/items"), |_, _| {
                ok(json!({ "results": ["a"], "meta": { "next_cursor": "same" } }))
            });
        assert_eq!(pages.by_ref().count(), 2);
        assert_eq!(pages.stop_reason(), Some(&StopReason::Repeated));
        assert_eq!(fake.requests().len(), 2);
    }

    #[test]
    fn offset_pagination_advances_by_the_items_received() {
        let paginator = Paginator::offset("", "offset").page_size("limit", 2);
        let (pages, fake) = Fake::serve::<u32>(&paginator, Request::new("/items"), |_, params| {
            let offset: usize = param(params, "offset")
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            let items: Vec<u32> = (0..5).skip(offset).take(2).collect();
            ok(json!(items))
        });
        let collected = pages.collect_up_to(None).expect("collected");
        assert_eq!(collected.items, vec![0, 1, 2, 3, 4]);
        let offsets: Vec<Option<String>> = fake
            .requests()
            .iter()
            .map(|(_, params)| param(params, "offset").map(str::to_string))
            .collect();
        assert_eq!(
            offsets,
            vec![None, Some("2".into()), Some("4".into())],
            "the short third page ends it"
        );

        let unsized_paginator = Paginator::offset("items", "skip");
        let (pages, fake) = Fake::serve::<u32>(
            &unsized_paginator,
            Request::new("/items").param("skip", 10),
            |_, params| {
                let skip: u32 = param(params, "skip")
                    .and_then(|o| o.parse().ok())
                    .unwrap_or(0);
                let items: Vec<u32> = if skip < 13 { vec![skip] } else { vec![] };
                ok(json!({ "items": items }))
            },
        );
        assert_eq!(
            pages.collect_up_to(None).expect("ok").items,
            vec![10, 11, 12]
        );
        assert_eq!(fake.requests().len(), 4, "until an empty page");
    }

    #[test]
    fn link_header_pagination() {
        let paginator = Paginator::link_header("");
        let (pages, _) = Fake::serve::<u32>(&paginator, Request::new("/repos"), |endpoint, _| {
            let (items, link) = match endpoint {
                "/repos" => (
                    json!([1, 2]),
                    Some(
                        r#"<https://api.test/repos?page=2>; rel="next", <https://api.test/repos?page=3>; rel="last""#,
                    ),
                ),
                "https://api.test/repos?page=2" => (
                    json!([3]),
                    Some(r#"<https://api.test/repos?page=1>; rel="prev first""#),
                ),
                other => panic!("unexpected {other}"),
            };
            let headers = link
                .map(|link| vec![("link".to_string(), link.to_string())])
                .unwrap_or_default();
            Response::new("GET test", 200, headers, items.to_string())
        });
        assert_eq!(pages.collect_up_to(None).expect("ok").items, vec![1, 2, 3]);
    }

    #[test]
    fn max_pages_bounds_the_listing_and_reports_more() {
        let checkr = Paginator::link("data", "next_href")
            .page_size("per_page", 3)
            .max_pages(2);
        let (pages, fake) =
            Fake::serve::<u32>(&checkr, Request::new("/v1/candidates"), checkr_page);
        let collected = pages.collect_up_to(None).expect("ok");
        assert_eq!(collected.items, vec![1, 2, 3, 4, 5, 6]);
        assert!(collected.has_more);
        assert_eq!(fake.requests().len(), 2);
    }

    #[test]
    fn upstream_errors_and_bad_bodies_end_the_listing_with_an_error() {
        let checkr = Paginator::link("data", "next_href");
        let (mut pages, fake) = Fake::serve::<u32>(&checkr, Request::new("/v1/nodes"), |_, _| {
            Response::new(
                "GET /v1/nodes",
                403,
                Vec::new(),
                r#"{"error":"Sorry, your account is not enabled for Hierarchy"}"#,
            )
        });
        let error = pages.next().expect("a result").expect_err("403");
        let payload = error.payload.expect("payload");
        assert_eq!(payload["status"], 403);
        assert_eq!(
            payload["error"],
            "Sorry, your account is not enabled for Hierarchy"
        );
        assert!(pages.next().is_none(), "nothing after an error");
        assert_eq!(pages.stop_reason(), Some(&StopReason::Failed));
        assert_eq!(fake.requests().len(), 1);

        let (pages, _) = Fake::serve::<u32>(&checkr, Request::new("/v1/x"), |_, _| {
            ok(json!({ "items": [] }))
        });
        let error = pages.collect_up_to(None).expect_err("no data");
        assert!(error.message.contains("no list at `data`"), "{error}");

        #[derive(serde::Deserialize, Debug)]
        struct Item {
            #[allow(dead_code)]
            id: String,
        }
        let (pages, _) = Fake::serve::<Item>(&checkr, Request::new("/v1/x"), |_, _| {
            ok(json!({ "data": [{ "id": "a" }, { "id": 7 }] }))
        });
        let error = pages.collect_up_to(None).expect_err("bad item");
        assert!(error.message.contains("`data[1].id`"), "{error}");
    }

    #[test]
    fn next_link_parsing() {
        assert_eq!(
            next_link(r#"<https://a/x?page=2>; rel="next""#).as_deref(),
            Some("https://a/x?page=2")
        );
        assert_eq!(
            next_link(r#"<https://a/1>; rel="prev", <https://a/3>; REL=next"#).as_deref(),
            Some("https://a/3")
        );
        assert_eq!(next_link(r#"<https://a/1>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
        assert_eq!(next_link(r#"<>; rel="next""#), None);
    }
}
