//! What a component's JSON Schema may cost the host, checked before it is compiled.
//!
//! Input validation runs in the host, outside any sandbox, against a schema the component
//! wrote: the schema is untrusted input. Left alone, `{"pattern": "(a+)+$"}` costs seconds
//! of CPU per request with a backtracking regex engine, and a few `$ref`s that each apply
//! the next definition twice (`allOf: [{$ref: d1}, {$ref: d1}]`, `d1` likewise, …) ask for
//! 2^n checks of every input value. So each schema is held to bounds at load:
//!
//! * size, nesting depth, number of subschemas and of `$ref`s (below);
//! * references stay inside the schema (`#` or `#/json/pointer`, to something that
//!   exists); `$dynamicRef`/`$recursiveRef` and `$id` below the root, which move the base
//!   references resolve against, are refused, so the analysis below sees every edge;
//! * `pattern`s and `patternProperties` are matched by the `regex` crate (finite automata:
//!   linear in the text, no look-around or back-references) under size limits, and each is
//!   at most [`MAX_PATTERN_BYTES`] long;
//! * the **checks per input value**: the most subschema evaluations one value of the input
//!   can cause, following `allOf`/`anyOf`/`oneOf`/`not`/`if`/`$ref`... in place and
//!   `properties`/`items`/... one level down, for inputs up to [`MAX_INPUT_DEPTH`] deep.
//!   A `$ref` cycle that does not descend into the input is refused outright.
//!
//! Checking an input then costs at most (its number of values) × (checks per value)
//! subschema evaluations, each a constant amount of work apart from comparisons against
//! `enum`/`const` (weighed in) and pattern matching (linear in the string). Before
//! validating, [`super::InputSchema::validate`] counts the input's values and refuses an
//! input whose product exceeds [`MAX_VALIDATION_CHECKS`], and lists only the first
//! problem of an invalid input above [`MAX_LISTED_CHECKS`], so validation has a fixed
//! worst case (the figures are in RELIABILITY.md). That is a cost bound rather than a
//! wall-clock deadline: the library cannot be stopped mid-way, so a deadline would only
//! stop waiting, not stop the work.

use serde_json::Value;
use std::collections::HashMap;

/// Largest schema, serialized. The Checkr component's largest input schema is about
/// 6 KiB; a quarter of a MiB leaves room for generated schemas with large enums while
/// keeping the compile (linear in the size) in the milliseconds.
pub(crate) const MAX_SCHEMA_BYTES: usize = 256 * 1024;

/// Deepest nesting of the schema document. schemars nests a few levels per Rust type (its
/// definitions sit in `$defs`, referenced); 64 is far past that and far below the
/// recursion that would strain the host's stack in the compiler.
pub(crate) const MAX_SCHEMA_DEPTH: usize = 64;

/// Most subschemas reachable from the root. Each costs a compiled node; the Checkr
/// schemas have tens.
pub(crate) const MAX_SUBSCHEMAS: usize = 5_000;

/// Most `$ref`s reachable from the root (one per use of a named type in schemars' output).
pub(crate) const MAX_REFS: usize = 1_000;

/// Longest `pattern` (or `patternProperties` key). Real patterns (formats of ids, dates,
/// postal codes) are tens of characters; a long one is a way to reach the regex size limit.
pub(crate) const MAX_PATTERN_BYTES: usize = 1_000;

/// Compiled size limit of one pattern (the `regex` crate's `size_limit`): patterns of
/// [`MAX_PATTERN_BYTES`] with modest counted repetitions fit; `(a{1000}){1000}` does not.
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Cache of the lazy DFA of one pattern (the `regex` crate's `dfa_size_limit`): past it
/// the engine falls back to slower, still linear-time, matching.
pub(crate) const REGEX_DFA_SIZE_LIMIT: usize = 2 << 20;

/// Most subschema evaluations one input value may cause. A struct with an optional
/// nested struct costs 3–6; a 50-variant tagged enum about 100. A thousand leaves room for
/// large unions and stops the doubling attack at ten levels.
pub(crate) const MAX_CHECKS_PER_VALUE: u64 = 1_000;

/// Deepest input the cost analysis accounts for: `serde_json` refuses to parse deeper
/// documents (its recursion limit), and validation refuses deeper inputs.
pub(crate) const MAX_INPUT_DEPTH: usize = 128;

/// Most subschema evaluations one validation may cost: (values in the input) × (checks per
/// value). Checking is ~50 ns per evaluation in a debug build (a few in release), so the
/// worst case is ~0.1 s of one core in a debug build; against a typical schema (≤ 10
/// checks per value) it leaves room for inputs of 200,000 values, several MiB.
pub(crate) const MAX_VALIDATION_CHECKS: u64 = 2_000_000;

/// Above this many evaluations, an invalid input gets its first problem only. Listing
/// every problem materializes an error per failing evaluation (~1.5 µs each in a debug
/// build, thirty times a check), so the full list is only made for inputs whose worst
/// case stays near the checking budget's time; a typical action input is far below.
pub(crate) const MAX_LISTED_CHECKS: u64 = 100_000;

/// What the analysis found out about an accepted schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cost {
    /// The most subschema evaluations one input value can cause.
    pub(crate) checks_per_value: u64,
}

