//! Random instances of the spec's schemas, for property tests: every property a schema
//! requires, each optional one with even odds, `null` now and then where the schema
//! allows it, integers of either sign, strings that satisfy the spec's formats, lengths
//! and (unanchored) patterns.

use serde_json::{Map, Number, Value, json};

use crate::Spec;

/// A small deterministic random number generator (SplitMix64): a seed reproduces a case.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next_u64() % bound
        }
    }

    /// True with probability `numerator / denominator`.
    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let len = u64::try_from(items.len()).ok()?;
        items.get(usize::try_from(self.below(len)).ok()?)
    }
}

/// How deep objects and arrays nest before generation stops adding optional parts.
const MAX_DEPTH: usize = 8;

impl Spec {
    /// A random instance of the schema at `pointer` (JSON pointer into the document).
    pub fn generate(&self, pointer: &str, rng: &mut Rng) -> Value {
        match self.document().pointer(pointer) {
            Some(schema) => self.instance(schema, rng, 0),
            None => Value::Null,
        }
    }

    fn instance(&self, schema: &Value, rng: &mut Rng, depth: usize) -> Value {
        let schema = self.resolve(schema);
        if let Some(Value::Array(parts)) = schema.get("allOf") {
            return self.instance(&self.merge_all_of(schema, parts), rng, depth);
        }
        for keyword in ["anyOf", "oneOf"] {
            if let Some(Value::Array(options)) = schema.get(keyword) {
                // A branch together with the rest of the schema (minus the choice).
                let mut rest = schema.as_object().cloned().unwrap_or_default();
                rest.remove(keyword);
                let options: Vec<&Value> = options
                    .iter()
                    .filter(|option| self.resolve(option) != &json!({"type": "null"}))
                    .collect();
                let Some(option) = rng.pick(&options) else {
                    return Value::Null;
                };
                let merged = self.merge_all_of(&Value::Object(rest), &[(*option).clone()]);
                return self.instance(&merged, rng, depth);
            }
        }
        if let Some(Value::Array(members)) = schema.get("enum") {
            return rng.pick(members).cloned().unwrap_or(Value::Null);
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(kind) => vec![kind.as_str()],
            Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
            _ if schema.get("properties").is_some() => vec!["object"],
            _ if schema.get("items").is_some() => vec!["array"],
            _ => vec!["string", "integer", "boolean", "object"],
        };
        if types.contains(&"null") && rng.chance(1, 5) {
            return Value::Null;
        }
        let concrete: Vec<&str> = types.into_iter().filter(|kind| *kind != "null").collect();
        match rng.pick(&concrete).copied().unwrap_or("null") {
            "object" => self.object(schema, rng, depth),
            "array" => {
                let count = if depth >= MAX_DEPTH { 0 } else { rng.below(4) };
                let min = schema["minItems"].as_u64().unwrap_or(0);
                let count = count.max(min);
                (0..count)
                    .map(|_| self.instance(&schema["items"], rng, depth + 1))
                    .collect()
            }
            "string" => Value::String(string(schema, rng)),
            "integer" => Value::Number(integer(schema, rng).into()),
            "number" => {
                let whole = integer(schema, rng);
                let fraction = rng.below(100) as f64 / 100.0;
                Number::from_f64(whole as f64 + fraction).map_or(Value::Null, Value::Number)
            }
            "boolean" => Value::Bool(rng.chance(1, 2)),
            _ => Value::Null,
        }
    }

    fn object(&self, schema: &Value, rng: &mut Rng, depth: usize) -> Value {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Map::new();
        if let Some(Value::Object(properties)) = schema.get("properties") {
            for (name, property) in properties {
                let include =
                    required.contains(&name.as_str()) || (depth < MAX_DEPTH && rng.chance(1, 2));
                // Write-only properties never come back from Checkr.
                if include && self.resolve(property)["writeOnly"] != true {
                    out.insert(name.clone(), self.instance(property, rng, depth + 1));
                }
            }
        }
        Value::Object(out)
    }

