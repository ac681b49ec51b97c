//! The committed C header is exactly what cbindgen generates from
//! `src/ffi`, and its version constants match the crate.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn committed_header() -> String {
    std::fs::read_to_string(root().join("include/hearsay.h")).expect("include/hearsay.h exists")
}

/// The cbindgen binary: $CBINDGEN, else `cbindgen` on PATH, else
/// ~/.cargo/bin/cbindgen.
fn cbindgen() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("CBINDGEN") {
        candidates.push(PathBuf::from(path));
    }
    candidates.push(PathBuf::from("cbindgen"));
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cargo/bin/cbindgen"));
    }
    candidates.into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn committed_header_matches_cbindgen_output() {
    let Some(cbindgen) = cbindgen() else {
        println!("note: cbindgen not found (set CBINDGEN or install it); header not regenerated");
        return;
    };
    let out = std::env::temp_dir().join(format!("hearsay-header-{}.h", std::process::id()));
    let status = Command::new(&cbindgen)
        .current_dir(root())
        .args([
            "--config",
            "cbindgen.toml",
            "--crate",
            "hearsay",
            "--quiet",
            "--output",
        ])
        .arg(&out)
        .status()
        .expect("cbindgen runs");
    assert!(status.success(), "cbindgen failed");
    let generated = std::fs::read_to_string(&out).expect("cbindgen wrote the header");
    let _ = std::fs::remove_file(&out);
    if generated != committed_header() {
        let first = generated
            .lines()
            .zip(committed_header().lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "the length".to_owned(),
                |line| format!("line {}", line + 1),
            );
        panic!(
            "include/hearsay.h is stale (first difference at {first}); regenerate it with\n  \
             cbindgen --config cbindgen.toml --crate hearsay --output include/hearsay.h"
        );
    }
}

fn cargo_version() -> String {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    manifest
        .lines()
        .skip_while(|l| l.trim() != "[package]")
        .find_map(|l| {
            let value = l.trim().strip_prefix("version")?.trim().strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_owned())
        })
        .expect("Cargo.toml has a package version")
}

fn define(header: &str, name: &str) -> String {
    let prefix = format!("#define {name} ");
    header
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("the header defines {name}"))
        .trim()
        .to_owned()
}

#[test]
fn versions_match_cargo_toml_and_the_library() {
    let header = committed_header();
    let version = cargo_version();

    assert_eq!(define(&header, "HEARSAY_VERSION"), format!("\"{version}\""));
    // SAFETY: hearsay_version returns a static NUL-terminated string.
    let library = unsafe { std::ffi::CStr::from_ptr(hearsay::ffi::version::hearsay_version()) };
    assert_eq!(library.to_str().unwrap(), version);
    assert_eq!(env!("CARGO_PKG_VERSION"), version);

    // "((MAJOR << 16) | MINOR)"
    let abi = define(&header, "HEARSAY_ABI_VERSION");
    let numbers: Vec<u32> = abi
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(
        numbers.len(),
        3,
        "HEARSAY_ABI_VERSION is ((major << 16) | minor): {abi}"
    );
    assert_eq!(numbers[1], 16);
    let (major, minor) = (numbers[0], numbers[2]);
    assert_eq!(major, hearsay::ffi::version::HEARSAY_ABI_VERSION_MAJOR);
    assert_eq!(minor, hearsay::ffi::version::HEARSAY_ABI_VERSION_MINOR);
    assert_eq!(
        hearsay::ffi::version::hearsay_abi_version(),
        (major << 16) | minor
    );

    let policy = std::fs::read_to_string(root().join("docs/ABI.md")).expect("docs/ABI.md");
    assert!(
        policy.contains(&format!("ABI version {major}.{minor}")),
        "docs/ABI.md names the current ABI version {major}.{minor}"
    );
}
