//! The Kotlin and Swift bindings: generation (UniFFI library mode), the Kotlin tests on the
//! desktop JVM, and the Swift parse check.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, cargo, env_flag, run, Error, Result};

/// Per-crate UniFFI settings of the core crates (Kotlin packages, Swift file names), next to
/// `bindings/uniffi.toml`, the settings of `tandem_ffi` itself.
const CRATES_CONFIG: &str = "bindings/uniffi-crates.toml";
/// The C module every generated Swift file imports: one module map lists every crate's header.
const SWIFT_FFI_MODULE: &str = "TandemFFI";

/// `cargo xtask generate [OUT] [kotlin] [swift]`.
pub fn generate_cmd(args: &[String]) -> Result<()> {
    let out = args.first().map_or("target/uniffi", String::as_str);
    let languages: Vec<&str> =
        if args.len() > 1 { args[1..].iter().map(String::as_str).collect() } else { vec!["kotlin", "swift"] };
    generate(Path::new(out), &languages, env_flag("TANDEM_BUILD_ALL"))
}

/// Generates the bindings of `languages` into `out/<language>` from the host-built library.
///
/// Writes `out/kotlin/dev/tandem/**.kt` (one file per crate: `dev.tandem` for the API of
/// `tandem_ffi`, `dev.tandem.{model,planner,sdk}` for the core's records) and
/// `out/swift/{Tandem,TandemModel,TandemPlanner,TandemSdk}.swift`, their C headers and one
/// `TandemFFI.modulemap`. Generated code is not committed: CI, the Android build
/// (android/tandem/build.gradle.kts) and the iOS build run this. The interface UniFFI reads
/// from the library is the same on every target, so bindings generated from the host build fit
/// the Android and iOS builds of the same source.
///
/// With `build_all` the whole workspace is built (CI: one feature resolution, as cargo test
/// has it; building single packages resolves features differently, without dev-dependencies,
/// and would rebuild half the dependency tree).
pub fn generate(out: &Path, languages: &[&str], build_all: bool) -> Result<()> {
    for language in languages {
        if !matches!(*language, "kotlin" | "swift") {
            return Err(Error::Usage(format!("unknown language `{language}` (kotlin or swift)")));
        }
    }
    if build_all {
        run(cargo().args(["build", "--quiet", "--workspace", "--all-targets"]))?;
    } else {
        run(cargo().args(["build", "--quiet", "-p", "tandem-bindings", "-p", "tandem-uniffi-bindgen"]))?;
    }
    let debug = util::target_dir()?.join("debug");
    let lib = debug.join(if cfg!(target_os = "macos") { "libtandem_ffi.dylib" } else { "libtandem_ffi.so" });
    for language in languages {
        let dir = out.join(language);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        run(Command::new(debug.join("uniffi-bindgen"))
            .args(["generate", "--library"])
            .arg(&lib)
            .args(["--language", language, "--out-dir"])
            .arg(&dir)
            .args(["--no-format", "--config", CRATES_CONFIG]))?;
        if *language == "swift" {
            write_swift_modulemap(&dir)?;
        }
        println!("generated {language} bindings in {}", dir.display());
    }
    Ok(())
}

