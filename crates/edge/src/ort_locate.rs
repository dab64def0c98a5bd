//! Where the ONNX Runtime library is: the search of `--engine auto` (and of `--engine ort`
//! without `--ort-dylib`).
//!
//! The search order, first match wins:
//! 1. `--ort-dylib FILE` (the builder's [`crate::OrtOptions::dylib`]);
//! 2. the `ORT_DYLIB_PATH` environment variable, when set and not empty. It is authoritative:
//!    when it names no file, the search stops there (auto then serves with tract, and says so);
//! 3. the `onnxruntime` wheel of a Python virtual environment: `$VIRTUAL_ENV`, `$TANDEM_VENV`,
//!    then `/tmp/tandem-ci-venv` (the one `.ci/run` and `scripts/setup-onnxruntime.sh` make),
//!    looked up as `lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*`;
//! 4. the `onnxruntime` module `python3` on the `PATH` imports (a `pip install --user`, a
//!    conda or pyenv environment): `python3 -c "import onnxruntime"`, at most once per process;
//! 5. well-known site-packages directories: `~/.local/lib/python3*/site-packages`,
//!    `/usr/local/lib/python3*/{site,dist}-packages`, `/usr/lib/python3*/{site,dist}-packages`;
//! 6. a system install: `libonnxruntime.so*` in `/usr/local/lib`, `/usr/lib`,
//!    `/usr/lib/x86_64-linux-gnu`, `/usr/lib/aarch64-linux-gnu`.
//!
//! Finding a file does not prove it loads (a wrong version, a broken install): the engine
//! loads it, and `--engine auto` falls back to tract when that fails, with the reason.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The default virtual environment of the project's scripts (`.ci/run`, the README).
pub const DEFAULT_VENV: &str = "/tmp/tandem-ci-venv";

/// Where the search found a library, or why it found none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Located {
    /// A library file, and how it was found (for logs and the profile endpoint).
    Found { path: PathBuf, how: String },
    /// No library: what was searched, or the setting that named a missing file.
    NotFound(String),
}

/// Searches as the module documentation says. `explicit` is `--ort-dylib`.
pub fn locate(explicit: Option<&Path>) -> Located {
    if let Some(path) = explicit {
        return named(path, "--ort-dylib");
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return named(Path::new(&path), "ORT_DYLIB_PATH");
    }
    let mut venvs: Vec<(PathBuf, &str)> = vec![];
    for var in ["VIRTUAL_ENV", "TANDEM_VENV"] {
        if let Some(dir) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            venvs.push((dir.into(), var));
        }
    }
    venvs.push((DEFAULT_VENV.into(), "the default venv"));
    for (venv, how) in &venvs {
        for site in site_packages(&venv.join("lib")) {
            if let Some(path) = wheel_library(&site) {
                return Located::Found {
                    path,
                    how: format!("the onnxruntime wheel of {} ({how})", venv.display()),
                };
            }
        }
    }
    if let Some(path) = python_module_dir().and_then(|dir| newest_library(&dir.join("capi"))) {
        return Located::Found { path, how: "the onnxruntime module of python3 on the PATH".into() };
    }
    let mut libs: Vec<PathBuf> = vec![];
    if let Some(home) = std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        libs.push(Path::new(&home).join(".local/lib"));
    }
    libs.extend(["/usr/local/lib", "/usr/lib"].map(PathBuf::from));
    for lib in &libs {
        for site in site_packages(lib) {
            if let Some(path) = wheel_library(&site) {
                return Located::Found { path, how: format!("the onnxruntime wheel in {}", site.display()) };
            }
        }
    }
    for dir in ["/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"] {
        if let Some(path) = newest_library(Path::new(dir)) {
            return Located::Found { path, how: format!("a system install in {dir}") };
        }
    }
    Located::NotFound(format!(
        "no ONNX Runtime library: ORT_DYLIB_PATH unset; no onnxruntime wheel in {}; python3 has no onnxruntime \
         module; none in the well-known site-packages or system library directories \
         (scripts/setup-onnxruntime.sh installs one)",
        venvs.iter().map(|(v, _)| v.display().to_string()).collect::<Vec<_>>().join(", ")
    ))
}

/// A file named by a setting: found if it exists, else the search stops with the reason.
fn named(path: &Path, setting: &str) -> Located {
    if path.is_file() {
        Located::Found { path: path.to_path_buf(), how: setting.into() }
    } else {
        Located::NotFound(format!("{setting} names {}, which is not a file", path.display()))
    }
}

/// `LIB/python3*/site-packages` and `LIB/python3*/dist-packages`, newest Python first.
fn site_packages(lib: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(lib) else { return vec![] };
    let mut pythons: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .map(|e| e.path())
        .collect();
    pythons.sort_by_key(|p| std::cmp::Reverse(python_version(p)));
    pythons
        .into_iter()
        .flat_map(|p| [p.join("site-packages"), p.join("dist-packages")])
        .filter(|p| p.is_dir())
        .collect()
}

/// `python3.12` -> (3, 12), for ordering.
fn python_version(dir: &Path) -> (u32, u32) {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut parts = name.trim_start_matches("python").split('.').map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The library of an installed `onnxruntime` (or `onnxruntime-gpu`) wheel in `site`.
fn wheel_library(site: &Path) -> Option<PathBuf> {
    newest_library(&site.join("onnxruntime").join("capi"))
}

/// The `libonnxruntime.so*` of `dir` with the longest name (the versioned file, not a
/// provider library: those are `libonnxruntime_providers_*`).
fn newest_library(dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name == "libonnxruntime.so" || name.starts_with("libonnxruntime.so.")) && e.path().is_file()
        })
        .map(|e| e.path())
        .max_by_key(|p| (p.as_os_str().len(), p.clone()))
}

/// The directory of the `onnxruntime` module `python3` imports, asked once per process.
fn python_module_dir() -> Option<PathBuf> {
    static DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import os, onnxruntime; print(os.path.dirname(onnxruntime.__file__))"])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let dir = String::from_utf8(out.stdout).ok()?;
        let dir = PathBuf::from(dir.trim());
        (out.status.success() && dir.is_dir()).then_some(dir)
    })
    .clone()
}

/// Whether this machine shows an NVIDIA GPU to processes (the driver's device files): the
/// CUDA execution provider is only tried then.
pub fn nvidia_gpu_present() -> bool {
    Path::new("/proc/driver/nvidia/version").is_file() || Path::new("/dev/nvidia0").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_layouts_are_found_newest_python_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lib = dir.path().join("lib");
        for py in ["python3.9", "python3.12"] {
            let capi = lib.join(py).join("site-packages/onnxruntime/capi");
            std::fs::create_dir_all(&capi).expect("mkdir");
            std::fs::write(capi.join("libonnxruntime.so.1.32.0"), b"").expect("write");
            std::fs::write(capi.join("libonnxruntime_providers_shared.so"), b"").expect("write");
        }
        let sites = site_packages(&lib);
        assert!(sites[0].ends_with("python3.12/site-packages"), "{sites:?}");
        let found = wheel_library(&sites[0]).expect("found");
        assert!(found.ends_with("python3.12/site-packages/onnxruntime/capi/libonnxruntime.so.1.32.0"));
        assert_eq!(wheel_library(dir.path()), None);
    }

    #[test]
    fn an_explicit_file_that_does_not_exist_stops_the_search() {
        let got = locate(Some(Path::new("/nonexistent/libonnxruntime.so")));
        match got {
            Located::NotFound(why) => assert!(why.contains("--ort-dylib names /nonexistent"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
