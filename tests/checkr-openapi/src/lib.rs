//! Checkr's published OpenAPI description (`../shared/checkr-openapi.yaml`, outside the
//! repository), read at test time and used three ways:
//!
//! * [`Spec::check_request`] and [`Spec::check_response`] validate what the simulator
//!   receives and sends against the operation it belongs to (method, path, path and
//!   query parameters with their formats, `Authorization`, `Content-Type`, request body,
//!   response status and body), with the `jsonschema` crate fed the spec's own schemas;
//! * [`Spec::validate`] validates any value against the schema at a JSON pointer;
//! * [`Spec::generate`] makes random, schema-valid instances (the actions' property
//!   tests parse them).
//!
//! OpenAPI 3.0 schemas are not quite JSON Schema: on loading, `nullable: true` becomes a
//! `null` type (and enum member), and the few places where the schema contradicts the
//! spec's own prose are corrected as listed in [`ERRATA`]. Everything else is validated as
//! written (JSON Schema draft 4, which OpenAPI 3.0 is based on, with formats asserted).

mod generate;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value, json};

pub use generate::Rng;

/// The environment variable that overrides where the spec is read from.
pub const SPEC_ENV: &str = "CHECKR_OPENAPI_SPEC";

/// Where the spec problems the loader corrects are, and why: the schema says one thing,
/// the spec's prose and real Checkr another.
pub const ERRATA: &[(&str, &str)] = &[(
    "#/components/schemas/WorkLocation",
    "the schema requires `state` for every work location, but the request bodies' prose says \
     \"State is required for US candidates. Country is required for non-US candidates.\" and \
     Checkr accepts non-US locations without a state: `state` is required only when \
     `country` is absent or `US`",
)];

/// The spec's default location: `../shared/checkr-openapi.yaml` beside the repository
/// (or `$CHECKR_OPENAPI_SPEC`).
pub fn default_path() -> PathBuf {
    match std::env::var_os(SPEC_ENV) {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/checkr-openapi.yaml"),
    }
}

/// The spec at [`default_path`], loaded once per process. The error says clearly that
/// the file is missing (and where it was looked for) or what is wrong with it.
pub fn shared() -> Result<&'static Spec, String> {
    static SPEC: OnceLock<Result<Spec, String>> = OnceLock::new();
    SPEC.get_or_init(|| Spec::load(&default_path()))
        .as_ref()
        .map_err(Clone::clone)
}

/// Path parameters by name, as they appear in the path (still percent-encoded).
pub type PathParams = Vec<(String, String)>;

/// Validates `instance` against a standalone JSON Schema (its draft from its `$schema`,
/// formats asserted), such as an action's input schema; each problem as (JSON pointer into
/// the instance, message).
pub fn validate_against(schema: &Value, instance: &Value) -> Vec<(String, String)> {
    match jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
    {
        Ok(validator) => validator
            .iter_errors(instance)
            .map(|error| {
                (
                    error.instance_path().as_str().to_string(),
                    error.to_string(),
                )
            })
            .collect(),
        Err(error) => vec![(
            String::new(),
            format!("the schema does not compile: {error}"),
        )],
    }
}

/// One operation of the spec.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `GET`, `POST`, ... (upper case).
    pub method: String,
    /// The path template, with the server's base path (`/v1/candidates/{id}`).
    pub path: String,
    /// The spec's `operationId`, when it has one.
    pub operation_id: Option<String>,
    /// JSON pointer of the operation object in the spec.
    pub pointer: String,
}

impl Operation {
    /// `operationId (METHOD /path)`, or `METHOD /path` without an id.
    pub fn label(&self) -> String {
        match &self.operation_id {
            Some(id) => format!("{id} ({} {})", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

/// A way a request or response departs from the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The operation (see [`Operation::label`]), or `METHOD /path` when none matched.
    pub operation: String,
    /// Where: `request`, `response 201`, ...
    pub side: String,
    /// JSON pointer of the offending part: `/query/created_after`, `/body/work_locations/0`,
    /// `/headers/authorization`, `/status`, ... (`/body` alone for the body as a whole).
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} at {}: {}",
            self.operation, self.side, self.pointer, self.message
        )
    }
}

