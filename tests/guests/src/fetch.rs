use serde::{Deserialize, Serialize};
use terapi_sdk::{ActionError, Method, Request};

#[derive(Deserialize, terapi_sdk::schemars::JsonSchema)]
#[schemars(crate = "terapi_sdk::schemars")]
pub struct Input {
    endpoint: String,
    #[serde(default)]
    base_url_override: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    retries: u32,
    /// `GET` (the default), `POST`, `PUT`, `PATCH` or `DELETE`.
    #[serde(default)]
    method: Option<String>,
    /// Send a body of this many bytes (`b` repeated); none when absent.
    #[serde(default)]
    body_bytes: Option<usize>,
}

#[derive(Serialize, terapi_sdk::schemars::JsonSchema)]
#[schemars(crate = "terapi_sdk::schemars")]
pub struct Output {
    status: u16,
    body: String,
}

pub fn run(input: Input) -> Result<Output, ActionError> {
    let method = match input.method.as_deref().unwrap_or("GET") {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        other => return Err(ActionError::new(format!("unknown method `{other}`"))),
    };
    let mut request = Request::new(input.endpoint)
        .retries(input.retries)
        .method(method);
    if let Some(base_url) = input.base_url_override {
        request = request.base_url_override(base_url);
    }
    for (name, value) in input.headers {
        request = request.header(name, value);
    }
    if let Some(bytes) = input.body_bytes {
        request = request.body(vec![b'b'; bytes]);
    }
    let response = terapi_sdk::send(request)?;
    Ok(Output {
        status: response.status,
        body: response.text(),
    })
}
