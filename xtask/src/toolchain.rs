//! The `wasm32-wasip2` toolchain, and why getting one takes a dance.
//!
//! terapi's actions are WASI preview 2 *components* built for the `wasm32-wasip2` target. A
//! component is a core wasm module wrapped with its WIT interface types; for this target rustc
//! links through `wasm-component-ld`, which runs `wasm-ld` to produce the core module and then
//! wraps it into a component.
//!
//! # Route 1: rustup (normal developer machines)
//!
//! If `rustup target list --installed` includes `wasm32-wasip2` (after a one-off
//! `rustup target add wasm32-wasip2`), rustup's toolchain has everything: a precompiled standard
//! library, the self-contained wasi-libc and `wasm-component-ld`. xtask then just runs
//! `cargo build --release --target wasm32-wasip2` with the cargo that runs xtask.
//!
//! # Route 2: Debian packages (CI images and sandboxes without rustup downloads)
//!
//! Some machines have rustup's host toolchain but cannot download the target (no access to
//! static.rust-lang.org), while the Debian archive is reachable. Debian 12 ships all the pieces
//! needed to build the standard library for `wasm32-wasip2` from source:
//!
//! - `rustc-web`, `cargo-web`: Debian's current rustc/cargo at `/usr/bin/{rustc,cargo}`. They
//!   know the target but ship no precompiled std for it.
//! - `rust-web-src`: the std sources, so `-Zbuild-std=std,panic_abort` can compile std for the
//!   target. `-Z` flags are nightly-only, hence `RUSTC_BOOTSTRAP=1` (for this build only).
//! - `wasi-libc`: the C library std links against on WASI. rustup's target bundles it
//!   ("self-contained"); here it is passed with `-L <dir>` in `RUSTFLAGS`.
//! - `lld`: provides `wasm-ld`, which `wasm-component-ld` drives.
//! - `wasm-component-ld`: found on `PATH`, or in rustc's sysroot (`rust-web-llvm`, recommended by
//!   `rustc-web`, ships one), or installed with `cargo install --locked wasm-component-ld`. It is
//!   passed as the linker in `RUSTFLAGS` (by name when on `PATH`, else by absolute path).
//!
//! Put together, the build is (run in `actions/`):
//!
//! ```text
//! RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
//!   RUSTFLAGS='-C linker=wasm-component-ld -L /usr/lib/wasm32-wasi' \
//!   /usr/bin/cargo build --release -Zbuild-std=std,panic_abort --target wasm32-wasip2
//! ```
//!
//! xtask passes exactly these flags so that its builds and such hand-typed ones share one
//! build cache (different `RUSTFLAGS` would rebuild std every time one switches).
//!
//! The build must use `/usr/bin/cargo` and `/usr/bin/rustc` *consistently*, which is the subtle
//! part: rustup's proxies (`~/.cargo/bin/rustc`, ...) come first on `PATH`, and `cargo xtask`
//! runs under rustup's cargo, which exports `CARGO`, `RUSTUP_TOOLCHAIN` and possibly
//! `RUSTC`/`RUSTC_WRAPPER`/`RUSTFLAGS` and friends. Left alone, `/usr/bin/cargo` would compile
//! with rustup's rustc, which has neither a std for the target nor its sources (`-Zbuild-std`
//! then fails looking for `~/.rustup/toolchains/.../rust-src`). So the child gets
//! `RUSTC=/usr/bin/rustc` explicitly, and the variables in [`LEAKY_ENV`] are removed.
//!
//! Installing needs root (or password-less sudo) for apt; without either, xtask fails with the
//! exact commands to run instead of prompting.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::cmd::Cmd;
use crate::{Error, Result};

/// The target every action is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Debian packages the Debian route needs.
const DEBIAN_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "rust-web-src", "lld", "wasi-libc"];

/// The linker that turns rustc's output into a component.
const COMPONENT_LINKER: &str = "wasm-component-ld";

/// Where Debian's rustc and cargo live (always called by absolute path, as rustup's proxies
/// shadow them on `PATH`).
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_CARGO: &str = "/usr/bin/cargo";