/// A request as received: what [`Spec::check_request`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The method, any case.
    pub method: &'a str,
    /// The path without the query (`/v1/candidates`).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// Every header, names in lower case (checked against the operation's header
    /// parameters).
    pub headers: &'a [(String, String)],
    /// The body bytes.
    pub body: &'a [u8],
}

/// Checkr's published API description, converted to JSON Schema.
pub struct Spec {
    document: Arc<Value>,
    base_path: String,
    operations: Vec<Operation>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl fmt::Debug for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spec")
            .field("base_path", &self.base_path)
            .field("operations", &self.operations.len())
            .finish()
    }
}

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

impl Spec {
    /// Reads and converts the spec at `path`.
    pub fn load(path: &Path) -> Result<Spec, String> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            format!(
                "Checkr's OpenAPI description is missing: could not read {} ({error}). The \
                 contract tests need it: put checkr-openapi.yaml in ../shared beside the \
                 repository, or point ${SPEC_ENV} at it.",
                path.display()
            )
        })?;
        Spec::parse(&text).map_err(|error| format!("{}: {error}", path.display()))
    }

    /// Converts the spec's YAML (or JSON) text.
    pub fn parse(text: &str) -> Result<Spec, String> {
        let mut document: Value = serde_norway::from_str(text)
            .map_err(|error| format!("not a YAML OpenAPI description: {error}"))?;
        convert_nullable(&mut document);
        apply_errata(&mut document)?;
        let base_path = document
            .pointer("/servers/0/url")
            .and_then(Value::as_str)
            .map(server_path)
            .unwrap_or_default();
        let mut operations = Vec::new();
        let paths = document
            .get("paths")
            .and_then(Value::as_object)
            .ok_or("the description has no `paths`")?;
        for (template, item) in paths {
            for method in METHODS {
                let Some(operation) = item.get(method) else {
                    continue;
                };
                operations.push(Operation {
                    method: method.to_ascii_uppercase(),
                    path: format!("{base_path}{template}"),
                    operation_id: operation
                        .get("operationId")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    pointer: format!("/paths/{}/{method}", escape(template)),
                });
            }
        }
        Ok(Spec {
            document: Arc::new(document),
            base_path,
            operations,
            validators: Mutex::new(HashMap::new()),
        })
    }

    /// The converted document.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Every operation.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The operation with this `operationId`.
    pub fn operation(&self, operation_id: &str) -> Option<&Operation> {
        self.operations
            .iter()
            .find(|operation| operation.operation_id.as_deref() == Some(operation_id))
    }

    /// The operation serving `method path` and the path parameters' values (still
    /// percent-encoded). Literal segments win over parameters.
    pub fn find(&self, method: &str, path: &str) -> Option<(&Operation, PathParams)> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let mut best: Option<(usize, &Operation, PathParams)> = None;
        for operation in &self.operations {
            if !operation.method.eq_ignore_ascii_case(method) {
                continue;
            }
            let template: Vec<&str> = operation.path.split('/').collect();
            if template.len() != segments.len() {
                continue;
            }
            let mut literal = 0;
            let mut params = Vec::new();
            let matched = template.iter().zip(&segments).all(|(want, got)| {
                match want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    Some(name) if !got.is_empty() => {
                        params.push((name.to_string(), (*got).to_string()));
                        true
                    }
                    Some(_) => false,
                    None => {
                        literal += 1;
                        want == got
                    }
                }
            });
            if matched && best.as_ref().is_none_or(|(score, ..)| literal > *score) {
                best = Some((literal, operation, params));
            }
        }
        best.map(|(_, operation, params)| (operation, params))
    }

    /// The value at `pointer` with `$ref`s followed.
    pub fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        let mut value = value;
        for _ in 0..32 {
            match value.get("$ref").and_then(Value::as_str) {
                Some(reference) => match reference
                    .strip_prefix('#')
                    .and_then(|pointer| self.document.pointer(pointer))
                {
                    Some(target) => value = target,
                    None => return value,
                },
                None => return value,
            }
        }
        value
    }

    /// Resolves `pointer` in the document, following `$ref`s at the end.
    pub fn at(&self, pointer: &str) -> Option<&Value> {
        self.document
            .pointer(pointer)
            .map(|value| self.resolve(value))
    }

    /// The JSON pointer of the JSON schema of `operation`'s response for `status`
    /// (exact status, then `NXX`, then `default`), if the spec documents one.
    pub fn response_schema(&self, operation: &Operation, status: u16) -> Option<String> {
        let responses = format!("{}/responses", operation.pointer);
        let key = [
            status.to_string(),
            format!("{}XX", status / 100),
            "default".to_string(),
        ]
        .into_iter()
        .find(|key| {
            self.document
                .pointer(&format!("{responses}/{key}"))
                .is_some()
        })?;
        let response = self.document.pointer(&format!("{responses}/{key}"))?;
        let response_pointer = match response.get("$ref").and_then(Value::as_str) {
            Some(reference) => reference.strip_prefix('#')?.to_string(),
            None => format!("{responses}/{key}"),
        };
        let schema = format!("{response_pointer}/content/application~1json/schema");
        self.document.pointer(&schema).map(|_| schema)
    }

    /// Whether `operation` documents `status` at all (exactly, as `NXX` or `default`).
    pub fn documents_status(&self, operation: &Operation, status: u16) -> bool {
        let responses = format!("{}/responses", operation.pointer);
        [
            status.to_string(),
            format!("{}XX", status / 100),
            "default".to_string(),
        ]
        .iter()
        .any(|key| {
            self.document
                .pointer(&format!("{responses}/{key}"))
                .is_some()
        })
    }

    /// Validates `instance` against the schema at `pointer`; each problem as (JSON pointer
    /// into the instance, message). An unusable schema is reported as one problem at "".
    pub fn validate(&self, pointer: &str, instance: &Value) -> Vec<(String, String)> {
        let validator = match self.validator(pointer) {
            Ok(validator) => validator,
            Err(error) => return vec![(String::new(), error)],
        };
        validator
            .iter_errors(instance)
            .map(|error| {
                (
                    error.instance_path().as_str().to_string(),
                    error.to_string(),
                )
            })
            .collect()
    }

    fn validator(&self, pointer: &str) -> Result<Arc<jsonschema::Validator>, String> {
        let mut validators = self
            .validators
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(validator) = validators.get(pointer) {
            return Ok(Arc::clone(validator));
        }
        if self.document.pointer(pointer).is_none() {
            return Err(format!("the description has nothing at {pointer}"));
        }
        // The whole description is the root schema, so `#/components/...` references
        // resolve in place; the root's `$ref` (draft 4: siblings ignored) picks the schema.
        let mut root = match self.document.as_ref() {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        root.insert(
            "$ref".into(),
            Value::String(format!("#{}", fragment_encode(pointer))),
        );
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(true)
            .build(&Value::Object(root))
            .map_err(|error| format!("the schema at {pointer} does not compile: {error}"))?;
        let validator = Arc::new(validator);
        validators.insert(pointer.to_string(), Arc::clone(&validator));
        Ok(validator)
    }

    /// Checks a request against the operation it is for: the operation it matched (none
    /// when no operation serves it) and every violation.
    pub fn check_request(&self, request: RequestParts<'_>) -> (Option<&Operation>, Vec<Violation>) {
        let method = request.method.to_ascii_uppercase();
        let Some((operation, path_params)) = self.find(&method, request.path) else {
            let documented = self
                .operations
                .iter()
                .any(|operation| self.find(&operation.method, request.path).is_some());
            let message = if documented {
                "the spec documents this path, but not this method"
            } else {
                "no operation in the spec serves this path"
            };
            return (
                None,
                vec![Violation {
                    operation: format!("{method} {}", request.path),
                    side: "request".into(),
                    pointer: "/path".into(),
                    message: message.into(),
                }],
            );
        };
        let mut violations = Vec::new();
        let mut add = |pointer: String, message: String| {
            violations.push(Violation {
                operation: operation.label(),
                side: "request".into(),
                pointer,
                message,
            })
        };
        let parameters = self.parameters(operation);

        // Path parameters.
        for (name, raw) in &path_params {
            let value = percent_decode(raw);
            match parameters.iter().find(|(pointer, p)| {
                p["in"] == "path" && p["name"] == name.as_str() && !pointer.is_empty()
            }) {
                Some((pointer, _)) => {
                    for (at, message) in self.validate_parameter(pointer, &value) {
                        add(format!("/path/{name}{at}"), message);
                    }
                }
                None => add(
                    format!("/path/{name}"),
                    "the spec does not declare this path parameter".into(),
                ),
            }
        }

        // Query parameters: every one given must be declared and valid; required ones
        // must be given.
        let pairs: Vec<(String, String)> = form_urlencoded::parse(request.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (name, value) in &pairs {
            match parameters
                .iter()
                .find(|(_, p)| p["in"] == "query" && p["name"] == name.as_str())
            {
                Some((pointer, _)) => {
                    for (at, message) in self.validate_parameter(pointer, value) {
                        add(format!("/query/{}{at}", escape(name)), message);
                    }
                }
                None => add(
                    format!("/query/{}", escape(name)),
                    "the spec declares no such query parameter for this operation".into(),
                ),
            }
        }
        for (_, parameter) in &parameters {
            let required = parameter["required"] == true;
            if parameter["in"] == "query"
                && required
                && !pairs
                    .iter()
                    .any(|(name, _)| parameter["name"] == name.as_str())
            {
                add(
                    format!("/query/{}", parameter["name"].as_str().unwrap_or("")),
                    "a required query parameter is missing".into(),
                );
            }
        }

        // Header parameters: required ones present, every one given valid.
        for (pointer, parameter) in &parameters {
            let Some(name) = parameter["name"]
                .as_str()
                .filter(|_| parameter["in"] == "header")
            else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            match request.headers.iter().find(|(given, _)| *given == name) {
                Some((_, value)) => {
                    for (at, message) in self.validate_parameter(pointer, value) {
                        add(format!("/headers/{}{at}", escape(&name)), message);
                    }
                }
                None if parameter["required"] == true => add(
                    format!("/headers/{}", escape(&name)),
                    "a required header is missing".into(),
                ),
                None => {}
            }
        }

        // Authentication: every operation with `security` takes HTTP Basic.
        let operation_value = self.document.pointer(&operation.pointer);
        let secured = operation_value
            .and_then(|op| op.get("security"))
            .or_else(|| self.document.get("security"))
            .and_then(Value::as_array)
            .is_some_and(|schemes| !schemes.is_empty());
        if secured && !is_basic(request.authorization) {
            add(
                "/headers/authorization".into(),
                "the operation requires HTTP Basic authentication (`Basic base64(token:)`)".into(),
            );
        }

        // The body.
        let body_pointer = operation_value
            .and_then(|op| op.get("requestBody"))
            .map(|body| match body.get("$ref").and_then(Value::as_str) {
                Some(reference) => reference.trim_start_matches('#').to_string(),
                None => format!("{}/requestBody", operation.pointer),
            });
        match body_pointer {
            None if !request.body.is_empty() => {
                add("/body".into(), "the operation takes no request body".into())
            }
            None => {}
            Some(body_pointer) => {
                let body = self.document.pointer(&body_pointer);
                let required = body.is_some_and(|body| body["required"] == true);
                let content = body.and_then(|body| body.get("content"));
                if request.body.is_empty() {
                    if required {
                        add("/body".into(), "the request body is required".into());
                    }
                } else if content.is_some_and(|c| c.get("application/json").is_some()) {
                    let media = request
                        .content_type
                        .and_then(|c| c.split(';').next())
                        .map(|c| c.trim().to_ascii_lowercase());
                    if media.as_deref() != Some("application/json") {
                        add(
                            "/headers/content-type".into(),
                            format!(
                                "the body must be sent as application/json, not {}",
                                request.content_type.unwrap_or("(none)")
                            ),
                        );
                    }
                    match serde_json::from_slice::<Value>(request.body) {
                        Ok(instance) => {
                            let schema = format!("{body_pointer}/content/application~1json/schema");
                            for (at, message) in self.validate(&schema, &instance) {
                                add(format!("/body{at}"), message);
                            }
                            for at in read_only_sent(self, &schema, &instance) {
                                add(
                                    format!("/body{at}"),
                                    "the property is read-only: it is not sent to Checkr".into(),
                                );
                            }
                        }
                        Err(error) => add("/body".into(), format!("the body is not JSON: {error}")),
                    }
                }
            }
        }
        (Some(operation), violations)
    }

    /// Checks a response of `operation`. An undocumented status is a violation; callers
    /// that allow some (see the simulator's contract layer) check the body themselves.
    pub fn check_response(
        &self,
        operation: &Operation,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Vec<Violation> {
        let side = format!("response {status}");
        let violation = |pointer: String, message: String| Violation {
            operation: operation.label(),
            side: side.clone(),
            pointer,
            message,
        };
        if !self.documents_status(operation, status) {
            return vec![violation(
                "/status".into(),
                "the spec does not document this status for the operation".into(),
            )];
        }
        let Some(schema) = self.response_schema(operation, status) else {
            return Vec::new();
        };
        let mut violations = Vec::new();
        let media = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase());
        if media.as_deref() != Some("application/json") {
            violations.push(violation(
                "/headers/content-type".into(),
                format!(
                    "the body must be application/json, not {}",
                    content_type.unwrap_or("(none)")
                ),
            ));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(instance) => {
                for (at, message) in self.validate(&schema, &instance) {
                    violations.push(violation(format!("/body{at}"), message));
                }
            }
            Err(error) => violations.push(violation(
                "/body".into(),
                format!("the body is not JSON: {error}"),
            )),
        }
        violations
    }

    /// The operation's parameters (path-level ones, then its own, its own winning), as
    /// (JSON pointer, resolved parameter object).
    fn parameters(&self, operation: &Operation) -> Vec<(String, &Value)> {
        let mut out: Vec<(String, &Value)> = Vec::new();
        let path_item = operation
            .pointer
            .rsplit_once('/')
            .map(|(item, _)| item.to_string())
            .unwrap_or_default();
        for list in [
            format!("{path_item}/parameters"),
            format!("{}/parameters", operation.pointer),
        ] {
            let Some(Value::Array(items)) = self.document.pointer(&list) else {
                continue;
            };
            for (index, item) in items.iter().enumerate() {
                let pointer = match item.get("$ref").and_then(Value::as_str) {
                    Some(reference) => reference.trim_start_matches('#').to_string(),
                    None => format!("{list}/{index}"),
                };
                let parameter = self.resolve(item);
                out.retain(|(_, p)| {
                    !(p["name"] == parameter["name"] && p["in"] == parameter["in"])
                });
                out.push((pointer, parameter));
            }
        }
        out
    }

    /// Validates a parameter's text against its schema, converting it to the schema's
    /// type first (`5` for an integer, `true` for a boolean).
    fn validate_parameter(&self, parameter_pointer: &str, text: &str) -> Vec<(String, String)> {
        let schema_pointer = format!("{parameter_pointer}/schema");
        let Some(schema) = self.at(&schema_pointer) else {
            return Vec::new();
        };
        let types: Vec<&str> = match &schema["type"] {
            Value::String(kind) => vec![kind.as_str()],
            Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let instance = if types.contains(&"string") || types.is_empty() {
            Value::String(text.to_string())
        } else if types.contains(&"integer") || types.contains(&"number") {
            match text.parse::<i64>() {
                Ok(number) => json!(number),
                Err(_) => match text.parse::<f64>() {
                    Ok(number) if types.contains(&"number") => json!(number),
                    _ => Value::String(text.to_string()),
                },
            }
        } else if types.contains(&"boolean") {
            match text {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                other => Value::String(other.to_string()),
            }
        } else {
            Value::String(text.to_string())
        };
        self.validate(&schema_pointer, &instance)
    }
}

/// The path of a server URL (`https://api.checkr.com/v1` → `/v1`).
fn server_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(index) => after_scheme[index..].trim_end_matches('/').to_string(),
        None => String::new(),
    }
}