/// Replaces the per-crate module maps UniFFI writes (each declaring the same C module) with one
/// `TandemFFI.modulemap` that lists every crate's header.
fn write_swift_modulemap(dir: &Path) -> Result<()> {
    let mut headers = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("h") => headers.push(file_name(&path)),
            Some("modulemap") => fs::remove_file(&path)?,
            _ => {}
        }
    }
    headers.sort();
    let mut map = format!("module {SWIFT_FFI_MODULE} {{\n");
    for h in &headers {
        map.push_str(&format!("    header \"{h}\"\n"));
    }
    map.push_str(
        "    export *\n    use \"Darwin\"\n    use \"_Builtin_stdbool\"\n    use \"_Builtin_stdint\"\n}\n",
    );
    fs::write(dir.join(format!("{SWIFT_FFI_MODULE}.modulemap")), map)?;
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// `cargo xtask kotlin`: the desktop verification of the Android library's Kotlin (what CI
/// runs): builds the host cdylib (`libtandem_ffi.so`) and the `tandem` CLI (the edge server),
/// generates the Kotlin bindings, then compiles generated and hand-written Kotlin with Maven
/// and runs the JUnit 5 tests against the library, with a real `tandem edge` on loopback, and
/// the Robolectric tests of the Android platform signals. Maven downloads its plugins and
/// dependencies on the first run (to ~/.m2); later runs are offline-capable. `MAVEN_ARGS`
/// adds flags (e.g. `-o` once ~/.m2 is warm).
pub fn kotlin() -> Result<()> {
    ensure_maven()?;
    println!("== build libtandem_ffi and the tandem CLI (the whole workspace, as cargo test resolves it)");
    run(cargo().args(["build", "--quiet", "--workspace", "--all-targets"]))?;
    println!("== generate Kotlin bindings");
    generate(Path::new("target/uniffi"), &["kotlin"], true)?;

    println!("== mvn test (android/jvm-test)");
    let root = std::env::current_dir()?;
    let debug = util::target_dir()?.join("debug");
    let mut mvn = maven(true);
    mvn.args(["-f", "android/jvm-test/pom.xml", "test"])
        .arg(define("uniffi.kotlin.dir", &root.join("target/uniffi/kotlin")))
        .arg(define("tandem.lib.dir", &debug))
        .arg(define("tandem.cli", &debug.join("tandem")))
        .arg(define("tandem.models", &root.join("models")));
    run(&mut mvn)?;
    surefire_totals(&root.join("android/jvm-test/target/surefire-reports"))
}

/// `cargo xtask publish-jvm`: the "add the SDK" path on the JVM. Deploys `dev.tandem:tandem-jvm`
/// (generated bindings + `android/tandem/src/main/kotlin`, with the host `libtandem_ffi.so` in
/// the jar) to the file repository `target/maven-repo`, then runs the separate project
/// `android/consumer`, which declares only that dependency, against it: its test splits an
/// inference with a real `tandem edge`. Expects the host library, the CLI and the Kotlin
/// bindings built (`cargo xtask kotlin` builds them; CI runs this right after it). The SDK's
/// copy in ~/.m2 is removed first, so the consumer resolves it from `target/maven-repo`.
pub fn publish_jvm() -> Result<()> {
    ensure_maven()?;
    let root = std::env::current_dir()?;
    let debug = util::target_dir()?.join("debug");
    let kotlin = root.join("target/uniffi/kotlin");
    if !kotlin.is_dir() || !debug.join("libtandem_ffi.so").is_file() {
        generate(Path::new("target/uniffi"), &["kotlin"], true)?;
    }
    let repo = root.join("target/maven-repo");
    if repo.exists() {
        fs::remove_dir_all(&repo)?;
    }
    println!("== mvn deploy dev.tandem:tandem-jvm to {}", repo.display());
    run(maven(true)
        .args(["-f", "android/jvm-artifact/pom.xml", "deploy"])
        .arg(define("uniffi.kotlin.dir", &kotlin))
        .arg(define("tandem.lib.dir", &debug)))?;
    if let Some(home) = std::env::var_os("HOME") {
        let cached = Path::new(&home).join(".m2/repository/dev/tandem/tandem-jvm");
        if cached.exists() {
            fs::remove_dir_all(&cached)?;
        }
    }
    println!("== mvn test android/consumer (the SDK from {} only)", repo.display());
    run(maven(true)
        .args(["-f", "android/consumer/pom.xml", "test"])
        .arg(format!("-Dtandem.repo=file://{}", repo.display()))
        .arg(define("tandem.cli", &debug.join("tandem")))
        .arg(define("tandem.models", &root.join("models"))))?;
    surefire_totals(&root.join("android/consumer/target/surefire-reports"))
}

/// `mvn -q -B -Dstyle.color=never`: quiet, batch, no colours in CI logs; with `extra_args`,
/// followed by the flags in `MAVEN_ARGS`.
pub fn maven(extra_args: bool) -> Command {
    let mut mvn = Command::new("mvn");
    mvn.args(["-q", "-B", "-Dstyle.color=never"]);
    if let (true, Ok(extra)) = (extra_args, std::env::var("MAVEN_ARGS")) {
        mvn.args(extra.split_whitespace());
    }
    mvn
}