/// Checks `schema` against the bounds above; the error says what was wrong and where (a
/// JSON pointer into the schema).
pub(crate) fn check(schema: &Value) -> Result<Cost, String> {
    check_size(schema)?;
    check_depth(schema)?;
    if let Some(draft) = schema.get("$schema").and_then(Value::as_str) {
        let supported = ["draft-06", "draft-07", "2019-09", "2020-12"]
            .iter()
            .any(|name| draft.contains(name));
        if !supported {
            return Err(format!(
                "`$schema` `{}` is not supported: use draft-06, draft-07, 2019-09 or 2020-12",
                shorten(draft)
            ));
        }
    }
    let graph = Graph::build(schema)?;
    let checks_per_value = graph.checks_per_value()?;
    Ok(Cost { checks_per_value })
}

/// The number of values in `input` and its depth (a scalar is 1 deep), stopping once it
/// is deeper than [`MAX_INPUT_DEPTH`].
pub(crate) fn measure(input: &Value) -> (u64, usize) {
    let mut values = 0u64;
    let mut deepest = 0usize;
    let mut stack = vec![(input, 1usize)];
    while let Some((value, depth)) = stack.pop() {
        values += 1;
        deepest = deepest.max(depth);
        if depth > MAX_INPUT_DEPTH {
            continue;
        }
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|item| (item, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|item| (item, depth + 1))),
            _ => {}
        }
    }
    (values, deepest)
}