/// Environment variables that would make `/usr/bin/cargo` use rustup's toolchain (or another
/// compiler/flags/output directory than the ones xtask chooses), removed for Debian builds.
pub const LEAKY_ENV: &[&str] = &[
    "CARGO",
    "RUSTUP_TOOLCHAIN",
    "RUSTUP_TOOLCHAIN_SOURCE",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTDOC",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTC",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTDOC",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_TARGET_DIR",
    "CARGO_TARGET_WASM32_WASIP2_LINKER",
    "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
    "CARGO_MAKEFLAGS",
];

/// A usable `wasm32-wasip2` toolchain.
#[derive(Debug)]
pub enum Toolchain {
    /// rustup's toolchain has the target installed.
    Rustup,
    /// Debian's rustc building std from source.
    Debian(DebianToolchain),
}

/// What the Debian route builds with (all paths absolute).
#[derive(Debug)]
pub struct DebianToolchain {
    /// `rustc -V` of Debian's compiler.
    version: String,
    /// Directory holding wasi-libc's `libc.a`.
    wasi_libc: PathBuf,
    /// The `wasm-component-ld` used as linker.
    linker: PathBuf,
    /// Whether `linker` is the one found on `PATH` (then it is passed by name).
    linker_on_path: bool,
}

impl DebianToolchain {
    /// `RUSTFLAGS` for the build, or `CARGO_ENCODED_RUSTFLAGS` (0x1f-separated) if a path
    /// contains whitespace, which `RUSTFLAGS` cannot express.
    fn rustflags(&self) -> (&'static str, OsString) {
        let mut linker = OsString::from("linker=");
        if self.linker_on_path {
            linker.push(COMPONENT_LINKER);
        } else {
            linker.push(&self.linker);
        }
        let flags = [
            OsString::from("-C"),
            linker,
            OsString::from("-L"),
            self.wasi_libc.clone().into_os_string(),
        ];
        let (var, separator) = if flags
            .iter()
            .any(|f| f.to_string_lossy().contains(char::is_whitespace))
        {
            ("CARGO_ENCODED_RUSTFLAGS", "\x1f")
        } else {
            ("RUSTFLAGS", " ")
        };
        (var, flags.join(OsStr::new(separator)))
    }
}

impl Toolchain {
    /// A `cargo build --release --target wasm32-wasip2` of the workspace at `manifest`, with its
    /// output in `target_dir`. Callers append further arguments.
    pub fn cargo_build(&self, manifest: &Path, target_dir: &Path) -> Cmd {
        let workspace = manifest.parent().unwrap_or(Path::new("."));
        let cmd = match self {
            Self::Rustup => Cmd::cargo().args(["build", "--release"]),
            Self::Debian(debian) => {
                let mut cmd = Cmd::new(DEBIAN_CARGO).without_cargo_run_env();
                for key in LEAKY_ENV {
                    cmd = cmd.env_remove(key);
                }
                let (rustflags_var, rustflags) = debian.rustflags();
                cmd.env("RUSTC", DEBIAN_RUSTC)
                    .env("RUSTC_BOOTSTRAP", "1")
                    .env(rustflags_var, rustflags)
                    .args(["build", "--release", "-Zbuild-std=std,panic_abort"])
            }
        };
        // Run inside the workspace so its own `.cargo/config.toml` (if any) applies.
        cmd.current_dir(workspace)
            .args(["--target", TARGET, "--manifest-path"])
            .arg(manifest)
            .arg("--target-dir")
            .arg(target_dir)
    }

    /// One line saying which route is in use.
    pub fn describe(&self) -> String {
        match self {
            Self::Rustup => {
                let name = std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_else(|_| "default".into());
                format!("rustup (toolchain {name}, which has the {TARGET} target)")
            }
            Self::Debian(d) => format!(
                "Debian packages: {} at {DEBIAN_RUSTC} with -Zbuild-std, wasi-libc in {}, linker {}",
                d.version,
                d.wasi_libc.display(),
                d.linker.display()
            ),
        }
    }
}