fn define(name: &str, path: &Path) -> String {
    format!("-D{name}={}", path.display())
}

/// Maven and a JDK 17+, installed with apt when missing and we are root.
fn ensure_maven() -> Result<()> {
    if util::on_path("mvn") && util::on_path("javac") {
        return Ok(());
    }
    if is_root() && util::on_path("apt-get") {
        println!("== installing Maven and a JDK (apt)");
        return run(Command::new("sh").args([
            "-c",
            "apt-get update -qq && apt-get install -y -qq maven default-jdk-headless >/dev/null",
        ]));
    }
    Err(Error::Other("needs Maven (mvn) and a JDK 17+".into()))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Surefire is quiet with -q: prints its totals so the run shows what it ran; fails when
/// nothing ran or anything failed.
fn surefire_totals(reports: &Path) -> Result<()> {
    let (mut tests, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);
    for entry in fs::read_dir(reports)? {
        let path = entry?.path();
        let name = file_name(&path);
        if !(name.starts_with("TEST-") && name.ends_with(".xml")) {
            continue;
        }
        let xml = fs::read_to_string(&path)?;
        let Some(start) = xml.find("<testsuite") else { continue };
        let tag = &xml[start..start + xml[start..].find('>').unwrap_or(xml.len() - start)];
        tests += xml_count(tag, "tests");
        failures += xml_count(tag, "failures");
        errors += xml_count(tag, "errors");
        skipped += xml_count(tag, "skipped");
    }
    let passed = tests.saturating_sub(failures + errors + skipped);
    println!("kotlin: {passed} passed, {} failed, {skipped} skipped", failures + errors);
    if tests == 0 || failures + errors > 0 {
        return Err(Error::Other("the Kotlin tests failed or none ran".into()));
    }
    Ok(())
}

/// The integer attribute `name="N"` of an XML start tag (0 if absent).
fn xml_count(tag: &str, name: &str) -> u64 {
    let key = format!(" {name}=\"");
    tag.find(&key)
        .and_then(|i| tag[i + key.len()..].split('"').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `cargo xtask swift`: parses every Swift file of the project with tree-sitter-swift (the
/// generated bindings, and everything hand-written under ios/ and sample-apps/) and fails on
/// any syntax error, printing file:line:column of each. Swift cannot be compiled on the Linux
/// CI: this is a syntax check only. The parser lives in the venv (`TANDEM_VENV`), created on
/// first use.
pub fn swift() -> Result<()> {
    let venv = util::venv();
    let python = venv.join("bin/python");
    if !util::works(&python.to_string_lossy(), &["-c", "import tree_sitter, tree_sitter_swift"]) {
        println!("== installing tree-sitter and tree-sitter-swift into {}", venv.display());
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        run(Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "tree-sitter>=0.23,<0.27",
            "tree-sitter-swift>=0.7,<0.8",
        ]))?;
    }
    println!("== generate Swift bindings");
    generate(Path::new("target/uniffi"), &["swift"], env_flag("TANDEM_BUILD_ALL"))?;

    let mut files = Vec::new();
    for dir in ["target/uniffi/swift", "ios", "sample-apps"] {
        swift_files(Path::new(dir), &mut files)?;
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::Other("no Swift files found".into()));
    }
    println!("== parse {} Swift files", files.len());
    run(Command::new(&python).arg("bindings/scripts/parse_swift.py").args(&files))
}

/// Every `*.swift` under `dir`, skipping SwiftPM's `.build` folders.
fn swift_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(()) };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            if file_name(&path) != ".build" {
                swift_files(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "swift") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_surefire_counts() {
        let tag = r#"<testsuite xmlns:xsi="x" name="dev.tandem.LocalInferenceTest" time="1.2" tests="3" errors="0" skipped="1" failures="1""#;
        assert_eq!(xml_count(tag, "tests"), 3);
        assert_eq!(xml_count(tag, "failures"), 1);
        assert_eq!(xml_count(tag, "skipped"), 1);
        assert_eq!(xml_count(tag, "errors"), 0);
        assert_eq!(xml_count(tag, "flakes"), 0);
    }
}