fn check_size(schema: &Value) -> Result<(), String> {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            if self.0 > MAX_SCHEMA_BYTES {
                return Err(std::io::Error::other("too large"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(&mut Counter(0), schema)
        .map_err(|_| format!("the schema is larger than {MAX_SCHEMA_BYTES} bytes (serialized)"))
}

fn check_depth(schema: &Value) -> Result<(), String> {
    let mut stack = vec![(schema, 1usize)];
    while let Some((value, depth)) = stack.pop() {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(format!(
                "the schema nests more than {MAX_SCHEMA_DEPTH} levels deep"
            ));
        }
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|item| (item, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|item| (item, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// At most 80 characters of a schema's text, for error messages.
fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        return text.escape_debug().to_string();
    }
    let head: String = text.chars().take(MAX).collect();
    format!("{}…", head.escape_debug())
}

/// `/json/pointer` for messages; the root is `#`.
fn place(pointer: &str) -> String {
    if pointer.is_empty() {
        "`#`".to_string()
    } else {
        format!("`#{pointer}`")
    }
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// One subschema: its own weight and what it applies, to the same value (`in_place`) and
/// to the value's members or items (`below`: each group contributes its costliest member,
/// as one member of the input meets at most one of a group, e.g. one of `properties`).
#[derive(Default)]
struct Node {
    weight: u64,
    in_place: Vec<usize>,
    below: Vec<Vec<usize>>,
}

/// The subschemas reachable from the root, by JSON pointer.
struct Graph {
    nodes: Vec<Node>,
    pointers: Vec<String>,
}

impl Graph {
    fn build(root: &Value) -> Result<Graph, String> {
        let mut graph = Graph {
            nodes: Vec::new(),
            pointers: Vec::new(),
        };
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut refs = 0usize;
        let mut queue: Vec<usize> = Vec::new();
        let mut intern = |graph: &mut Graph, pointer: String, queue: &mut Vec<usize>| {
            if let Some(&known) = index.get(&pointer) {
                return Ok(known);
            }
            if graph.nodes.len() >= MAX_SUBSCHEMAS {
                return Err(format!(
                    "the schema has more than {MAX_SUBSCHEMAS} subschemas"
                ));
            }
            let id = graph.nodes.len();
            graph.nodes.push(Node::default());
            graph.pointers.push(pointer.clone());
            index.insert(pointer, id);
            queue.push(id);
            Ok(id)
        };
        intern(&mut graph, String::new(), &mut queue)?;
        while let Some(id) = queue.pop() {
            let pointer = graph.pointers[id].clone();
            let Some(Value::Object(object)) = root.pointer(&pointer) else {
                // `true`, `false`, or not a schema (the compiler says so).
                graph.nodes[id].weight = 1;
                continue;
            };
            let mut node = Node {
                weight: 1,
                ..Node::default()
            };
            let at = |keyword: &str| format!("{pointer}/{}", escape(keyword));
            for (keyword, value) in object {
                match keyword.as_str() {
                    "$ref" => {
                        refs += 1;
                        if refs > MAX_REFS {
                            return Err(format!("the schema has more than {MAX_REFS} `$ref`s"));
                        }
                        let target = resolve(root, value, &at(keyword))?;
                        node.in_place.push(intern(&mut graph, target, &mut queue)?);
                    }
                    "$dynamicRef" | "$recursiveRef" => {
                        return Err(format!(
                            "{} uses `{keyword}`, which is not supported (use `$ref`)",
                            place(&pointer)
                        ));
                    }
                    "$id" if !pointer.is_empty() && value.is_string() => {
                        return Err(format!(
                            "{} declares `$id`: only the root may (a nested `$id` moves the \
                             base of the references below it)",
                            place(&pointer)
                        ));
                    }
                    "allOf" | "anyOf" | "oneOf" => {
                        for (position, _) in value.as_array().into_iter().flatten().enumerate() {
                            let child = format!("{}/{position}", at(keyword));
                            node.in_place.push(intern(&mut graph, child, &mut queue)?);
                        }
                    }
                    "not" | "if" | "then" | "else" => {
                        node.in_place
                            .push(intern(&mut graph, at(keyword), &mut queue)?);
                    }
                    "dependentSchemas" | "dependencies" => {
                        for (name, schema) in value.as_object().into_iter().flatten() {
                            if schema.is_object() || schema.is_boolean() {
                                let child = format!("{}/{}", at(keyword), escape(name));
                                node.in_place.push(intern(&mut graph, child, &mut queue)?);
                            }
                        }
                    }
                    "properties" => {
                        let mut group = Vec::new();
                        for name in value.as_object().into_iter().flatten().map(|(k, _)| k) {
                            let child = format!("{}/{}", at(keyword), escape(name));
                            group.push(intern(&mut graph, child, &mut queue)?);
                        }
                        node.below.push(group);
                    }
                    "patternProperties" => {
                        for name in value.as_object().into_iter().flatten().map(|(k, _)| k) {
                            check_pattern(name, &at(keyword))?;
                            let child = format!("{}/{}", at(keyword), escape(name));
                            // Every pattern may match the same member.
                            node.below
                                .push(vec![intern(&mut graph, child, &mut queue)?]);
                        }
                    }
                    "items" | "prefixItems" if value.is_array() => {
                        let mut group = Vec::new();
                        for (position, _) in value.as_array().into_iter().flatten().enumerate() {
                            let child = format!("{}/{position}", at(keyword));
                            group.push(intern(&mut graph, child, &mut queue)?);
                        }
                        node.below.push(group);
                    }
                    "items"
                    | "additionalItems"
                    | "contains"
                    | "unevaluatedItems"
                    | "additionalProperties"
                    | "unevaluatedProperties"
                    | "propertyNames" => {
                        node.below
                            .push(vec![intern(&mut graph, at(keyword), &mut queue)?]);
                    }
                    "pattern" => {
                        if let Some(pattern) = value.as_str() {
                            check_pattern(pattern, &pointer)?;
                        }
                    }
                    "enum" => {
                        let options = value.as_array().map_or(0, Vec::len) as u64;
                        node.weight = node.weight.saturating_add(options);
                    }
                    _ => {}
                }
            }
            graph.nodes[id] = node;
        }
        Ok(graph)
    }

    /// The most evaluations one value of an input at most [`MAX_INPUT_DEPTH`] deep can
    /// cause, refusing a schema over [`MAX_CHECKS_PER_VALUE`].
    fn checks_per_value(&self) -> Result<u64, String> {
        let order = self.in_place_order()?;
        let count = self.nodes.len();
        // `previous[n]`: evaluations landing on one value a level further down than the
        // value `n` is evaluated against, for the depth before this one.
        let mut previous = vec![0u64; count];
        let mut current = vec![0u64; count];
        let mut worst = 0u64;
        for depth in 0..=MAX_INPUT_DEPTH {
            for &id in &order {
                let node = &self.nodes[id];
                let mut total = if depth == 0 { node.weight } else { 0 };
                for &child in &node.in_place {
                    total = total.saturating_add(current[child]);
                }
                for group in &node.below {
                    let costliest = group.iter().map(|&child| previous[child]).max();
                    total = total.saturating_add(costliest.unwrap_or(0));
                }
                current[id] = total;
            }
            worst = worst.max(current[0]);
            if worst > MAX_CHECKS_PER_VALUE {
                return Err(format!(
                    "checking one input value against the schema can take {} subschema \
                     evaluations (at input depth {depth}; `allOf`/`anyOf`/`oneOf`/`$ref` \
                     multiply them); the limit is {MAX_CHECKS_PER_VALUE}",
                    if current[0] == u64::MAX {
                        "more than 2^64".to_string()
                    } else {
                        current[0].to_string()
                    }
                ));
            }
            if current.iter().all(|&cost| cost == 0) {
                break;
            }
            std::mem::swap(&mut previous, &mut current);
        }
        Ok(worst.max(1))
    }

    /// The subschemas ordered so that whatever one applies in place comes before it;
    /// fails on a cycle of in-place applications (`$ref`s that never descend).
    fn in_place_order(&self) -> Result<Vec<usize>, String> {
        let count = self.nodes.len();
        let mut pending: Vec<usize> = self.nodes.iter().map(|node| node.in_place.len()).collect();
        let mut parents: Vec<Vec<usize>> = vec![Vec::new(); count];
        for (id, node) in self.nodes.iter().enumerate() {
            for &child in &node.in_place {
                parents[child].push(id);
            }
        }
        let mut ready: Vec<usize> = (0..count).filter(|&id| pending[id] == 0).collect();
        let mut order = Vec::with_capacity(count);
        while let Some(id) = ready.pop() {
            order.push(id);
            for &parent in &parents[id] {
                pending[parent] -= 1;
                if pending[parent] == 0 {
                    ready.push(parent);
                }
            }
        }
        if order.len() < count {
            // Every unresolved subschema applies an unresolved one: following them for
            // as many steps as there are subschemas ends on the cycle itself.
            let mut stuck = (0..count).find(|&id| pending[id] > 0).unwrap_or(0);
            for _ in 0..count {
                match self.nodes[stuck]
                    .in_place
                    .iter()
                    .find(|&&child| pending[child] > 0)
                {
                    Some(&child) => stuck = child,
                    None => break,
                }
            }
            return Err(format!(
                "{} is part of a `$ref` cycle that never descends into the input (it \
                 would apply itself to the same value forever)",
                place(&self.pointers[stuck])
            ));
        }
        Ok(order)
    }
}

/// The JSON pointer a `$ref` at `at` designates, which must exist in `root`.
fn resolve(root: &Value, reference: &Value, at: &str) -> Result<String, String> {
    let Some(text) = reference.as_str() else {
        return Err(format!("{} is not a string", place(at)));
    };
    let local = || {
        format!(
            "{} refers to `{}`: only references within the schema (`#` or `#/...`) are \
             supported",
            place(at),
            shorten(text)
        )
    };
    let fragment = text.strip_prefix('#').ok_or_else(local)?;
    if !(fragment.is_empty() || fragment.starts_with('/')) {
        return Err(local());
    }
    let pointer = percent_decode(fragment).ok_or_else(local)?;
    if root.pointer(&pointer).is_none() {
        return Err(format!(
            "{} refers to `{}`, which does not exist in the schema",
            place(at),
            shorten(text)
        ));
    }
    Ok(pointer)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut position = 0;
    while position < bytes.len() {
        if bytes[position] == b'%' {
            let hex = text.get(position + 1..position + 3)?;
            if !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            position += 3;
        } else {
            out.push(bytes[position]);
            position += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Refuses a pattern longer than [`MAX_PATTERN_BYTES`]; whether the `regex` engine takes
/// it (no look-around, no back-references, within its size limit) the compiler checks.
fn check_pattern(pattern: &str, at: &str) -> Result<(), String> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(format!(
            "{} has a pattern of {} bytes; at most {MAX_PATTERN_BYTES} are allowed",
            place(at),
            pattern.len()
        ));
    }
    Ok(())
}
