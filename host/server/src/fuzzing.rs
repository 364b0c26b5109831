//! Properties the fuzz targets (`fuzz/`, `cargo xtask fuzz`) and the property tests below
//! check on arbitrary input to the API's own parsers. Not an API: hidden from the
//! documentation, stable only for `fuzz/`.
//!
//! * [`proxy_headers`]: the proxy's request headers → its options and the headers sent
//!   upstream.
//! * [`records_query`]: the query string of `GET /records`.

use crate::proxy::{HOP_BY_HOP, MAX_RETRIES, forwarded_headers, options};
use crate::records::parse_query;
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// `data` = header lines `name: value`, separated by `\n`; lines the HTTP stack would
/// refuse (invalid names or values) are left out, as they never reach the handler.
/// Properties: never panics; accepted options are in range; only `Content-Type` and
/// `Nango-Proxy-*` headers are forwarded, never hop-by-hop ones, `Host`, or the
/// caller's own `Authorization` unless it asked for it by prefix; a refusal is a 400.
pub fn proxy_headers(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in data.split(|&byte| byte == b'\n') {
        let Some(colon) = line.iter().position(|&byte| byte == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        else {
            continue;
        };
        headers.append(name, value);
    }
    match options(&headers) {
        Ok(options) => {
            assert!(options.retries <= MAX_RETRIES);
            assert!(
                options
                    .retry_on
                    .iter()
                    .all(|status| (100..600).contains(status))
            );
        }
        Err(error) => assert_eq!(error.status.as_u16(), 400),
    }
    match forwarded_headers(&headers) {
        Ok(forwarded) => {
            for (name, value) in &forwarded {
                assert!(!HOP_BY_HOP.contains(&name.as_str()), "{name} forwarded");
                assert_ne!(name, HOST);
                if name == CONTENT_TYPE {
                    continue;
                }
                let prefixed = format!("nango-proxy-{name}");
                assert!(
                    headers
                        .get_all(prefixed.as_str())
                        .iter()
                        .any(|sent| sent == value),
                    "{name} forwarded without being asked for"
                );
            }
        }
        Err(error) => assert_eq!(error.status.as_u16(), 400),
    }
}

/// `data` = a query string. Properties: never panics; an accepted query names a model
/// and a page size from 1 to 10,000; a refusal is a 400 naming a parameter in backticks.
pub fn records_query(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    match parse_query(&raw) {
        Ok(request) => {
            assert!(!request.model.trim().is_empty());
            assert!((1..=10_000).contains(&request.query.limit));
        }
        Err(error) => {
            assert_eq!(error.status.as_u16(), 400);
            assert!(error.message.contains('`'), "{}", error.message);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The same properties under proptest, with generators biased towards the names and
    //! values the parsers know; fixed case counts keep `cargo xtask test` bounded.
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::Config;

    fn header_line() -> impl Strategy<Value = String> {
        let name = prop_oneof![
            prop::sample::select(vec![
                "Retries",
                "Retry-On",
                "Base-Url-Override",
                "Decompress",
                "Content-Type",
                "Nango-Proxy-Accept",
                "Nango-Proxy-Connection",
                "Nango-Proxy-Host",
                "Nango-Proxy-Content-Type",
                "Nango-Proxy-Authorization",
                "Nango-Proxy-Transfer-Encoding",
                "Nango-Proxy-",
                "nango-proxy-x y",
                "Authorization",
                "Connection-Id",
            ])
            .prop_map(str::to_string),
            "[A-Za-z-]{1,20}",
        ];
        let value = prop_oneof![
            prop::sample::select(vec![
                "0",
                "10",
                "11",
                "-1",
                "true",
                "FALSE",
                "yes",
                "429,503",
                "99, 600",
                ",,",
                "application/json"
            ])
            .prop_map(str::to_string),
            "[ -~]{0,16}",
            any::<u32>().prop_map(|number| number.to_string()),
        ];
        (name, value).prop_map(|(name, value)| format!("{name}:{value}"))
    }

    fn query() -> impl Strategy<Value = String> {
        let name = prop::sample::select(vec![
            "model",
            "limit",
            "modified_after",
            "filter",
            "cursor",
            "ids",
            "ids[]",
            "delta",
            "variant",
            "sort",
            "",
        ]);
        let value = prop_oneof![
            prop::sample::select(vec![
                "Candidate",
                "",
                " ",
                "0",
                "1",
                "10000",
                "10001",
                "added,updated",
                "added,gone",
                "deleted,",
                "2026-11-26",
                "2026-11-26T14:00:00Z",
                "2026-02-30",
                "yesterday",
                "%zz",
                "%E2%82%AC",
                "+",
            ])
            .prop_map(str::to_string),
            "[ -~]{0,16}",
            any::<i64>().prop_map(|number| number.to_string()),
        ];
        prop::collection::vec((name, value), 0..6).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("&")
        })
    }

    proptest! {
        #![proptest_config(Config { cases: 1024, failure_persistence: None, ..Config::default() })]

        #[test]
        fn proxy_headers_translate(lines in prop::collection::vec(header_line(), 0..8)) {
            proxy_headers(lines.join("\n").as_bytes());
        }

        #[test]
        fn proxy_header_bytes(data in prop::collection::vec(any::<u8>(), 0..200)) {
            proxy_headers(&data);
        }

        #[test]
        fn records_queries_parse(text in query()) {
            records_query(text.as_bytes());
        }

        #[test]
        fn records_query_bytes(data in prop::collection::vec(any::<u8>(), 0..200)) {
            records_query(&data);
        }
    }
}