/// Finds a `wasm32-wasip2` toolchain, installing the Debian route's pieces if needed.
pub fn ensure() -> Result<Toolchain> {
    if rustup_has_target() {
        return Ok(Toolchain::Rustup);
    }
    eprintln!(
        "toolchain: rustup has no {TARGET} target here; using the Debian route \
         (Debian's rustc building std from source)"
    );
    let help_rustup =
        format!("on a machine that can download it, run `rustup target add {TARGET}`");
    if !cfg!(target_os = "linux") || find_on_path("dpkg-query").is_none() {
        return Err(Error::new(format!(
            "no {TARGET} toolchain: rustup does not have the target and this is not a Debian system"
        ))
        .help(help_rustup));
    }

    let missing = missing_packages();
    if missing.is_empty() {
        eprintln!(
            "toolchain: Debian packages present: {}",
            DEBIAN_PACKAGES.join(" ")
        );
    } else {
        install_packages(&missing).map_err(|e| e.help(help_rustup.clone()))?;
    }

    let (version, host) = debian_rustc()?;
    let sysroot = debian_sysroot()?;
    let wasi_libc = wasi_libc_dir()?;
    if find_on_path("wasm-ld").is_none() {
        return Err(Error::new(
            "`wasm-ld` is not on PATH although package lld is installed",
        ));
    }
    let linker = component_linker(&sysroot, &host)?;
    let linker_on_path = find_on_path(COMPONENT_LINKER).as_ref() == Some(&linker);
    Ok(Toolchain::Debian(DebianToolchain {
        version,
        wasi_libc,
        linker,
        linker_on_path,
    }))
}

/// Whether rustup is present and has the target for the active toolchain (the one `cargo xtask`
/// runs with: `RUSTUP_TOOLCHAIN` is inherited).
fn rustup_has_target() -> bool {
    Cmd::new("rustup")
        .args(["target", "list", "--installed"])
        .probe()
        .is_some_and(|out| out.lines().any(|line| line.trim() == TARGET))
}

/// The Debian packages that are not installed.
fn missing_packages() -> Vec<&'static str> {
    // Packages dpkg does not know at all are simply absent from the output.
    let out = Cmd::new("dpkg-query")
        .args(["-W", "-f", "${Package} ${Status}\\n"])
        .args(DEBIAN_PACKAGES)
        .probe_any_status()
        .unwrap_or_default();
    let installed: Vec<&str> = out
        .lines()
        .filter(|line| line.ends_with(" installed"))
        .filter_map(|line| line.split_whitespace().next())
        // Multi-arch packages are listed as `name:arch`.
        .map(|name| name.split(':').next().unwrap_or(name))
        .collect();
    DEBIAN_PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed.contains(p))
        .collect()
}

/// Installs Debian packages with apt-get, as root or through password-less sudo.
fn install_packages(packages: &[&str]) -> Result<()> {
    eprintln!("toolchain: missing Debian packages: {}", packages.join(" "));
    let sudo = if is_root() {
        false
    } else if find_on_path("sudo").is_some()
        && Cmd::new("sudo").args(["-n", "true"]).probe().is_some()
    {
        true
    } else {
        return Err(Error::new(
            "installing the Debian packages needs root: not running as root, \
             and sudo is not available without a password",
        )
        .help("run these, then retry:")
        .help("  sudo apt-get update")
        .help(format!("  sudo apt-get install -y {}", packages.join(" "))));
    };
    let apt = |args: &[&str]| {
        let cmd = if sudo {
            Cmd::new("sudo").args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"])
        } else {
            Cmd::new("apt-get").env("DEBIAN_FRONTEND", "noninteractive")
        };
        cmd.args(args).run()
    };
    let install: Vec<&str> = ["install", "-y"].iter().chain(packages).copied().collect();
    eprintln!(
        "toolchain: will install them{}: apt-get install -y {}",
        if sudo { " with sudo" } else { "" },
        packages.join(" ")
    );

    let mut updated = false;
    if !apt_lists_present() {
        apt(&["update"])?;
        updated = true;
    }
    if let Err(first) = apt(&install) {
        if updated {
            return Err(install_failed(&first));
        }
        eprintln!("toolchain: apt-get install failed; refreshing the package lists and retrying");
        apt(&["update"]).map_err(|e| install_failed(&e))?;
        apt(&install).map_err(|e| install_failed(&e))?;
    }
    Ok(())
}

