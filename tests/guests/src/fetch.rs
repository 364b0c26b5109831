use serde::{Deserialize, Serialize};
use terapi_sdk::{ActionError, Request};

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
}

#[derive(Serialize, terapi_sdk::schemars::JsonSchema)]
#[schemars(crate = "terapi_sdk::schemars")]
pub struct Output {
    status: u16,
    body: String,
}

pub fn run(input: Input) -> Result<Output, ActionError> {
    let mut request = Request::new(input.endpoint).retries(input.retries);
    if let Some(base_url) = input.base_url_override {
        request = request.base_url_override(base_url);
    }
    for (name, value) in input.headers {
        request = request.header(name, value);
    }
    let response = terapi_sdk::get(request)?;
    Ok(Output {
        status: response.status,
        body: response.text(),
    })
}
