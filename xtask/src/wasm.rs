//! Building the wasm workspace (`actions/`) and checking that its outputs are components.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::json;
use crate::toolchain::{TARGET, Toolchain};
use crate::{Error, Result};

/// The first 8 bytes of a WebAssembly component: `\0asm`, then version 0x0d and layer 1.
const COMPONENT_HEADER: [u8; 8] = *b"\0asm\x0d\x00\x01\x00";
/// The first 8 bytes of a core WebAssembly module: `\0asm`, version 1, layer 0.
const CORE_MODULE_HEADER: [u8; 8] = *b"\0asm\x01\x00\x00\x00";

/// A built component.
#[derive(Debug)]
pub struct Component {
    /// Absolute path of the `.wasm` file.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
}

/// Builds the wasm workspace at `manifest` in release mode with `toolchain`, into
/// `<workspace>/target/wasm32-wasip2/release/`, and returns the `.wasm` files it produced
/// after checking each is a component.
pub fn build_components(toolchain: &Toolchain, manifest: &Path) -> Result<Vec<Component>> {
    if !manifest.is_file() {
        return Err(Error::new(format!(
            "wasm workspace manifest {} not found",
            manifest.display()
        )));
    }
    let target_dir = manifest.parent().unwrap_or(Path::new(".")).join("target");
    // JSON messages go to stdout (parsed for the artifact list); diagnostics are still
    // rendered for humans on stderr.
    let messages = toolchain
        .cargo_build(manifest, &target_dir)
        .arg("--message-format=json-render-diagnostics")
        .stdout()?;
    let artifacts = json::cargo_artifacts(&messages);
    let wasm_files: Vec<&String> = artifacts
        .files
        .iter()
        .filter(|f| f.ends_with(".wasm"))
        .collect();
    if wasm_files.is_empty() {
        return Err(Error::new(format!(
            "building {} produced no .wasm files (are its crates `crate-type = [\"cdylib\"]`?)",
            manifest.display()
        )));
    }
    wasm_files
        .into_iter()
        .map(|file| {
            let path = PathBuf::from(file);
            check_component(&path)?;
            let size = path
                .metadata()
                .map_err(|e| Error::new(format!("cannot stat {}: {e}", path.display())))?
                .len();
            Ok(Component { path, size })
        })
        .collect()
}

/// The release output directory of the wasm workspace at `manifest`.
pub fn release_dir(manifest: &Path) -> PathBuf {
    manifest
        .parent()
        .unwrap_or(Path::new("."))
        .join("target")
        .join(TARGET)
        .join("release")
}

/// Fails unless `path` starts with the component header.
pub fn check_component(path: &Path) -> Result<()> {
    let mut header = [0u8; 8];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|e| Error::new(format!("cannot read {}: {e}", path.display())))?;
    match header {
        COMPONENT_HEADER => Ok(()),
        CORE_MODULE_HEADER => Err(Error::new(format!(
            "{} is a core wasm module, not a component (was it linked without wasm-component-ld?)",
            path.display()
        ))),
        _ => Err(Error::new(format!(
            "{} is not a WebAssembly file (header {header:02x?})",
            path.display()
        ))),
    }
}

/// `12345` -> `12.1 KiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Precision loss is irrelevant for display.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_headers() {
        let dir = std::env::temp_dir().join(format!("xtask-header-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).expect("write");
            path
        };
        let component = write("c.wasm", b"\0asm\x0d\x00\x01\x00rest");
        let module = write("m.wasm", b"\0asm\x01\x00\x00\x00rest");
        let other = write("o.wasm", b"hello world");
        let short = write("s.wasm", b"\0asm");
        assert!(check_component(&component).is_ok());
        assert!(
            check_component(&module)
                .expect_err("core module")
                .message()
                .contains("core wasm module")
        );
        assert!(check_component(&other).is_err());
        assert!(check_component(&short).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(100), "100 B");
        assert_eq!(human_size(15293), "14.9 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB");
    }
}
