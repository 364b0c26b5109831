//! Validating an action's input against the JSON Schema its component declares.
//!
//! A component describes each action's input with a JSON Schema (derived from the Rust
//! input type by the SDK). The runtime compiles each schema once — when it asks a
//! component for its description, or, when that description was read from the cache, on
//! the action's first invocation — and checks each invocation's input before it
//! instantiates a sandbox: input of
//! the wrong shape is rejected without running guest code or calling the provider, with
//! an error per offending field.
//!
//! Only local references (`#/$defs/...`) are resolved; a schema that refers to anything
//! outside itself fails to load rather than reaching for the network or the file system.
//!
//! Messages never quote the input's values (they may hold secrets such as social security
//! numbers): they name the field, what was expected, and at most the JSON type received.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::{Location, LocationSegment};
use jsonschema::{ValidationError, Validator};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt::Write as _;

/// One problem with an action's input: which field, and what was expected of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Where in the input, e.g. `email`, `work_locations[0].country`; empty for the input
    /// as a whole.
    pub field: String,
    /// What is wrong, e.g. `is required`, `must be a string, got a number`.
    pub message: String,
}

impl FieldError {
    /// An error about `field` (empty for the whole input).
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "the input {}", self.message)
        } else {
            write!(f, "`{}` {}", self.field, self.message)
        }
    }
}

