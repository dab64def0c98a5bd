//! `cargo xtask <command>`: Tandem's build automation (the alias is in `.cargo/config.toml`).
//!
//! The shell scripts CI and the docs call (`scripts/test-all.sh`,
//! `bindings/scripts/test-kotlin.sh`, ...) are one-line calls of these commands.

mod bindings;
mod ci;
mod mobile;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  ci                      every test of the project: fmt, clippy, cargo test, then Kotlin,
                          the sample app's Kotlin, Swift, Python and scale-out
                          (TANDEM_RUST_ONLY=1 stops after cargo test)
  kotlin                  build the host library and the CLI, generate the Kotlin bindings,
                          run the Android library's JVM tests with Maven (MAVEN_ARGS: extra flags)
  swift                   generate the Swift bindings and parse every Swift file (tree-sitter)
  publish-jvm             deploy dev.tandem:tandem-jvm (API + host libtandem_ffi.so) to the file
                          repository target/maven-repo, then test android/consumer against it
  mobile-scripts          test the gradlew bootstrap, the 16 KB alignment check and the SwiftPM
                          release manifest script (on fakes: no Gradle, NDK or Xcode here)
  generate [OUT] [LANG..] generate the Kotlin and/or Swift bindings from the host library
                          (default: target/uniffi, kotlin swift)
  android [PROFILE]       libtandem_ffi.so per Android ABI with cargo-ndk (default: release-mobile)
  ios [PROFILE]           ios/TandemFFI.xcframework and the Swift sources, on macOS
                          (default: release-mobile)

Environment: TANDEM_BUILD_ALL=1 builds the whole workspace (one feature resolution, as cargo
test has it) instead of single packages; TANDEM_VENV is the Python venv of the checks
(default /tmp/tandem-ci-venv).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = util::enter_repo_root().and_then(|()| match command.as_str() {
        "ci" => no_args(rest).and_then(|()| ci::run_all()),
        "kotlin" => no_args(rest).and_then(|()| bindings::kotlin()),
        "swift" => no_args(rest).and_then(|()| bindings::swift()),
        "publish-jvm" => no_args(rest).and_then(|()| bindings::publish_jvm()),
        "mobile-scripts" => no_args(rest).and_then(|()| mobile::test_scripts()),
        "generate" => bindings::generate_cmd(rest),
        "android" => mobile::android(profile(rest)?),
        "ios" => mobile::ios(profile(rest)?),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(util::Error::Usage(format!("unknown command `{other}`"))),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(util::Error::Usage(msg)) => {
            eprintln!("xtask: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("xtask {command}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn no_args(rest: &[String]) -> util::Result<()> {
    match rest.first() {
        None => Ok(()),
        Some(a) => Err(util::Error::Usage(format!("unexpected argument `{a}`"))),
    }
}

/// The optional cargo profile argument of `android` and `ios`.
fn profile(rest: &[String]) -> util::Result<&str> {
    match rest {
        [] => Ok("release-mobile"),
        [p] => Ok(p.as_str()),
        [_, extra, ..] => Err(util::Error::Usage(format!("unexpected argument `{extra}`"))),
    }
}
