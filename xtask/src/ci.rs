//! `cargo xtask ci`: every test of the project (the README's test command, what CI runs).

use std::path::Path;
use std::time::Instant;

use crate::bindings;
use crate::util::{cargo, env_flag, run, stage, Result};
use std::process::Command;

/// Rust (fmt, clippy, ONNX Runtime's wheel into the venv, every crate's tests), then what runs outside cargo: the Kotlin of the
/// Android library and of the sample app on the desktop JVM (Maven), a syntax check of every
/// Swift file (tree-sitter-swift; Swift cannot be compiled on Linux), the official Python
/// Triton client against the edge server, and the scale-out tests (export under ONNX Runtime,
/// KServe's Python server, the edge's ONNX Runtime engine), and a bounded run of the request
/// decoder's fuzzer (nightly and cargo-fuzz, skipped without nightly). Python tools live in one venv
/// (`TANDEM_VENV`). `TANDEM_RUST_ONLY=1` stops after cargo test.
pub fn run_all() -> Result<()> {
    let start = Instant::now();
    stage(start, "rustfmt");
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    stage(start, "clippy");
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    // ONNX Runtime from PyPI (a venv), for the edge's default engine `auto`: the tests of the
    // ONNX Runtime engine then must find it (TANDEM_REQUIRE_ORT) instead of skipping.
    stage(start, "ONNX Runtime for the edge (scripts/setup-onnxruntime.sh)");
    run(Command::new("bash").arg(Path::new("scripts/setup-onnxruntime.sh")))?;
    std::env::set_var("TANDEM_REQUIRE_ORT", "1");
    stage(start, "cargo test");
    run(cargo().args(["test", "--workspace"]))?;
    if env_flag("TANDEM_RUST_ONLY") {
        return Ok(());
    }
    // The steps below build what they need with the same feature resolution as cargo test
    // (the Python scripts read it from the environment).
    std::env::set_var("TANDEM_BUILD_ALL", "1");

    stage(start, "Kotlin: generated bindings + Android library on the JVM (cargo xtask kotlin)");
    bindings::kotlin()?;
    stage(
        start,
        "Kotlin: publish tandem-jvm to a local repository, consumer project (cargo xtask publish-jvm)",
    );
    bindings::publish_jvm()?;
    stage(start, "Kotlin: FaceID sample app logic (sample-apps/android-faceid/jvm-check)");
    run(bindings::maven(false).args(["-f", "sample-apps/android-faceid/jvm-check/pom.xml", "test"]))?;
    stage(start, "Swift: parse every Swift file (cargo xtask swift)");
    bindings::swift()?;
    stage(
        start,
        "Release scripts on fakes: gradlew, 16 KB alignment, SwiftPM manifest (cargo xtask mobile-scripts)",
    );
    crate::mobile::test_scripts()?;
    stage(start, "Python: tritonclient[http] against tandem edge (scripts/test-python.sh)");
    run(Command::new("bash").arg(Path::new("scripts/test-python.sh")))?;
    stage(start, "Scale-out: export, KServe, ONNX Runtime engine (scripts/test-scaleout.sh)");
    run(Command::new("bash").arg(Path::new("scripts/test-scaleout.sh")))?;
    stage(start, "Fuzz: the request decoder, corpus replay then 60 s (scripts/fuzz.sh)");
    run(Command::new("bash").args(["scripts/fuzz.sh", "60"]))?;
    stage(start, "all tests passed");
    Ok(())
}
