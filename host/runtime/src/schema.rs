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
//! A component's schema is untrusted input: before it is compiled it is held to the
//! bounds in [`bounds`] (size, depth, references, patterns, and the most work one input
//! value can cause), and `pattern`s are matched by a linear-time engine, so no schema can
//! make validation cost more than a fixed worst case.
//!
//! Messages never quote the input's values (they may hold secrets such as social security
//! numbers): they name the field, what was expected, and at most the JSON type received.

mod bounds;

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
    cost: bounds::Cost,
}

impl std::fmt::Debug for InputSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputSchema")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl InputSchema {
    /// Compiles `schema` (draft-06 to 2020-12; schemars emits 2020-12). Fails on a schema
    /// that is not a JSON Schema, refers outside itself, or exceeds the [`bounds`].
    pub(crate) fn compile(schema: Value) -> Result<Self, String> {
        if !(schema.is_object() || schema.is_boolean()) {
            return Err(format!(
                "the schema must be a JSON object or boolean, not {}",
                type_name(&schema)
            ));
        }
        let cost =
            bounds::check(&schema).map_err(|error| format!("the schema is refused: {error}"))?;
        let patterns = jsonschema::PatternOptions::regex()
            .size_limit(bounds::REGEX_SIZE_LIMIT)
            .dfa_size_limit(bounds::REGEX_DFA_SIZE_LIMIT);
        let validator = jsonschema::options()
            .with_pattern_options(patterns)
            .build(&schema)
            .map_err(|error| format!("the schema is not usable: {}", error.masked()))?;
        Ok(InputSchema {
            schema,
            validator,
            cost,
        })
    }

    /// The most subschema evaluations checking `input` can cost (its values times the
    /// schema's checks per value).
    pub(crate) fn estimated_checks(&self, input: &Value) -> u64 {
        bounds::measure(input)
            .0
            .saturating_mul(self.cost.checks_per_value)
    }

    /// Checks `input`; on failure, one [`FieldError`] per problem, in input order. An input
    /// deeper than [`bounds::MAX_INPUT_DEPTH`], or whose check could cost more than
    /// [`bounds::MAX_VALIDATION_CHECKS`] subschema evaluations, is refused unchecked.
    pub(crate) fn validate(&self, input: &Value) -> Result<(), Vec<FieldError>> {
        let (values, depth) = bounds::measure(input);
        if depth > bounds::MAX_INPUT_DEPTH {
            return Err(vec![FieldError::new(
                "",
                format!("nests more than {} levels deep", bounds::MAX_INPUT_DEPTH),
            )]);
        }
        let checks = values.saturating_mul(self.cost.checks_per_value);
        if checks > bounds::MAX_VALIDATION_CHECKS {
            return Err(vec![FieldError::new(
                "",
                format!(
                    "is too large to check against its schema: {values} values at up to {} \
                     checks each exceed the limit of {} checks",
                    self.cost.checks_per_value,
                    bounds::MAX_VALIDATION_CHECKS
                ),
            )]);
        }
        if self.validator.is_valid(input) {
            return Ok(());
        }
        if checks > bounds::MAX_LISTED_CHECKS {
            // Listing every problem costs some thirty times what checking does (each is an
            // error value with its paths): past this size only the first is listed.
            let mut errors = self
                .validator
                .validate(input)
                .err()
                .map(|error| self.explain(&error))
                .unwrap_or_default();
            if errors.is_empty() {
                errors.push(FieldError::new("", "does not match its schema"));
            }
            errors.push(FieldError::new(
                "",
                "may have more problems: only the first is listed for an input this large",
            ));
            return Err(errors);
        }
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
            // The validator said no without saying why (it never should).
            return Err(vec![FieldError::new("", "does not match its schema")]);
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

    fn refused(schema: Value) -> String {
        InputSchema::compile(schema).expect_err("a hostile schema is refused at load")
    }

    /// `d0` applies `d1` twice, `d1` applies `d2` twice, ...: 2^levels checks per value.
    fn doubling_refs(levels: usize) -> Value {
        let mut defs = serde_json::Map::new();
        for level in 0..levels {
            let next = format!("#/$defs/d{}", level + 1);
            defs.insert(
                format!("d{level}"),
                json!({ "allOf": [{ "$ref": next }, { "$ref": next }] }),
            );
        }
        defs.insert(format!("d{levels}"), json!({ "type": "string" }));
        json!({ "$ref": "#/$defs/d0", "$defs": defs })
    }

    #[test]
    fn catastrophic_backtracking_patterns_match_in_linear_time() {
        let schema = InputSchema::compile(json!({
            "type": "object",
            "properties": { "name": { "type": "string", "pattern": "^(a+)+$" } },
            "patternProperties": { "^(x|x)*y$": { "type": "string" } }
        }))
        .expect("a backtracking-prone pattern compiles for a linear-time engine");
        let evil = format!("{}!", "a".repeat(100_000));
        let key = format!("{}z", "x".repeat(50_000));
        let started = std::time::Instant::now();
        let found = schema
            .validate(&json!({ "name": evil, key: "v" }))
            .expect_err("does not match");
        assert_eq!(found[0].field, "name");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(schema.validate(&json!({ "name": "aaaa" })), Ok(()));
    }

    #[test]
    fn backtracking_only_patterns_are_refused() {
        for pattern in ["^(?=a)a$", "^(?!b).*$", "(a)\\1", "(?<=x)y"] {
            let error = refused(json!({ "type": "string", "pattern": pattern }));
            assert!(error.contains("not usable"), "{pattern}: {error}");
        }
        let error = refused(json!({ "pattern": "a".repeat(bounds::MAX_PATTERN_BYTES + 1) }));
        assert!(error.contains("pattern of 1001 bytes"), "{error}");
        let error = refused(json!({ "type": "string", "pattern": "(a{1000}){1000}" }));
        assert!(error.contains("not usable"), "{error}");
    }

    #[test]
    fn doubling_references_are_refused_at_load() {
        // n levels cost 2^(n+2) - 2 checks per value: 7 levels (510) pass, 8 (1,022) do
        // not, and 40 would be 2^42.
        let fine = InputSchema::compile(doubling_refs(7)).expect("under the limit");
        assert_eq!(fine.cost.checks_per_value, 510);
        for levels in [8, 40, 200] {
            let error = refused(doubling_refs(levels));
            assert!(error.contains("subschema evaluations"), "{error}");
            assert!(error.contains("limit is 1000"), "{error}");
        }
    }

    #[test]
    fn reference_cycles_that_never_descend_are_refused() {
        for schema in [
            json!({ "$ref": "#" }),
            json!({ "$ref": "#/$defs/a", "$defs": { "a": { "allOf": [{ "$ref": "#/$defs/b" }] }, "b": { "anyOf": [{ "$ref": "#/$defs/a" }] } } }),
            json!({ "not": { "$ref": "#" } }),
        ] {
            let error = refused(schema.clone());
            assert!(error.contains("cycle"), "{schema}: {error}");
        }
    }

    #[test]
    fn recursion_through_the_input_is_accepted_when_linear() {
        // A tree: each node's children are nodes. One check per level.
        let schema = InputSchema::compile(json!({
            "$ref": "#/$defs/Node",
            "$defs": { "Node": {
                "type": "object",
                "properties": {
                    "name": { "type": "string" },
                    "children": { "type": "array", "items": { "$ref": "#/$defs/Node" } }
                },
                "required": ["name"]
            } }
        }))
        .expect("a recursive tree schema is fine");
        let mut tree = json!({ "name": "leaf" });
        for _ in 0..60 {
            tree = json!({ "name": "n", "children": [tree] });
        }
        assert_eq!(schema.validate(&tree), Ok(()));
        // The same recursion taken twice per level doubles with every level of input.
        let error = refused(json!({
            "$ref": "#/$defs/Node",
            "$defs": { "Node": { "anyOf": [
                { "properties": { "c": { "$ref": "#/$defs/Node" } } },
                { "properties": { "c": { "$ref": "#/$defs/Node" } } }
            ] } }
        }));
        assert!(error.contains("subschema evaluations"), "{error}");
    }

    #[test]
    fn schemas_out_of_bounds_are_refused_naming_what() {
        let mut big = serde_json::Map::new();
        for index in 0..20_000 {
            big.insert(format!("property_{index}"), json!({ "type": "string" }));
        }
        let error = refused(json!({ "properties": big }));
        assert!(error.contains("larger than 262144 bytes"), "{error}");
        let mut deep = json!({ "type": "string" });
        for _ in 0..70 {
            deep = json!({ "items": deep });
        }
        let error = refused(deep);
        assert!(error.contains("more than 64 levels"), "{error}");
        let many: Vec<Value> = (0..6_000).map(|_| json!(true)).collect();
        let error = refused(json!({ "anyOf": many }));
        assert!(error.contains("more than 5000 subschemas"), "{error}");
        let refs: Vec<Value> = (0..1_001).map(|_| json!({ "$ref": "#/$defs/a" })).collect();
        let error =
            refused(json!({ "properties": { "x": { "oneOf": refs } }, "$defs": { "a": true } }));
        assert!(error.contains("more than 1000 `$ref`s"), "{error}");
        let error = refused(json!({ "$ref": "https://example.com/schema.json" }));
        assert!(
            error.contains("only references within the schema"),
            "{error}"
        );
        let error = refused(json!({ "properties": { "a": { "$ref": "#/$defs/missing" } } }));
        assert!(error.contains("`#/properties/a/$ref`"), "{error}");
        assert!(error.contains("does not exist"), "{error}");
        let error = refused(json!({ "items": { "$dynamicRef": "#meta" } }));
        assert!(error.contains("`$dynamicRef`"), "{error}");
        let error = refused(json!({ "items": { "$id": "https://example.com/x", "$ref": "#" } }));
        assert!(error.contains("`#/items` declares `$id`"), "{error}");
        let error = refused(json!({ "$schema": "http://json-schema.org/draft-04/schema#" }));
        assert!(error.contains("draft-04"), "{error}");
    }

    #[test]
    fn inputs_too_costly_for_their_schema_are_refused_unchecked() {
        // 7 doubling levels: 510 checks per value; ~4,000 values reach the budget.
        let schema = InputSchema::compile(doubling_refs(7)).expect("compiles");
        let per = schema.cost.checks_per_value;
        let values = usize::try_from(bounds::MAX_VALIDATION_CHECKS / per).expect("fits") + 10;
        let input = Value::Array(vec![json!("x"); values]);
        let found = schema.validate(&input).expect_err("refused");
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("too large to check"), "{found:?}");
        // Deeper than any parser would hand over.
        let mut deep = json!(1);
        for _ in 0..200 {
            deep = json!([deep]);
        }
        let permissive = InputSchema::compile(json!({})).expect("compiles");
        let found = permissive.validate(&deep).expect_err("too deep");
        assert!(found[0].message.contains("128 levels"), "{found:?}");
    }

    /// An array of items each checked against [`doubling_refs`]`(7)`: 510 checks per item.
    fn costly_array() -> InputSchema {
        let mut schema = doubling_refs(7);
        schema["type"] = json!("array");
        schema["items"] = json!({ "$ref": "#/$defs/d0" });
        schema.as_object_mut().expect("object").remove("$ref");
        InputSchema::compile(schema).expect("compiles")
    }

    /// Items of the largest input under `budget` checks (one for the array itself).
    fn items_within(schema: &InputSchema, budget: u64) -> usize {
        usize::try_from(budget / schema.cost.checks_per_value).expect("fits") - 1
    }

    #[test]
    fn the_worst_accepted_schema_and_input_validate_within_a_bound() {
        // At the per-value limit, with the largest inputs the budgets let through: valid
        // (every check runs), invalid at the end (checked, then the first problem found),
        // and invalid everywhere with every problem listed.
        let schema = costly_array();
        let per = schema.cost.checks_per_value;
        let items = items_within(&schema, bounds::MAX_VALIDATION_CHECKS);
        let mut cases = vec![
            ("valid", Value::Array(vec![json!("x"); items])),
            ("invalid at the end", {
                let mut input = vec![json!("x"); items];
                input[items - 1] = json!(7);
                Value::Array(input)
            }),
        ];
        let listed = items_within(&schema, bounds::MAX_LISTED_CHECKS);
        cases.push(("invalid everywhere", Value::Array(vec![json!(7); listed])));
        for (case, input) in cases {
            let started = std::time::Instant::now();
            let result = schema.validate(&input);
            let took = started.elapsed();
            assert_eq!(result.is_ok(), case == "valid", "{case}");
            assert!(
                took < std::time::Duration::from_secs(2),
                "{case}: took {took:?}"
            );
            eprintln!(
                "worst case, {case}: {} items x {per} checks in {took:?}",
                input.as_array().map_or(0, Vec::len)
            );
        }
        // Past the listing budget, the first problem only, and a word about the rest.
        let found = schema
            .validate(&Value::Array(vec![json!(7); listed + 10]))
            .expect_err("invalid");
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].field, "[0]");
        assert!(
            found[1].message.contains("only the first is listed"),
            "{found:?}"
        );
    }

    #[test]
    fn generated_schemas_cost_a_few_checks_per_value() {
        let schema = InputSchema::compile(candidate_schema()).expect("compiles");
        assert!(schema.cost.checks_per_value <= 10, "{:?}", schema.cost);
    }
}