    /// `allOf` parts merged into one schema (properties, required and the rest; later
    /// parts win on conflicts), with the schema's own keywords.
    fn merge_all_of(&self, schema: &Value, parts: &[Value]) -> Value {
        let mut merged = self
            .resolve(schema)
            .as_object()
            .cloned()
            .unwrap_or_default();
        merged.remove("allOf");
        for part in parts {
            let part = self.resolve(part);
            let part = match part.get("allOf") {
                Some(Value::Array(inner)) => self.merge_all_of(part, inner),
                _ => part.clone(),
            };
            let Value::Object(part) = part else { continue };
            for (key, value) in part {
                match (key.as_str(), merged.get_mut(&key), value) {
                    ("properties", Some(Value::Object(into)), Value::Object(from)) => {
                        for (name, schema) in from {
                            let combined = match into.get(&name) {
                                Some(existing) => self.merge_all_of(existing, &[schema]),
                                None => schema,
                            };
                            into.insert(name, combined);
                        }
                    }
                    ("required", Some(Value::Array(into)), Value::Array(from)) => {
                        into.extend(from);
                    }
                    (_, _, value) => {
                        merged.insert(key, value);
                    }
                }
            }
        }
        Value::Object(merged)
    }
}

fn integer(schema: &Value, rng: &mut Rng) -> i64 {
    let min = schema["minimum"].as_i64();
    let max = schema["maximum"].as_i64();
    match (min, max) {
        (Some(min), Some(max)) if min <= max => {
            let span = u64::try_from(i128::from(max) - i128::from(min) + 1).unwrap_or(u64::MAX);
            min.saturating_add(i64::try_from(rng.below(span)).unwrap_or(0))
        }
        (Some(min), _) => min.saturating_add(i64::try_from(rng.below(1_000_000)).unwrap_or(0)),
        (_, Some(max)) => max.saturating_sub(i64::try_from(rng.below(1_000_000)).unwrap_or(0)),
        // Either sign, small and beyond 32 bits.
        _ => match rng.below(4) {
            0 => -i64::try_from(rng.below(1_000)).unwrap_or(0),
            1 => i64::try_from(rng.below(1 << 40)).unwrap_or(0),
            2 => -i64::try_from(rng.below(1 << 40)).unwrap_or(0),
            _ => i64::try_from(rng.below(100_000)).unwrap_or(0),
        },
    }
}

const WORDS: &[&str] = &[
    "alpha", "bravo", "c3po", "delta", "echo9", "foxtrot", "golf", "hotel", "india", "juliet",
];

fn string(schema: &Value, rng: &mut Rng) -> String {
    let format = schema["format"].as_str().unwrap_or("");
    let year = 1990 + rng.below(40);
    let month = 1 + rng.below(12);
    let day = 1 + rng.below(28);
    match format {
        "date-time" => {
            return format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
                rng.below(24),
                rng.below(60),
                rng.below(60)
            );
        }
        "date" => return format!("{year:04}-{month:02}-{day:02}"),
        "email" => return format!("{}{}@example.com", word(rng), rng.below(1000)),
        "uri" | "url" => {
            return format!(
                "https://api.checkr.com/v1/{}?page={}&per_page=25",
                word(rng),
                1 + rng.below(9)
            );
        }
        "uuid" => {
            return format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                rng.below(1 << 32),
                rng.below(1 << 16),
                rng.below(1 << 12),
                rng.below(1 << 12),
                rng.below(1 << 48)
            );
        }
        _ => {}
    }
    // Lower-case letters and digits satisfy every (unanchored) pattern in the spec's
    // response schemas; lengths are kept within minLength..=maxLength.
    let min = schema["minLength"].as_u64().unwrap_or(0);
    let max = schema["maxLength"].as_u64().unwrap_or(24).max(min);
    let mut text = format!("{}{}", word(rng), rng.below(100));
    if rng.chance(1, 4) {
        text = format!("{text} {}", word(rng));
    }
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let min = usize::try_from(min).unwrap_or(0);
    text.truncate(max);
    while text.len() < min {
        text.push('x');
    }
    text
}

fn word(rng: &mut Rng) -> &'static str {
    rng.pick(WORDS).copied().unwrap_or("word")
}