fn install_failed(cause: &Error) -> Error {
    Error::new(format!(
        "could not install the Debian packages: {}",
        cause.message()
    ))
    .help("the Debian route needs Debian 12 (bookworm) with its -updates/-security suites")
}

/// Whether apt has downloaded package lists at all (fresh containers have none).
fn apt_lists_present() -> bool {
    std::fs::read_dir("/var/lib/apt/lists").is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
    })
}

/// Debian's rustc (`rustc -V` line, host tuple), after checking it exists and knows the target.
fn debian_rustc() -> Result<(String, String)> {
    for path in [DEBIAN_RUSTC, DEBIAN_CARGO] {
        if !Path::new(path).is_file() {
            return Err(Error::new(format!(
                "{path} is missing although rustc-web/cargo-web are installed"
            )));
        }
    }
    let verbose = Cmd::new(DEBIAN_RUSTC)
        .arg("-vV")
        .probe()
        .ok_or_else(|| Error::new(format!("`{DEBIAN_RUSTC} -vV` failed")))?;
    let version = verbose.lines().next().unwrap_or_default().trim().to_owned();
    let host = verbose
        .lines()
        .find_map(|line| line.strip_prefix("host:"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    let targets = Cmd::new(DEBIAN_RUSTC)
        .args(["--print", "target-list"])
        .probe()
        .unwrap_or_default();
    if !targets.lines().any(|t| t.trim() == TARGET) {
        return Err(Error::new(format!(
            "{version} ({DEBIAN_RUSTC}) does not support {TARGET}"
        )));
    }
    Ok((version, host))
}

/// Debian rustc's sysroot, after checking the std sources (rust-web-src) are in it.
fn debian_sysroot() -> Result<PathBuf> {
    let sysroot = Cmd::new(DEBIAN_RUSTC)
        .args(["--print", "sysroot"])
        .probe()
        .ok_or_else(|| Error::new(format!("`{DEBIAN_RUSTC} --print sysroot` failed")))?;
    let sysroot = PathBuf::from(sysroot.trim());
    let std_src = sysroot.join("lib/rustlib/src/rust/library/std/Cargo.toml");
    if !std_src.is_file() {
        return Err(Error::new(format!(
            "the standard library sources are missing ({} not found; package rust-web-src)",
            std_src.display()
        )));
    }
    Ok(sysroot)
}

/// The directory with wasi-libc's `libc.a`, as listed by `dpkg-query -L wasi-libc` (it has moved
/// between package versions: `wasm32-wasi`, `wasm32-wasip1`, `wasm32-wasip2`, ...).
fn wasi_libc_dir() -> Result<PathBuf> {
    let listing = Cmd::new("dpkg-query")
        .args(["-L", "wasi-libc"])
        .probe()
        .unwrap_or_default();
    let mut dirs: Vec<PathBuf> = listing
        .lines()
        .filter(|line| line.ends_with("/libc.a"))
        .filter_map(|line| Path::new(line.trim()).parent().map(Path::to_path_buf))
        .filter(|dir| dir.join("libc.a").is_file())
        .collect();
    // Prefer the closest match to the target.
    let rank = |dir: &PathBuf| {
        let name = dir.to_string_lossy();
        ["wasm32-wasip2", "wasm32-wasi", "wasm32-wasip1"]
            .iter()
            .position(|want| name.ends_with(want))
            .unwrap_or(usize::MAX)
    };
    dirs.sort_by_key(rank);
    dirs.into_iter().next().ok_or_else(|| {
        Error::new("wasi-libc is installed but `dpkg-query -L wasi-libc` lists no libc.a")
    })
}

/// Finds `wasm-component-ld` (PATH, cargo's bin directory, Debian rustc's sysroot) or installs
/// it with `cargo install`.
fn component_linker(sysroot: &Path, host: &str) -> Result<PathBuf> {
    const NAME: &str = COMPONENT_LINKER;
    let bundled = sysroot
        .join("lib/rustlib")
        .join(host)
        .join("bin")
        .join(NAME);
    let find = || {
        find_on_path(NAME)
            .or_else(|| find_in(&cargo_bin_dir()?, NAME))
            .or_else(|| (!host.is_empty() && is_executable(&bundled)).then(|| bundled.clone()))
    };
    if let Some(path) = find() {
        return Ok(path);
    }
    eprintln!(
        "toolchain: will install {NAME} (not on PATH nor in {}): cargo install --locked {NAME}",
        sysroot.display()
    );
    Cmd::cargo()
        .args(["install", "--locked", NAME])
        .run()
        .map_err(|e| {
            Error::new(format!("could not install {NAME}: {}", e.message())).help(format!(
                "install it yourself (`cargo install --locked {NAME}`) and retry"
            ))
        })?;
    find().ok_or_else(|| {
        Error::new(format!(
            "{NAME} was installed but is neither on PATH nor in cargo's bin directory"
        ))
    })
}

/// `$CARGO_HOME/bin`, defaulting to `~/.cargo/bin`.
fn cargo_bin_dir() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    Some(home.join("bin"))
}

/// The executable `name` in the first `PATH` directory that has it.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| find_in(&dir, name))
}

