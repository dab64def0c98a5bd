//! `tandem calibrate` on a real model and real photos: the sidecar it writes beside the model,
//! `tandem plan` reading it without a flag (the codec table contract), and a sidecar for
//! another model refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tandem(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tandem")).args(args).current_dir(repo()).output().expect("tandem runs")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

#[test]
fn calibrate_writes_the_sidecar_that_plan_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("tiny_resnet.onnx");
    std::fs::copy(repo().join("models/tiny_resnet.onnx"), &model).expect("copy model");
    let out = tandem(&[
        "calibrate",
        s(&model),
        "--inputs",
        "models/photos",
        "--preprocess",
        "unit",
        "--crops-per-image",
        "1",
        "--max-inputs",
        "4",
        "--cuts",
        "3,11,20",
    ]);
    ok(&out);
    let sidecar = dir.path().join("tiny_resnet.tandem.json");
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(&sidecar).expect("sidecar")).expect("JSON");
    let hash = tandem_sdk::Model::load(&model, &Default::default()).expect("model").hash().to_string();
    assert_eq!(meta["sha256"], hash.as_str());
    let cal = &meta["calibration"];
    assert_eq!((cal["task"].as_str(), cal["input_count"].as_u64()), (Some("classifier"), Some(4)));
    let cuts = cal["cuts"].as_array().expect("cuts");
    assert_eq!(cuts.iter().map(|c| c["cut"].as_u64().unwrap()).collect::<Vec<_>>(), [3, 11, 20]);
    for c in cuts {
        let codecs = c["codecs"].as_array().expect("codecs");
        assert_eq!(codecs.len(), 7, "every encoding measured: {c}");
        let by = |name: &str| codecs.iter().find(|k| k["encoding"] == name).expect(name);
        let fp32 = by("fp32");
        assert_eq!(fp32["mean_bytes"].as_f64(), c["fp32_bytes"].as_f64(), "fp32 is the raw size");
        assert_eq!(fp32["top1_agreement"], 1.0);
        let zstd = by("int8_zstd")["mean_bytes"].as_f64().unwrap();
        assert!(zstd * 3.0 < fp32["mean_bytes"].as_f64().unwrap(), "int8+zstd is well under a quarter: {c}");
        for k in codecs {
            assert!(k["p95_bytes"].as_f64().unwrap() >= k["mean_bytes"].as_f64().unwrap() * 0.5, "{k}");
            assert!(
                k["encode_ms"].as_f64().unwrap() >= 0.0 && k["min_cosine"].as_f64().unwrap() > 0.9,
                "{k}"
            );
        }
    }

    // tandem plan reads the sidecar beside the model: one table row per cut and allowed codec
    let plan_args = [
        "plan",
        s(&model),
        "--uplink-mbps",
        "0.13",
        "--rtt-ms",
        "100",
        "--network",
        "lte",
        "--objective",
        "latency",
        "--json",
    ];
    let plan: Value = serde_json::from_str(&ok(&tandem(&plan_args))).expect("JSON");
    for field in ["cut", "encoding", "bytes_up", "table"] {
        assert!(plan.get(field).is_some(), "missing `{field}`: {plan}");
    }
    let table = plan["table"].as_array().expect("table");
    for r in table {
        for field in ["cut", "encoding", "bytes_up", "allowed"] {
            assert!(r.get(field).is_some(), "row without `{field}`: {r}");
        }
    }
    let at = |cut: u64| -> Vec<&Value> { table.iter().filter(|r| r["cut"] == cut).collect() };
    let sidecar_bytes = |cut: usize, enc: &str| {
        cuts.iter().find(|c| c["cut"] == cut).unwrap()["codecs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["encoding"] == enc)
            .unwrap()["mean_bytes"]
            .as_f64()
            .unwrap()
    };
    let row = at(3).into_iter().find(|r| r["encoding"] == "int8_zstd").expect("int8_zstd at cut 3");
    assert_eq!(row["bytes_up"].as_f64(), Some(sidecar_bytes(3, "int8_zstd").round()), "calibrated bytes");
    assert!(at(5).iter().all(|r| r["encoding"] == "fp32"), "no packed codec where none was calibrated");
    assert!(at(3).len() > 1 && at(5).len() == 1);
    // at 0.13 Mbps the choice is a compressed cut, not raw float32
    if plan["cut"] != 27 {
        assert_ne!(plan["encoding"], "fp32", "{}", plan["reason"]);
    }

    // --out writes elsewhere
    let other = dir.path().join("other.json");
    ok(&tandem(&[
        "calibrate",
        s(&model),
        "--inputs",
        "models/photos",
        "--max-inputs",
        "1",
        "--cuts",
        "3",
        "--codecs",
        "int8_zstd",
        "--out",
        s(&other),
    ]));
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(&other).expect("--out")).expect("JSON");
    assert_eq!(
        meta["calibration"]["cuts"][0]["codecs"].as_array().map(Vec::len),
        Some(2),
        "fp32 and int8_zstd"
    );

    // a sidecar recording another model's hash is refused with a clear error
    let text = std::fs::read_to_string(&sidecar).unwrap().replace(&hash, &"0".repeat(64));
    std::fs::write(&sidecar, text).unwrap();
    let out = tandem(&plan_args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SHA-256") && err.contains("recalibrate"), "{err}");
}
