//! The mobile libraries: `libtandem_ffi.so` per Android ABI, and the iOS XCFramework.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::bindings::generate;
use crate::util::{cargo, run, Error, Result};

/// Android ABIs and the Rust targets cargo-ndk builds for them.
const ANDROID_TARGETS: [(&str, &str); 3] = [
    ("arm64-v8a", "AARCH64_LINUX_ANDROID"),
    ("armeabi-v7a", "ARMV7_LINUX_ANDROIDEABI"),
    ("x86_64", "X86_64_LINUX_ANDROID"),
];

/// `cargo xtask android [PROFILE]`: builds `libtandem_ffi.so` for each Android ABI into the
/// library's jniLibs, with cargo-ndk.
///
/// Needs: rustup targets aarch64-linux-android armv7-linux-androideabi x86_64-linux-android,
/// `cargo install cargo-ndk`, and ANDROID_NDK_HOME (or ANDROID_HOME with an NDK r27+
/// installed). Every .so is linked with 16 KB page alignment (required for Android 15+ devices
/// with 16 KB pages, and for Play from November 2025).
pub fn android(profile: &str) -> Result<()> {
    let out = "android/tandem/src/main/jniLibs";
    let align = "-C link-arg=-Wl,-z,max-page-size=16384";
    let mut ndk = cargo();
    // Per-target flags, so a user's own RUSTFLAGS and host builds (build scripts) are untouched.
    for (_, target) in ANDROID_TARGETS {
        let var = format!("CARGO_TARGET_{target}_RUSTFLAGS");
        let user = std::env::var(&var).unwrap_or_default();
        ndk.env(&var, format!("{user} {align}"));
    }
    ndk.arg("ndk");
    for (abi, _) in ANDROID_TARGETS {
        ndk.args(["-t", abi]);
    }
    ndk.args(["--platform", "26", "-o", out, "build", "--profile", profile, "-p", "tandem-bindings"]);
    run(&mut ndk)?;
    let abis: Vec<&str> = ANDROID_TARGETS.iter().map(|(abi, _)| *abi).collect();
    println!("built libtandem_ffi.so ({profile}) into {out}/{{{}}}", abis.join(","));
    Ok(())
}

/// Rust targets of the iOS XCFramework: devices, then the two simulator slices.
const IOS_TARGETS: [&str; 3] = ["aarch64-apple-ios", "aarch64-apple-ios-sim", "x86_64-apple-ios"];

/// `cargo xtask ios [PROFILE]`: builds `ios/TandemFFI.xcframework` and the Swift bindings, on
/// macOS with Xcode (`rustup target add aarch64-apple-ios aarch64-apple-ios-sim
/// x86_64-apple-ios` first):
///
/// 1. cargo builds `libtandem_ffi.a` for devices (arm64) and simulators (arm64, x86_64);
/// 2. lipo joins the two simulator slices;
/// 3. uniffi-bindgen (from the host build) writes the Swift bindings (one file per crate), the
///    C headers and the module map, copied into `ios/Sources/Tandem/Generated`;
/// 4. xcodebuild -create-xcframework packs the libraries with the headers and module map.
pub fn ios(profile: &str) -> Result<()> {
    if !cfg!(target_os = "macos") || !crate::util::on_path("xcodebuild") {
        return Err(Error::Other("needs macOS with Xcode (xcodebuild, lipo)".into()));
    }
    let deployment_target = std::env::var("IPHONEOS_DEPLOYMENT_TARGET").unwrap_or_else(|_| "15.0".into());
    let work = Path::new("target/ios");
    if work.exists() {
        fs::remove_dir_all(work)?;
    }
    fs::create_dir_all(work.join("headers"))?;
    fs::create_dir_all(work.join("simulator"))?;
    for target in IOS_TARGETS {
        println!("== cargo build --target {target} --profile {profile}");
        run(cargo().env("IPHONEOS_DEPLOYMENT_TARGET", &deployment_target).args([
            "build",
            "-p",
            "tandem-bindings",
            "--lib",
            "--target",
            target,
            "--profile",
            profile,
        ]))?;
    }

    println!("== lipo (simulators)");
    let target_dir = crate::util::target_dir()?;
    let lib = |target: &str| target_dir.join(target).join(profile).join("libtandem_ffi.a");
    let simulator = work.join("simulator/libtandem_ffi.a");
    run(Command::new("lipo")
        .arg("-create")
        .arg(lib("aarch64-apple-ios-sim"))
        .arg(lib("x86_64-apple-ios"))
        .arg("-output")
        .arg(&simulator))?;

    println!("== uniffi-bindgen swift");
    generate(Path::new("target/uniffi"), &["swift"], crate::util::env_flag("TANDEM_BUILD_ALL"))?;
    copy_swift_bindings(Path::new("target/uniffi/swift"), &work.join("headers"))?;

    println!("== xcodebuild -create-xcframework");
    let framework = Path::new("ios/TandemFFI.xcframework");
    if framework.exists() {
        fs::remove_dir_all(framework)?;
    }
    let headers = work.join("headers");
    run(Command::new("xcodebuild")
        .args(["-create-xcframework", "-library"])
        .arg(lib("aarch64-apple-ios"))
        .arg("-headers")
        .arg(&headers)
        .arg("-library")
        .arg(&simulator)
        .arg("-headers")
        .arg(&headers)
        .arg("-output")
        .arg(framework))?;
    println!("built ios/TandemFFI.xcframework and the Swift sources in ios/Sources/Tandem/Generated");
    Ok(())
}

/// Headers and module map into `headers` (inside an XCFramework the module map must be called
/// `module.modulemap`); the Swift sources into the `Tandem` target. `Tandem.swift` (the
/// bindings of `tandem_ffi`) becomes `TandemBindings.swift`: the hand-written API has a
/// `Tandem.swift`, and one target cannot hold two files of the same name.
fn copy_swift_bindings(generated: &Path, headers: &Path) -> Result<()> {
    let sources = Path::new("ios/Sources/Tandem/Generated");
    if sources.exists() {
        fs::remove_dir_all(sources)?;
    }
    fs::create_dir_all(sources)?;
    for entry in fs::read_dir(generated)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match path.extension().and_then(|e| e.to_str()) {
            Some("h") => fs::copy(&path, headers.join(&name)).map(drop)?,
            Some("modulemap") => fs::copy(&path, headers.join("module.modulemap")).map(drop)?,
            Some("swift") if name == "Tandem.swift" => {
                fs::copy(&path, sources.join("TandemBindings.swift")).map(drop)?
            }
            Some("swift") => fs::copy(&path, sources.join(&name)).map(drop)?,
            _ => {}
        }
    }
    Ok(())
}

/// `cargo xtask mobile-scripts`: the release scripts that cannot run for real here, tested on
/// fakes: the gradlew bootstrap (a fake distribution: checksum enforced, arguments passed), the
/// 16 KB page-alignment check (host libraries linked with 4 KB and 16 KB pages, and an AAR),
/// and the SwiftPM release manifest (a fake XCFramework zip: url and checksum).
pub fn test_scripts() -> Result<()> {
    for script in [
        "android/scripts/test-gradlew.sh",
        "android/scripts/test-16kb-alignment.sh",
        "ios/scripts/test-release-manifest.sh",
    ] {
        println!("== {script}");
        run(Command::new("bash").arg(script))?;
    }
    Ok(())
}