fn find_in(dir: &Path, name: &str) -> Option<PathBuf> {
    let candidate = dir.join(name);
    is_executable(&candidate).then_some(candidate)
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Whether xtask runs as root (`/proc/self` is owned by the process's effective user).
fn is_root() -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    }
    #[cfg(not(unix))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian(linker: &str, linker_on_path: bool) -> DebianToolchain {
        DebianToolchain {
            version: "rustc 1.96.0".into(),
            wasi_libc: "/usr/lib/wasm32-wasi".into(),
            linker: linker.into(),
            linker_on_path,
        }
    }

    #[test]
    fn rustflags_match_the_documented_recipe() {
        let (var, flags) = debian("/root/.cargo/bin/wasm-component-ld", true).rustflags();
        assert_eq!(var, "RUSTFLAGS");
        assert_eq!(flags, "-C linker=wasm-component-ld -L /usr/lib/wasm32-wasi");

        let (_, flags) = debian("/usr/lib/rustlib/x/bin/wasm-component-ld", false).rustflags();
        assert_eq!(
            flags,
            "-C linker=/usr/lib/rustlib/x/bin/wasm-component-ld -L /usr/lib/wasm32-wasi"
        );

        let (var, flags) = debian("/home/a b/wasm-component-ld", false).rustflags();
        assert_eq!(var, "CARGO_ENCODED_RUSTFLAGS");
        assert_eq!(
            flags,
            "-C\x1flinker=/home/a b/wasm-component-ld\x1f-L\x1f/usr/lib/wasm32-wasi"
        );
    }

    #[test]
    fn debian_build_scrubs_rustup_env() {
        let cmd = Toolchain::Debian(debian("/x/wasm-component-ld", false))
            .cargo_build(Path::new("/w/Cargo.toml"), Path::new("/w/target"));
        for key in [
            "CARGO",
            "RUSTUP_TOOLCHAIN",
            "RUSTC_WRAPPER",
            "CARGO_ENCODED_RUSTFLAGS",
        ] {
            assert!(
                cmd.removes_env(key),
                "{key} must not leak into /usr/bin/cargo"
            );
        }
        let cmd = cmd.to_string();
        assert!(cmd.starts_with("(cd /w && RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 RUSTFLAGS="));
        assert!(cmd.contains(
            "/usr/bin/cargo build --release -Zbuild-std=std,panic_abort --target wasm32-wasip2"
        ));
    }
}
