//! `tandem export` and `tandem edge --engine` as a user runs them.

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tandem(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tandem")).args(args).current_dir(repo()).output().expect("tandem runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn export_writes_a_triton_repository_manifest_and_test_vectors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("repo");
    let vectors = dir.path().join("vectors");
    let (out_s, vec_s) = (out.to_str().expect("utf-8"), vectors.to_str().expect("utf-8"));
    let o = tandem(&[
        "export",
        "models/tiny_resnet.onnx",
        "--cuts",
        "0,3,11",
        "--out",
        out_s,
        "--test-vectors",
        vec_s,
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let entry: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(entry["name"], "tiny_resnet");
    let served: Vec<&str> =
        entry["cuts"].as_array().expect("cuts").iter().map(|c| c["served_name"].as_str().unwrap()).collect();
    assert_eq!(served, ["tiny_resnet_cut0", "tiny_resnet_cut3", "tiny_resnet_cut11"]);
    for name in served {
        assert!(out.join(name).join("1/model.onnx").is_file(), "{name}");
        let config = std::fs::read_to_string(out.join(name).join("config.pbtxt")).expect("config");
        assert!(
            config.contains(&format!("name: \"{name}\""))
                && config.contains("platform: \"onnxruntime_onnx\"")
        );
        assert!(vectors.join(name).join("vectors.json").is_file(), "{name}");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("tandem-manifest.json")).expect("manifest"))
            .expect("JSON");
    assert_eq!(manifest["format"], "tandem-export/1");
    assert_eq!(manifest["models"][0]["model_hash"], entry["model_hash"]);
}

#[test]
fn export_refuses_bad_cut_lists_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("utf-8");
    for (cuts, want) in
        [("27", "last cut"), ("99", "unknown cut 99"), ("3-1", "reversed"), ("x", "not a cut id")]
    {
        let o = tandem(&["export", "models/tiny_resnet.onnx", "--cuts", cuts, "--out", out]);
        assert!(!o.status.success(), "--cuts {cuts} accepted");
        assert!(stderr(&o).contains(want), "--cuts {cuts}: `{}` lacks `{want}`", stderr(&o));
    }
    let o = tandem(&["export", "models/tiny_resnet.onnx", "--cuts", "1", "--out", out, "--name", "a/b"]);
    assert!(!o.status.success() && stderr(&o).contains("cannot name a served model"), "{}", stderr(&o));
}

#[test]
fn edge_engine_ort_without_its_library_fails_at_startup() {
    let o = tandem(&[
        "edge",
        "--model",
        "models/tiny_resnet.onnx",
        "--listen",
        "127.0.0.1:0",
        "--engine",
        "ort",
        "--ort-dylib",
        "/nonexistent/libonnxruntime.so",
    ]);
    assert!(!o.status.success());
    // Without the `ort` feature the build says so; with it, the library is missing.
    let err = stderr(&o);
    assert!(
        err.contains("cargo feature `ort`") || err.contains("loading ONNX Runtime from /nonexistent"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let o = tandem(&["edge", "--model", "models/tiny_resnet.onnx", "--engine", "torch"]);
    assert!(!o.status.success() && stderr(&o).contains("expected tract or ort"), "{}", stderr(&o));
}

/// `tandem edge` (default `--engine auto`) started with `env`, until it serves: its profile
/// of tiny_resnet and its log.
fn edge_profile_with_env(env: &[(&str, &str)]) -> (serde_json::Value, String) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tandem"));
    cmd.args([
        "edge",
        "--model",
        "models/tiny_resnet.onnx",
        "--listen",
        "127.0.0.1:0",
        "--profile-budget-s",
        "0",
    ])
    .current_dir(repo())
    .env("RUST_LOG", "info")
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("tandem edge starts");
    let mut log = String::new();
    let mut url = None;
    for line in BufReader::new(child.stderr.take().expect("stderr")).lines().map_while(Result::ok) {
        log.push_str(&line);
        log.push('\n');
        if let Some(u) = line.strip_prefix("tandem edge: serving ").and_then(|l| l.rsplit(" on ").next()) {
            url = Some(u.trim().to_string());
            break;
        }
    }
    let Some(url) = url else {
        let _ = child.kill();
        panic!("the edge did not start:\n{log}");
    };
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connects");
    write!(
        stream,
        "GET /v2/models/tiny_resnet/profile HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("sends");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("reads");
    let _ = child.kill();
    let _ = child.wait();
    let body = reply.split("\r\n\r\n").nth(1).unwrap_or_default();
    (serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {reply}")), log)
}

/// ONNX Runtime's library as the edge's search finds it on this machine (the test needs one).
fn onnxruntime_library() -> Option<String> {
    match tandem_edge::ort_locate::locate(None) {
        tandem_edge::ort_locate::Located::Found { path, .. } => Some(path.display().to_string()),
        tandem_edge::ort_locate::Located::NotFound(why) => {
            assert!(std::env::var_os("TANDEM_REQUIRE_ORT").is_none(), "TANDEM_REQUIRE_ORT is set: {why}");
            eprintln!("skipped: {why}");
            None
        }
    }
}

#[test]
fn edge_engine_auto_picks_onnxruntime_when_its_library_is_set_and_tract_when_not() {
    let Some(library) = onnxruntime_library() else { return };
    let (profile, log) = edge_profile_with_env(&[("ORT_DYLIB_PATH", &library)]);
    assert_eq!(profile["engine"]["name"], "onnxruntime", "{profile}\n{log}");
    assert_eq!(profile["engine"]["execution_provider"], "cpu", "{profile}");
    let reason = profile["engine"]["reason"].as_str().expect("a reason");
    assert!(
        reason.starts_with("auto:") && reason.contains(&library) && reason.contains("ORT_DYLIB_PATH"),
        "{reason}"
    );
    assert!(log.contains("engine name=onnxruntime"), "{log}");

    // ORT_DYLIB_PATH naming no file: the search stops there, and the edge serves with tract,
    // saying why in its log and its profile.
    let (profile, log) = edge_profile_with_env(&[("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")]);
    assert_eq!(profile["engine"]["name"], "tract", "{profile}\n{log}");
    assert!(profile["engine"].get("execution_provider").is_none(), "{profile}");
    let reason = profile["engine"]["reason"].as_str().expect("a reason");
    assert!(reason.contains("ORT_DYLIB_PATH names /nonexistent/libonnxruntime.so"), "{reason}");
    assert!(log.contains("engine auto:") && log.contains("serving with tract"), "{log}");
}
