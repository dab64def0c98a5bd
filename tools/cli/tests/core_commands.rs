//! The `tandem` command as a user runs it: cuts, verify, run, profile, and its bad-input errors.

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tandem(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tandem")).args(args).current_dir(repo()).output().expect("tandem runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn cuts_json_lists_ids_tensors_bytes_and_macs() {
    let out = tandem(&["cuts", "models/tiny_resnet.onnx", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cuts: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let cuts = cuts.as_array().expect("array");
    assert_eq!(cuts.len(), 28);
    for (i, c) in cuts.iter().enumerate() {
        assert_eq!(c["id"], i);
        assert!(c["tensors"].as_array().is_some_and(|t| !t.is_empty()));
        assert!(c["bytes"].as_u64().is_some_and(|b| b > 0));
        assert!(c["macs_before"].is_u64() && c["macs_after"].is_u64());
    }
    assert_eq!(cuts[0]["tensors"][0]["name"], "input");
    assert_eq!(cuts[0]["bytes"], 3 * 32 * 32 * 4);
    assert_eq!(cuts[0]["reveals_input"], true, "cut 0 sends the input");
    assert_eq!(cuts[1]["reveals_input"], false, "tiny_resnet starts with a convolution");
}

#[test]
fn verify_passes_and_prints_the_summary_line_last() {
    let out =
        tandem(&["verify", "models/tiny_resnet.onnx", "--input", "models/testdata/tiny_resnet_input.npy"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let last = stdout(&out).lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("verified 28 cuts, max_abs_diff "), "{last}");
    let diff: f64 = last.rsplit(' ').next().and_then(|d| d.parse().ok()).expect("a number");
    assert!(diff < 1e-4);
}

#[test]
fn run_whole_and_split_give_the_same_output_file() {
    let dir = std::env::temp_dir().join(format!("tandem-cli-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let whole = dir.join("whole.npy");
    let split = dir.join("split.npy");
    let input = "models/testdata/tiny_resnet_input.npy";
    for (path, cut) in [(&whole, None), (&split, Some("15"))] {
        let mut args = vec![
            "run",
            "models/tiny_resnet.onnx",
            "--input",
            input,
            "--output",
            path.to_str().expect("utf8"),
        ];
        if let Some(c) = cut {
            args.extend(["--cut", c]);
        }
        let out = tandem(&args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let a = tandem_model::npy::read_npy(&whole, "logits").expect("npy");
    let b = tandem_model::npy::read_npy(&split, "logits").expect("npy");
    assert_eq!(a.shape, vec![1, 10]);
    let expected =
        tandem_model::npy::read_npy(repo().join("models/testdata/tiny_resnet_expected_logits.npy"), "logits")
            .expect("reference");
    assert!(a.max_abs_diff(&b) < 1e-5);
    assert!(a.max_abs_diff(&expected) < 1e-4, "tract vs onnxruntime");
}

#[test]
fn profile_json_has_per_cut_times_and_bytes() {
    let out = tandem(&["profile", "models/tiny_resnet.onnx", "--runs", "1", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 28);
    for r in rows {
        assert!(r["before_ms"].as_f64().is_some_and(|t| t >= 0.0));
        assert!(r["after_ms"].as_f64().is_some_and(|t| t >= 0.0));
        assert!(r["bytes"].as_u64().is_some_and(|b| b > 0));
        assert!(r["id"].is_u64());
    }
}

#[test]
fn bad_input_gives_one_clear_line_and_a_non_zero_exit() {
    let dir = std::env::temp_dir().join(format!("tandem-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let garbage = dir.join("garbage.onnx");
    std::fs::write(&garbage, b"not a model").expect("write");
    let bad_npy = dir.join("bad.npy");
    std::fs::write(&bad_npy, b"\x93NUMPY nope").expect("write");
    let wrong_shape = "models/testdata/mobilenetv2_input.npy";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["cuts", "models/nope.onnx"], "models/nope.onnx"),
        (vec!["cuts", garbage.to_str().expect("utf8")], "not a valid ONNX model"),
        (vec!["verify", "models/tiny_resnet.onnx", "--input", bad_npy.to_str().expect("utf8")], "bad .npy"),
        (vec!["verify", "models/tiny_resnet.onnx", "--input", wrong_shape], "`input`"),
        (
            vec![
                "run",
                "models/tiny_resnet.onnx",
                "--input",
                "models/testdata/tiny_resnet_input.npy",
                "--output",
                "/tmp/x.npy",
                "--cut",
                "99",
            ],
            "unknown cut 99",
        ),
    ];
    for (args, needle) in cases {
        let out = tandem(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line, got {err}");
        assert!(lines[0].starts_with("error: ") && lines[0].contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn cuts_table_shows_each_cut_dtype_and_a_uint8_cut_in_a_qdq_model() {
    let out = tandem(&["cuts", "models/qdq_cnn.onnx"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().any(|l| l.starts_with("privacy floor (--keep-raw-input): cut ")), "{text}");
    assert!(text.lines().nth(1).is_some_and(|header| header.contains("dtype")), "{text}");
    assert!(text.lines().any(|l| l.contains(" UINT8 ")), "{text}");
    assert!(text.lines().any(|l| l.contains(" FP32 ")), "{text}");
}

#[test]
fn verify_and_run_handle_shape_subgraphs_and_int64_token_ids() {
    for (model, input) in [
        ("models/tiny_vit.onnx", "models/testdata/tiny_vit_in_0.npy"),
        ("models/tiny_text_encoder.onnx", "models/testdata/tiny_text_encoder_in_0.npy"),
    ] {
        let out = tandem(&["verify", model, "--input", input]);
        assert!(out.status.success(), "{model}: {}", stderr(&out));
        assert!(stdout(&out).lines().last().is_some_and(|l| l.starts_with("verified ")), "{model}");
    }
    let dir = std::env::temp_dir().join(format!("tandem-cli-text-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let logits = dir.join("logits.npy");
    let out = tandem(&[
        "run",
        "models/tiny_text_encoder.onnx",
        "--input",
        "models/testdata/tiny_text_encoder_in_0.npy",
        "--output",
        logits.to_str().expect("utf8"),
        "--cut",
        "10",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = tandem_model::npy::read_npy(&logits, "logits").expect("npy");
    let want =
        tandem_model::npy::read_npy(repo().join("models/testdata/tiny_text_encoder_out_0.npy"), "logits")
            .expect("reference");
    assert!(got.max_abs_diff(&want) < 1e-4, "split tract vs onnxruntime");
}

#[test]
fn too_new_opset_unsupported_operator_and_symbolic_shapes_give_one_error_line() {
    for (args, needle) in [
        (vec!["cuts", "models/testdata/opset99.onnx"], "opset 99"),
        (vec!["cuts", "models/testdata/unsupported_det.onnx"], "operator `Det`"),
        (vec!["verify", "models/testdata/unsupported_det.onnx"], "node `/head/Det`"),
        (vec!["cuts", "models/tiny_text_encoder.onnx"], "`input_ids`"),
    ] {
        let out = tandem(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"));
    }
}
