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

/// The face crops as the embedder's input: `[1, 3, 150, 150]`, RGB 0..255.
fn face_crops() -> Vec<tandem_sdk::NamedTensor> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("models/testdata"))
        .expect("testdata")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with("_crop.png"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let img = image::open(f).expect("png").to_rgb8();
            let plane = 150 * 150;
            let mut values = vec![0f32; 3 * plane];
            for (i, px) in img.pixels().enumerate() {
                for c in 0..3 {
                    values[c * plane + i] = f32::from(px.0[c]);
                }
            }
            tandem_sdk::NamedTensor::from_f32("image", vec![1, 3, 150, 150], &values).expect("shape")
        })
        .collect()
}

fn distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum::<f64>().sqrt()
}

#[test]
fn face_match_decisions_are_unchanged_by_every_codec_the_committed_sidecar_allows() {
    use tandem_sdk::encoding::{self, Encoding};
    use tandem_sdk::meta::ModelMeta;
    let path = repo().join("models/face_embedder.onnx");
    let model = std::sync::Arc::new(tandem_sdk::Model::load(&path, &Default::default()).expect("model"));
    let meta =
        ModelMeta::load_beside_checked(&path, model.hash()).expect("valid").expect("committed sidecar");
    let cal = meta.calibration.expect("calibrated");
    let exec = tandem_sdk::Executor::new(model);
    let crops = face_crops();
    assert_eq!(crops.len(), 9);
    let embed =
        |t: &tandem_sdk::NamedTensor| exec.run_full(std::slice::from_ref(t)).unwrap()[0].to_f32().unwrap();
    let reference: Vec<Vec<f32>> = crops.iter().map(embed).collect();
    let decisions = |d: &[Vec<f32>]| -> Vec<bool> {
        (0..9)
            .flat_map(|i| (i + 1..9).map(move |j| (i, j)))
            .map(|(i, j)| distance(&d[i], &d[j]) < tandem_faceid::DLIB_THRESHOLD)
            .collect()
    };
    let want = decisions(&reference);
    assert!(want.contains(&true) && want.contains(&false), "both matches and non-matches: {want:?}");
    let mut checked = 0;
    for c in &cal.cuts {
        for k in c.codecs.iter().filter(|k| k.encoding != Encoding::Fp32 && k.meets(cal.task, 0.005)) {
            let got: Vec<Vec<f32>> = crops
                .iter()
                .map(|t| {
                    let crossing = exec.run_before(c.cut, std::slice::from_ref(t)).unwrap();
                    let decoded: Vec<_> = crossing
                        .iter()
                        .map(|x| {
                            encoding::decode_as(encoding::encode(x, k.encoding).unwrap(), &x.shape).unwrap()
                        })
                        .collect();
                    exec.run_after(c.cut, &decoded).unwrap()[0].to_f32().unwrap()
                })
                .collect();
            assert_eq!(decisions(&got), want, "cut {} {}", c.cut, k.encoding);
            checked += 1;
        }
    }
    assert!(checked >= 20, "the sidecar allows many codecs: {checked}");
}
