//! Just enough JSON to read `cargo build --message-format=json` output without a dependency.
//!
//! Cargo prints one compact JSON object per line. xtask only needs a few top-level string
//! fields of `compiler-artifact` messages (`filenames`, `executable`), so instead of a JSON
//! parser this finds `"key":` and decodes the string (or array of strings) after it. The keys
//! used are unique within cargo's messages, so no nesting awareness is needed.

/// Artifacts reported by one `cargo build --message-format=json` run.
#[derive(Debug, Default)]
pub struct Artifacts {
    /// Every file produced (`filenames`), in report order, without duplicates.
    pub files: Vec<String>,
    /// Every executable produced (`executable`), in report order, without duplicates.
    pub executables: Vec<String>,
}

/// Collects the artifacts from cargo's JSON messages (non-JSON lines are ignored).
pub fn cargo_artifacts(messages: &str) -> Artifacts {
    let mut artifacts = Artifacts::default();
    for line in messages.lines() {
        if string_field(line, "reason").as_deref() != Some("compiler-artifact") {
            continue;
        }
        for file in string_array_field(line, "filenames") {
            if !artifacts.files.contains(&file) {
                artifacts.files.push(file);
            }
        }
        if let Some(exe) = string_field(line, "executable")
            && !artifacts.executables.contains(&exe)
        {
            artifacts.executables.push(exe);
        }
    }
    artifacts
}

/// The string value of `"key":"..."` in `line`, if present (and not `null`).
fn string_field(line: &str, key: &str) -> Option<String> {
    let rest = value_after_key(line, key)?;
    parse_string(rest).map(|(s, _)| s)
}

/// The strings in `"key":["...", ...]` in `line` (empty if absent or malformed).
fn string_array_field(line: &str, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(mut rest) = value_after_key(line, key).and_then(|r| r.strip_prefix('[')) else {
        return out;
    };
    loop {
        rest = rest.trim_start();
        if rest.starts_with(']') {
            return out;
        }
        let Some((s, after)) = parse_string(rest) else {
            return out;
        };
        out.push(s);
        rest = after.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn value_after_key<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("\"{key}\":");
    let start = line.find(&needle)? + needle.len();
    Some(line[start..].trim_start())
}

/// Decodes the JSON string at the start of `s`, returning it and the text after it.
fn parse_string(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut chars = body.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => {
                let (_, escaped) = chars.next()?;
                match escaped {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'u' => {
                        let hex: String = (0..4)
                            .filter_map(|_| chars.next().map(|(_, c)| c))
                            .collect();
                        let code = u32::from_str_radix(&hex, 16).ok()?;
                        out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                    }
                    other => out.push(other), // `"`, `\`, `/`
                }
            }
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cargo_artifact_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","package_id":"x","target":{"kind":["cdylib"],"name":"checkr-partner"},"#,
            r#""filenames":["/r/actions/target/wasm32-wasip2/release/checkr_partner.wasm","/r/a \"q\".rlib"],"executable":null,"fresh":true}"#,
            "\n",
            r#"{"reason":"compiler-artifact","filenames":["/r/target/debug/terapi"],"executable":"/r/target/debug/terapi"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
            "\nnot json\n",
        );
        let artifacts = cargo_artifacts(messages);
        assert_eq!(
            artifacts.files,
            [
                "/r/actions/target/wasm32-wasip2/release/checkr_partner.wasm",
                "/r/a \"q\".rlib",
                "/r/target/debug/terapi"
            ]
        );
        assert_eq!(artifacts.executables, ["/r/target/debug/terapi"]);
    }

    #[test]
    fn decodes_escapes() {
        assert_eq!(
            parse_string(r#""a\\b\u00e9\n" tail"#),
            Some(("a\\bé\n".to_owned(), " tail"))
        );
        assert_eq!(parse_string(r#""unterminated"#), None);
    }
}