/// Joins field errors into one sentence-like message: ``"`email` is required; `dob` must
/// be a string, got a number"``.
pub(crate) fn summarize(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Most errors reported for one input; past this the rest are summarized as a count.
const MAX_ERRORS: usize = 20;

/// An action's input schema, compiled.
pub(crate) struct InputSchema {
    schema: Value,
    validator: Validator,
}

impl std::fmt::Debug for InputSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputSchema")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl InputSchema {
    /// Compiles `schema` (any draft `jsonschema` knows; schemars emits 2020-12). Fails on a
    /// schema that is not a JSON Schema or refers outside itself.
    pub(crate) fn compile(schema: Value) -> Result<Self, String> {
        if !(schema.is_object() || schema.is_boolean()) {
            return Err(format!(
                "the input schema must be a JSON object or boolean, not {}",
                type_name(&schema)
            ));
        }
        let validator = jsonschema::options()
            .build(&schema)
            .map_err(|error| format!("the input schema is not usable: {}", error.masked()))?;
        Ok(InputSchema { schema, validator })
    }

    /// Checks `input`; on failure, one [`FieldError`] per problem, in input order.
    pub(crate) fn validate(&self, input: &Value) -> Result<(), Vec<FieldError>> {
        let mut errors: Vec<FieldError> = Vec::new();
        let mut total = 0usize;
        for error in self.validator.iter_errors(input) {
            for field_error in self.explain(&error) {
                if errors.contains(&field_error) {
                    continue;
                }
                total += 1;
                if errors.len() < MAX_ERRORS {
                    errors.push(field_error);
                }
            }
        }
        if errors.is_empty() {
            return Ok(());
        }
        if total > errors.len() {
            errors.push(FieldError::new(
                "",
                format!("has {} more problems", total - errors.len()),
            ));
        }
        Err(errors)
    }

    /// Turns one validation error into field errors (several for several unknown fields).
    fn explain(&self, error: &ValidationError<'_>) -> Vec<FieldError> {
        let at = field_path(error.instance_path());
        let instance = error.instance();
        let message = match error.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property
                    .as_str()
                    .map_or_else(|| property.to_string(), str::to_string);
                return vec![FieldError::new(join(&at, &name), "is required")];
            }
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                let known = self.known_properties(error.schema_path());
                return unexpected
                    .iter()
                    .map(|name| {
                        let message = if known.is_empty() {
                            "is not an accepted field".to_string()
                        } else {
                            format!(
                                "is not an accepted field (expected one of: {})",
                                known.join(", ")
                            )
                        };
                        FieldError::new(join(&at, name), message)
                    })
                    .collect();
            }
            ValidationErrorKind::Type { kind } => {
                let expected = match kind {
                    TypeKind::Single(single) => article(single.as_str()),
                    TypeKind::Multiple(set) => set
                        .iter()
                        .filter(|kind| kind.as_str() != "null")
                        .map(|kind| article(kind.as_str()))
                        .collect::<Vec<_>>()
                        .join(" or "),
                };
                let expected = match kind {
                    TypeKind::Multiple(set) if set.iter().any(|kind| kind.as_str() == "null") => {
                        format!("{expected} or null")
                    }
                    _ => expected,
                };
                format!(
                    "must be {expected}, got {}",
                    article(type_name(instance.as_ref()))
                )
            }
            ValidationErrorKind::Enum { options } => match options.as_array() {
                Some(options) => format!(
                    "must be one of: {}",
                    options
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => format!("must be {options}"),
            },
            ValidationErrorKind::Constant { expected_value } => {
                format!("must be {expected_value}")
            }
            ValidationErrorKind::Minimum { limit } => format!("must be at least {limit}"),
            ValidationErrorKind::Maximum { limit } => format!("must be at most {limit}"),
            ValidationErrorKind::ExclusiveMinimum { limit } => {
                format!("must be greater than {limit}")
            }
            ValidationErrorKind::ExclusiveMaximum { limit } => format!("must be less than {limit}"),
            ValidationErrorKind::MinLength { limit } => {
                format!("must be at least {limit} character{} long", plural(*limit))
            }
            ValidationErrorKind::MaxLength { limit } => {
                format!("must be at most {limit} character{} long", plural(*limit))
            }
            ValidationErrorKind::MinItems { limit } => {
                format!("must have at least {limit} item{}", plural(*limit))
            }
            ValidationErrorKind::MaxItems { limit } => {
                format!("must have at most {limit} item{}", plural(*limit))
            }
            ValidationErrorKind::Pattern { pattern } => format!("must match `{pattern}`"),
            ValidationErrorKind::Format { format } => format!("must be a valid {format}"),
            ValidationErrorKind::FalseSchema => "is not accepted".to_string(),
            ValidationErrorKind::AnyOf { context }
            | ValidationErrorKind::OneOfNotValid { context } => {
                // `Option<Input>` derives `anyOf: [Input, null]`: when all alternatives but
                // one merely reject the value's type, explain the one that fits its type.
                let fitting: Vec<&Vec<ValidationError<'static>>> = context
                    .iter()
                    .filter(|branch| {
                        !branch.iter().all(|inner| {
                            matches!(inner.kind(), ValidationErrorKind::Type { .. })
                                && inner.instance_path() == error.instance_path()
                        })
                    })
                    .collect();
                if let [branch] = fitting.as_slice() {
                    let explained: Vec<FieldError> = branch
                        .iter()
                        .flat_map(|inner| self.explain(inner))
                        .collect();
                    if !explained.is_empty() {
                        return explained;
                    }
                }
                "does not match any of the accepted shapes".to_string()
            }
            _ => {
                // Whatever else: the library's wording, with the offending value masked.
                let text = error.masked_with("the value").to_string();
                text.strip_prefix("the value ").unwrap_or(&text).to_string()
            }
        };
        vec![FieldError::new(at, message)]
    }

    /// The property names the object schema holding the keyword at `keyword` declares,
    /// so a typo can be answered with the accepted spellings.
    fn known_properties(&self, keyword: &Location) -> Vec<String> {
        let mut segments: Vec<String> = keyword
            .iter()
            .map(|segment| match segment {
                LocationSegment::Property(name) => name.into_owned(),
                LocationSegment::Index(index) => index.to_string(),
            })
            .collect();
        segments.pop();
        let mut pointer = String::new();
        for segment in &segments {
            pointer.push('/');
            pointer.push_str(&segment.replace('~', "~0").replace('/', "~1"));
        }
        self.schema
            .pointer(&pointer)
            .and_then(|object| object.get("properties"))
            .and_then(Value::as_object)
            .map(|properties| properties.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// A JSON pointer into the input as a field path: `/work_locations/0/country` →
/// `work_locations[0].country`.
fn field_path(location: &Location) -> String {
    let mut out = String::new();
    for segment in location.iter() {
        match segment {
            LocationSegment::Property(name) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&name);
            }
            LocationSegment::Index(index) => {
                let _ = write!(out, "[{index}]");
            }
        }
    }
    out
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// The JSON type of `value`, as JSON Schema names it (`integer` for whole numbers).
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `string` → `a string`, `integer` → `an integer`, `null` → `null`.
fn article(kind: &str) -> String {
    match kind {
        "null" => "null".to_string(),
        "integer" | "object" | "array" => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

fn plural(count: u64) -> &'static str {
    if count == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What schemars derives for a struct with `deny_unknown_fields`, a nested type in
    /// `$defs`, an optional field and an unsigned integer.
    fn candidate_schema() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Input",
            "type": "object",
            "properties": {
                "email": { "type": "string" },
                "ssn": { "type": ["string", "null"] },
                "limit": { "type": ["integer", "null"], "format": "uint32", "minimum": 1 },
                "order": { "type": "string", "enum": ["asc", "desc"] },
                "work_locations": {
                    "type": "array",
                    "items": { "$ref": "#/$defs/WorkLocation" }
                }
            },
            "required": ["email"],
            "additionalProperties": false,
            "$defs": {
                "WorkLocation": {
                    "type": "object",
                    "properties": {
                        "country": { "type": "string" },
                        "state": { "type": ["string", "null"] }
                    },
                    "required": ["country"],
                    "additionalProperties": false
                }
            }
        })
    }

    fn errors(input: Value) -> Vec<FieldError> {
        let schema = InputSchema::compile(candidate_schema()).expect("compiles");
        schema.validate(&input).expect_err("invalid")
    }

    #[test]
    fn valid_input_passes() {
        let schema = InputSchema::compile(candidate_schema()).expect("compiles");
        assert_eq!(
            schema.validate(&json!({
                "email": "a@b.co",
                "ssn": null,
                "work_locations": [{ "country": "US", "state": "CA" }]
            })),
            Ok(())
        );
    }

    #[test]
    fn missing_required_field_is_named() {
        assert_eq!(
            errors(json!({})),
            vec![FieldError::new("email", "is required")]
        );
    }

    #[test]
    fn nested_fields_are_named_with_their_path() {
        let found = errors(json!({
            "email": "a@b.co",
            "work_locations": [{ "country": "US" }, { "state": "CA" }]
        }));
        assert_eq!(
            found,
            vec![FieldError::new("work_locations[1].country", "is required")]
        );
    }

    #[test]
    fn unknown_fields_are_rejected_with_the_accepted_ones() {
        let found = errors(json!({ "emial": "a@b.co", "email": "a@b.co" }));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, "emial");
        assert!(
            found[0].message.contains("not an accepted field"),
            "{found:?}"
        );
        assert!(found[0].message.contains("email"), "{found:?}");
        let nested = errors(json!({
            "email": "a@b.co",
            "work_locations": [{ "country": "US", "town": "x" }]
        }));
        assert_eq!(nested[0].field, "work_locations[0].town");
        assert!(nested[0].message.contains("country, state"), "{nested:?}");
    }

    #[test]
    fn wrong_types_say_what_was_expected_without_quoting_the_value() {
        let found = errors(json!({ "email": "a@b.co", "ssn": 123456789 }));
        assert_eq!(
            found,
            vec![FieldError::new(
                "ssn",
                "must be a string or null, got an integer"
            )]
        );
        assert!(!summarize(&found).contains("123456789"));
        let found = errors(json!(null));
        assert_eq!(
            found,
            vec![FieldError::new("", "must be an object, got null")]
        );
        assert_eq!(summarize(&found), "the input must be an object, got null");
    }

    #[test]
    fn limits_and_enums_are_explained() {
        let found = errors(json!({ "email": "a@b.co", "limit": 0, "order": "up" }));
        assert!(
            found.contains(&FieldError::new("limit", "must be at least 1")),
            "{found:?}"
        );
        assert!(
            found.contains(&FieldError::new(
                "order",
                r#"must be one of: "asc", "desc""#
            )),
            "{found:?}"
        );
    }

    #[test]
    fn several_problems_are_all_reported() {
        let found = errors(json!({ "limit": "ten", "extra": 1 }));
        let fields: Vec<&str> = found.iter().map(|error| error.field.as_str()).collect();
        for field in ["email", "limit", "extra"] {
            assert!(fields.contains(&field), "{field} missing from {found:?}");
        }
        let text = summarize(&found);
        assert!(text.contains("`email` is required"), "{text}");
    }

    #[test]
    fn optional_input_explains_the_object_alternative() {
        // What schemars derives for `Option<Input>`.
        let schema = InputSchema::compile(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Nullable_Input",
            "anyOf": [{ "$ref": "#/$defs/Input" }, { "type": "null" }],
            "$defs": {
                "Input": {
                    "type": "object",
                    "properties": { "include_packages": { "type": "boolean", "default": false } },
                    "additionalProperties": false
                }
            }
        }))
        .expect("compiles");
        assert_eq!(schema.validate(&json!(null)), Ok(()));
        assert_eq!(
            schema.validate(&json!({ "include_packages": true })),
            Ok(())
        );
        let found = schema
            .validate(&json!({ "include_package": true }))
            .expect_err("typo");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, "include_package");
        assert!(found[0].message.contains("include_packages"), "{found:?}");
        let found = schema
            .validate(&json!({ "include_packages": "yes" }))
            .expect_err("wrong type");
        assert_eq!(
            found,
            vec![FieldError::new(
                "include_packages",
                "must be a boolean, got a string"
            )]
        );
        let found = schema.validate(&json!(7)).expect_err("neither");
        assert_eq!(found[0].field, "");
        assert_eq!(
            found[0].message,
            "does not match any of the accepted shapes"
        );
    }

    #[test]
    fn permissive_schemas_accept_anything() {
        for schema in [json!(true), json!({}), json!({ "description": "no input" })] {
            let schema = InputSchema::compile(schema).expect("compiles");
            for input in [json!(null), json!({}), json!([1, 2]), json!("x")] {
                assert_eq!(schema.validate(&input), Ok(()));
            }
        }
    }

    #[test]
    fn unusable_schemas_fail_to_compile() {
        assert!(InputSchema::compile(Value::Null).is_err());
        assert!(InputSchema::compile(json!({ "type": 12 })).is_err());
        let remote = json!({ "$ref": "https://example.com/schema.json" });
        let error = InputSchema::compile(remote).expect_err("no network resolving");
        assert!(!error.is_empty());
    }

    #[test]
    fn the_number_of_reported_problems_is_bounded() {
        let mut properties = serde_json::Map::new();
        let mut input = serde_json::Map::new();
        for index in 0..50 {
            properties.insert(format!("f{index}"), json!({ "type": "string" }));
            input.insert(format!("f{index}"), json!(index));
        }
        let schema = InputSchema::compile(json!({ "type": "object", "properties": properties }))
            .expect("compiles");
        let found = schema.validate(&Value::Object(input)).expect_err("invalid");
        assert_eq!(found.len(), MAX_ERRORS + 1);
        assert_eq!(found[MAX_ERRORS].message, "has 30 more problems");
    }
}