/// A JSON pointer as a URI fragment: characters a fragment may not hold (`{`, `}`, `%`,
/// spaces, non-ASCII, ...) percent-encoded.
fn fragment_encode(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for byte in pointer.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Escapes a JSON pointer segment.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = if bytes[index] == b'%' {
            text.get(index + 1..index + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        } else {
            None
        };
        if let Some(byte) = escaped {
            out.push(byte);
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_basic(authorization: Option<&str>) -> bool {
    use base64::Engine as _;
    let Some(value) = authorization else {
        return false;
    };
    let Some((scheme, credentials)) = value.trim().split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("basic")
        && base64::engine::general_purpose::STANDARD
            .decode(credentials.trim())
            .ok()
            .and_then(|decoded| String::from_utf8(decoded).ok())
            .is_some_and(|decoded| decoded.contains(':'))
}

/// Pointers of top-level properties of `instance` that the schema marks `readOnly`.
fn read_only_sent(spec: &Spec, schema_pointer: &str, instance: &Value) -> Vec<String> {
    let (Some(schema), Value::Object(given)) = (spec.at(schema_pointer), instance) else {
        return Vec::new();
    };
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return Vec::new();
    };
    given
        .keys()
        .filter(|key| {
            properties
                .get(key.as_str())
                .map(|property| spec.resolve(property))
                .is_some_and(|property| property["readOnly"] == true)
        })
        .map(|key| format!("/{}", escape(key)))
        .collect()
}

/// OpenAPI 3.0's `nullable: true` as JSON Schema: `null` joins the `type` (and the `enum`,
/// when there is one); without a `type`, the schema becomes `anyOf: [null, itself]`.
fn convert_nullable(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for child in map.values_mut() {
                convert_nullable(child);
            }
            if map.get("nullable") != Some(&Value::Bool(true)) {
                return;
            }
            map.remove("nullable");
            if let Some(Value::Array(members)) = map.get_mut("enum")
                && !members.contains(&Value::Null)
            {
                members.push(Value::Null);
            }
            match map.get("type").cloned() {
                Some(Value::String(kind)) => {
                    map.insert("type".into(), json!([kind, "null"]));
                }
                Some(Value::Array(mut kinds)) => {
                    if !kinds.contains(&json!("null")) {
                        kinds.push(json!("null"));
                    }
                    map.insert("type".into(), Value::Array(kinds));
                }
                _ => {
                    let inner = std::mem::take(map);
                    map.insert(
                        "anyOf".into(),
                        json!([{ "type": "null" }, Value::Object(inner)]),
                    );
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(convert_nullable),
        _ => {}
    }
}

/// Applies [`ERRATA`].
fn apply_errata(document: &mut Value) -> Result<(), String> {
    let location = document
        .pointer_mut("/components/schemas/WorkLocation")
        .and_then(Value::as_object_mut)
        .ok_or("the description has no components/schemas/WorkLocation")?;
    location.remove("required");
    location.insert(
        "anyOf".into(),
        json!([
            { "required": ["state"] },
            {
                "required": ["country"],
                "properties": { "country": { "not": { "enum": ["US"] } } }
            }
        ]),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINI: &str = r#"
openapi: 3.0.0
servers:
  - url: 'https://api.example.com/v1'
paths:
  /things:
    get:
      operationId: listThings
      security:
        - basic_auth: []
      parameters:
        - name: since
          in: query
          schema: { type: string, format: date-time }
        - name: per_page
          in: query
          schema: { type: number, nullable: true }
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties:
                  count: { type: integer }
                  note: { type: string, nullable: true }
  /things/{id}:
    parameters:
      - name: id
        in: path
        required: true
        schema: { type: string, pattern: '^[a-f0-9]+$' }
    get:
      operationId: getThing
      parameters:
        - name: X-Trace
          in: header
          required: true
          schema: { type: string, pattern: '^[0-9]+$' }
      responses:
        '200':
          description: ok
components:
  schemas:
    WorkLocation:
      type: object
      required: [state]
      properties:
        country: { type: string }
"#;

    fn request<'a>(method: &'a str, path: &'a str, query: &'a str) -> RequestParts<'a> {
        RequestParts {
            method,
            path,
            query,
            authorization: Some("Basic dG9rOg=="),
            content_type: None,
            headers: &[],
            body: b"",
        }
    }

    #[test]
    fn requests_are_matched_and_checked() {
        let spec = Spec::parse(MINI).expect("parses");
        let (operation, violations) =
            spec.check_request(request("GET", "/v1/things", "per_page=5"));
        assert_eq!(
            operation.map(|op| op.label()),
            Some("listThings (GET /v1/things)".into())
        );
        assert!(violations.is_empty(), "{violations:?}");

        let (_, violations) =
            spec.check_request(request("GET", "/v1/things", "since=2024-01-31&bogus=1"));
        let pointers: Vec<&str> = violations.iter().map(|v| v.pointer.as_str()).collect();
        assert_eq!(pointers, ["/query/since", "/query/bogus"], "{violations:?}");

        let traced = [("x-trace".to_string(), "42".to_string())];
        let mut bad_id = request("GET", "/v1/things/XYZ", "");
        bad_id.headers = &traced;
        let (_, violations) = spec.check_request(bad_id);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].pointer, "/path/id");
        assert!(
            violations[0].message.contains("does not match"),
            "{violations:?}"
        );
        assert!(
            violations[0]
                .to_string()
                .starts_with("getThing (GET /v1/things/{id})")
        );
        let mut good = request("GET", "/v1/things/abc123", "");
        good.headers = &traced;
        let (_, violations) = spec.check_request(good);
        assert!(violations.is_empty(), "{violations:?}");
        let (_, violations) = spec.check_request(request("GET", "/v1/things/abc123", ""));
        assert_eq!(violations[0].pointer, "/headers/x-trace", "{violations:?}");
        let bad_trace = [("x-trace".to_string(), "abc".to_string())];
        let mut bad = request("GET", "/v1/things/abc123", "");
        bad.headers = &bad_trace;
        let (_, violations) = spec.check_request(bad);
        assert_eq!(violations[0].pointer, "/headers/x-trace", "{violations:?}");

        let (operation, violations) = spec.check_request(request("POST", "/v1/things", ""));
        assert!(operation.is_none());
        assert!(violations[0].message.contains("not this method"));

        let mut unauthenticated = request("GET", "/v1/things", "");
        unauthenticated.authorization = None;
        let (_, violations) = spec.check_request(unauthenticated);
        assert_eq!(violations[0].pointer, "/headers/authorization");
    }

    #[test]
    fn responses_are_checked_with_nullable_converted() {
        let spec = Spec::parse(MINI).expect("parses");
        let operation = spec.operation("listThings").expect("operation").clone();
        let json = Some("application/json");
        assert!(
            spec.check_response(&operation, 200, json, br#"{"count":-3,"note":null}"#)
                .is_empty()
        );
        let violations = spec.check_response(&operation, 200, json, br#"{"count":"3"}"#);
        assert_eq!(violations[0].pointer, "/body/count");
        let violations = spec.check_response(&operation, 404, json, br#"{}"#);
        assert_eq!(violations[0].pointer, "/status");
    }

    #[test]
    fn the_work_location_erratum_requires_state_only_in_the_us() {
        let spec = Spec::parse(MINI).expect("parses");
        let pointer = "/components/schemas/WorkLocation";
        assert!(spec.validate(pointer, &json!({"country": "GB"})).is_empty());
        assert!(
            spec.validate(pointer, &json!({"country": "US", "state": "CA"}))
                .is_empty()
        );
        assert!(!spec.validate(pointer, &json!({"country": "US"})).is_empty());
        assert!(!spec.validate(pointer, &json!({})).is_empty());
    }

    #[test]
    fn a_missing_spec_is_named() {
        let error = Spec::load(Path::new("/nonexistent/checkr-openapi.yaml")).expect_err("missing");
        assert!(error.contains("OpenAPI description is missing"), "{error}");
        assert!(
            error.contains("/nonexistent/checkr-openapi.yaml"),
            "{error}"
        );
    }
}
