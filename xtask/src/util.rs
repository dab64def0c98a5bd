//! Running commands, and where things are.

use std::ffi::OsStr;
use std::fmt;
use std::path::PathBuf;
use std::process::Command;

/// Why a task failed.
#[derive(Debug)]
pub enum Error {
    /// Bad command line.
    Usage(String),
    /// A command could not start or failed.
    Command(String),
    /// Anything else: a missing tool, a file that could not be read or written.
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Command(m) | Error::Other(m) => f.write_str(m),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Other(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Makes the workspace root (the parent of this crate) the working directory: every path below
/// is relative to it, as in the scripts this replaces.
///
/// The crate's directory is the one `cargo run` gives at run time (`CARGO_MANIFEST_DIR` in the
/// environment), else the one compiled in: a binary built in another checkout (a target
/// directory copied between worktrees, whose fingerprints still match) would otherwise work on
/// that other checkout.
pub fn enter_repo_root() -> Result<()> {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let root = manifest_dir.parent().ok_or_else(|| Error::Other("no workspace root".into()))?;
    std::env::set_current_dir(root)?;
    Ok(())
}

/// The cargo target directory (`CARGO_TARGET_DIR`, default `target`), absolute.
pub fn target_dir() -> Result<PathBuf> {
    let dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    Ok(if dir.is_absolute() { dir } else { std::env::current_dir()?.join(dir) })
}

/// `cargo` as the one running us (`$CARGO`), so the same toolchain builds everything.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `cmd` with inherited stdio; fails unless it exits with status 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().map_err(|e| Error::Command(format!("cannot run {}: {e}", show(cmd))))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Command(format!("{} failed ({status})", show(cmd))))
    }
}

/// Whether `program` runs at all (found on PATH and executable), with `args`, quietly.
pub fn works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `program` is on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Whether an environment variable is set to `1`.
pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

/// The command line, for messages.
fn show(cmd: &Command) -> String {
    let args = cmd.get_args().map(OsStr::to_string_lossy).collect::<Vec<_>>().join(" ");
    format!("`{} {args}`", cmd.get_program().to_string_lossy())
}

/// The Python virtualenv the checks share (`TANDEM_VENV`, default `/tmp/tandem-ci-venv`).
pub fn venv() -> PathBuf {
    std::env::var_os("TANDEM_VENV").map_or_else(|| PathBuf::from("/tmp/tandem-ci-venv"), PathBuf::from)
}

/// Seconds since `start`, for stage headers.
pub fn stage(start: std::time::Instant, what: &str) {
    println!("\n== [{} s] {what}", start.elapsed().as_secs());
}
