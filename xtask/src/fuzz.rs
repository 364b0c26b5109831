//! `cargo xtask fuzz`: builds the libFuzzer targets in `fuzz/` and runs them for a while.
//!
//! cargo-fuzz needs a nightly toolchain only to pass the coverage instrumentation flags;
//! they are plain `-C` codegen options, so this passes them itself and builds with the
//! stable toolchain: `-Cpasses=sancov-module` with inline 8-bit counters, a PC table and
//! compare tracing (what libFuzzer's coverage-guided mutation feeds on), `--cfg fuzzing`,
//! debug assertions and overflow checks. No sanitizer: the code under test is safe Rust.
//! `--target <host>` keeps the flags away from build scripts and proc macros (which could
//! not link the coverage callbacks), as cargo-fuzz does.
//!
//! Each target runs with `fuzz/corpus/<target>` (kept between runs, not committed) and the
//! committed seeds in `fuzz/seeds/<target>`; a failing input lands in
//! `fuzz/artifacts/<target>/`. At the end a table gives each target's executions and
//! findings.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::cmd::Cmd;
use crate::{Error, Result};

/// The fuzz targets, as `fuzz/Cargo.toml` names them.
pub const TARGETS: &[&str] = &[
    "webhook",
    "schema",
    "config",
    "providers",
    "proxy_headers",
    "records_query",
];

/// Seconds each target runs when `--seconds` is not given.
pub const DEFAULT_SECONDS: u64 = 60;

const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg",
    "fuzzing",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

/// What one target's run came to.
struct Outcome {
    target: &'static str,
    executions: Option<u64>,
    finding: bool,
}

/// Builds the targets and runs `target` (every one when `None`) for `seconds` each.
pub fn run(repo: &Path, target: Option<&str>, seconds: u64) -> Result<()> {
    let targets: Vec<&'static str> = match target {
        None => TARGETS.to_vec(),
        Some(name) => vec![
            TARGETS
                .iter()
                .copied()
                .find(|known| *known == name)
                .ok_or_else(|| {
                    Error::new(format!(
                        "unknown fuzz target `{name}`; the targets are: {}",
                        TARGETS.join(", ")
                    ))
                })?,
        ],
    };
    let fuzz = repo.join("fuzz");
    let host = host_triple()?;
    let mut build = Cmd::cargo()
        .current_dir(&fuzz)
        .args(["build", "--release", "--target", &host])
        .env("RUSTFLAGS", RUSTFLAGS.join(" "));
    for target in &targets {
        build = build.args(["--bin", target]);
    }
    build.run()?;
    let mut outcomes = Vec::new();
    for target in targets {
        outcomes.push(run_one(&fuzz, &host, target, seconds)?);
    }
    println!("\nfuzz target      executions  findings");
    for outcome in &outcomes {
        println!(
            "{:<16} {:>10}  {}",
            outcome.target,
            outcome
                .executions
                .map_or_else(|| "?".to_string(), |count| count.to_string()),
            if outcome.finding {
                format!("yes: see fuzz/artifacts/{}/", outcome.target)
            } else {
                "none".to_string()
            }
        );
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|outcome| outcome.finding)
        .map(|outcome| outcome.target)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "fuzzing found failing inputs for: {}",
            failed.join(", ")
        )))
    }
}

fn host_triple() -> Result<String> {
    let version = Cmd::new("rustc").arg("-vV").stdout()?;
    version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_string)
        .ok_or_else(|| Error::new("`rustc -vV` names no host triple"))
}

/// Runs one target, echoing libFuzzer's output and reading its final statistics.
fn run_one(fuzz: &Path, host: &str, target: &'static str, seconds: u64) -> Result<Outcome> {
    let corpus = fuzz.join("corpus").join(target);
    let artifacts = fuzz.join("artifacts").join(target);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir)
            .map_err(|error| Error::new(format!("cannot create {}: {error}", dir.display())))?;
    }
    let binary = fuzz.join("target").join(host).join("release").join(target);
    let mut args = vec![
        format!("-max_total_time={seconds}"),
        // A validation or parse taking a second is a finding too.
        "-timeout=5".to_string(),
        "-rss_limit_mb=2048".to_string(),
        "-print_final_stats=1".to_string(),
        format!("-artifact_prefix={}/", artifacts.display()),
        corpus.display().to_string(),
    ];
    let seeds = fuzz.join("seeds").join(target);
    if seeds.is_dir() {
        args.push(seeds.display().to_string());
    }
    eprintln!("$ {}", Cmd::new(&binary).args(&args));
    let mut child = Command::new(&binary)
        .args(&args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| Error::new(format!("cannot start {}: {error}", binary.display())))?;
    let mut executions = None;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr)
            .lines()
            .map_while(std::result::Result::ok)
        {
            eprintln!("{line}");
            if let Some(count) = line.strip_prefix("stat::number_of_executed_units:") {
                executions = count.trim().parse().ok();
            }
        }
    }
    let status = child
        .wait()
        .map_err(|error| Error::new(format!("waiting for {target}: {error}")))?;
    Ok(Outcome {
        target,
        executions,
        finding: !status.success(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_is_declared_in_the_fuzz_crate() {
        let manifest = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/Cargo.toml"),
        )
        .expect("fuzz/Cargo.toml");
        for target in TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{target}\"")),
                "{target} missing from fuzz/Cargo.toml"
            );
        }
    }
}
