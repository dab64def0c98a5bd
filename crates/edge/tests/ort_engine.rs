//! The ONNX Runtime engine (`--engine ort`, and `auto` when the library is found) gives the
//! outputs of local tract execution for the whole model and cuts of every bundled model, and
//! its profile is measured with ONNX Runtime and says so.
//!
//! Needs ONNX Runtime's library, found as `tandem edge` finds it (`ORT_DYLIB_PATH`, the
//! onnxruntime wheel of a venv such as /tmp/tandem-ci-venv, python3's onnxruntime; see
//! `tandem_edge::ort_locate`). `scripts/setup-onnxruntime.sh` installs it. Without it the
//! tests say so and pass, unless `TANDEM_REQUIRE_ORT=1` (CI sets it): then they fail.
#![cfg(feature = "ort")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use tandem_edge::ort_locate::{locate, Located};
use tandem_edge::{EngineChoice, OrtOptions};
use tandem_model::encoding::Encoding;
use tandem_model::NamedTensor;
use tandem_protocol::wire::param;

/// Whether ONNX Runtime's library is found; fails when it must be (`TANDEM_REQUIRE_ORT=1`).
fn onnxruntime_found() -> bool {
    match locate(None) {
        Located::Found { .. } => true,
        Located::NotFound(why) => {
            assert!(std::env::var_os("TANDEM_REQUIRE_ORT").is_none(), "TANDEM_REQUIRE_ORT is set: {why}");
            eprintln!("skipped: {why}");
            false
        }
    }
}

fn ort_builder(models: &[&str]) -> tandem_edge::EdgeServerBuilder {
    builder(models).engine(EngineChoice::Ort).ort_options(OrtOptions::default())
}

/// Two engines agree to float32 rounding: absolute 1e-4 plus 1e-5 of the value (the face
/// detector's box outputs reach ~540).
fn assert_engines_agree(got: &[NamedTensor], want: &[NamedTensor], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: output count");
    for (g, w) in got.iter().zip(want) {
        assert_eq!((&g.name, g.dtype, &g.shape), (&w.name, w.dtype, &w.shape), "{what}");
        let (gv, wv) = (g.to_f32().expect("float"), w.to_f32().expect("float"));
        let worst =
            gv.iter().zip(&wv).map(|(a, b)| (a - b).abs() - (1e-4 + 1e-5 * b.abs())).fold(f32::MIN, f32::max);
        assert!(
            worst <= 0.0,
            "{what}: `{}` differs by {} (beyond tolerance by {worst})",
            g.name,
            g.max_abs_diff(w)
        );
    }
}

#[tokio::test]
async fn onnxruntime_engine_matches_local_execution_on_every_bundled_model() {
    if !onnxruntime_found() {
        return;
    }
    let models = ["tiny_resnet", "mobilenetv2", "face_embedder", "face_detector"];
    let edge = start(ort_builder(&models)).await;
    let client = client();
    for model in models {
        let meta = send(client.get(format!("{}/v2/models/{model}", edge.url()))).await.json();
        assert_eq!(meta["platform"], "tandem_onnxruntime");
        let local = local(model);
        let input = input(model);
        let last = local.model().last_cut();
        // Both ends, a few cuts in between (multi-tensor ones included), and the last cut
        // (nothing left to run: an identity part).
        let cuts = [0, 1, last / 4, last / 2, 3 * last / 4, last - 1, last];
        for cut in cuts {
            let crossing = local.run_before(cut, &input).expect("before");
            let want = local.run_after(cut, &crossing).expect("after");
            let reply = infer_binary(
                &client,
                &edge,
                model,
                &encode_all(&crossing, Encoding::Fp32),
                &hashed(model),
                None,
            )
            .await;
            let got = reply.decode();
            assert_eq!(got.parameters[param::CUT], cut);
            assert_engines_agree(&sorted_like(got.outputs, model), &want, &format!("{model} cut {cut}"));
        }
    }
    // Wrong shapes are refused before ONNX Runtime sees them.
    let local = local("tiny_resnet");
    let mut crossing = local.run_before(2, &input("tiny_resnet")).expect("before");
    crossing[0].shape = vec![1, 16, 64, 8];
    let reply = infer_binary(
        &client,
        &edge,
        "tiny_resnet",
        &encode_all(&crossing, Encoding::Fp32),
        &hashed("tiny_resnet"),
        None,
    )
    .await;
    assert_eq!(reply.status, reqwest::StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&reply.body));
    edge.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_profile_is_measured_with_onnxruntime() {
    if !onnxruntime_found() {
        return;
    }
    let edge = start(ort_builder(&["tiny_resnet"]).profile_budget(Duration::from_secs(60))).await;
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(60);
    let profile = loop {
        let p = send(client.get(format!("{}/v2/models/tiny_resnet/profile", edge.url()))).await.json();
        if p["status"] == "done" || Instant::now() > deadline {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(profile["status"], "done", "{profile}");
    let cuts = profile["cuts"].as_array().expect("cuts");
    assert!(
        cuts.iter().all(|c| c["measured"] == true && c["after_ms"].as_f64().is_some_and(|t| t >= 0.0)),
        "{profile}"
    );
    assert_eq!(profile["engine"]["name"], "onnxruntime", "{profile}");
    assert_eq!(profile["engine"]["execution_provider"], "cpu", "no GPU here: {profile}");
    edge.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn auto_serves_with_onnxruntime_and_agrees_with_a_tract_edge() {
    if !onnxruntime_found() {
        return;
    }
    let model = "face_embedder";
    let auto = start(builder(&[model]).engine(EngineChoice::Auto)).await;
    let tract = start(builder(&[model]).engine(EngineChoice::Tract)).await;
    assert_eq!(auto.engine().name, "onnxruntime", "{:?}", auto.engine());
    assert_eq!(tract.engine().name, "tract", "{:?}", tract.engine());
    let client = client();
    let meta = send(client.get(format!("{}/v2/models/{model}", auto.url()))).await.json();
    assert_eq!(meta["platform"], "tandem_onnxruntime");
    let profile = send(client.get(format!("{}/v2/models/{model}/profile", auto.url()))).await.json();
    assert_eq!(profile["engine"]["name"], "onnxruntime", "{profile}");
    assert!(profile["engine"]["reason"].as_str().is_some_and(|r| r.starts_with("auto:")), "{profile}");
    let profile = send(client.get(format!("{}/v2/models/{model}/profile", tract.url()))).await.json();
    assert_eq!(profile["engine"]["name"], "tract", "{profile}");
    // The same crossing tensors through both real edges, at both ends and between.
    let local = local(model);
    let last = local.model().last_cut();
    for cut in [1, last / 3, 2 * last / 3, last - 1] {
        let crossing = local.run_before(cut, &input(model)).expect("before");
        let body = encode_all(&crossing, Encoding::Fp32);
        let mut outputs = vec![];
        for edge in [&auto, &tract] {
            let reply = infer_binary(&client, edge, model, &body, &hashed(model), None).await;
            outputs.push(sorted_like(reply.decode().outputs, model));
        }
        assert_engines_agree(&outputs[0], &outputs[1], &format!("{model} cut {cut}: onnxruntime vs tract"));
    }
    auto.shutdown().await.expect("clean shutdown");
    tract.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn zero_threads_are_a_configuration_error() {
    // (A missing library is tested through the CLI, in a fresh process: cli/tests/export.rs.)
    let err = builder(&["tiny_resnet"])
        .engine(EngineChoice::Ort)
        .ort_options(OrtOptions { dylib: None, intra_threads: 0 })
        .bind("127.0.0.1:0")
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("thread"), "{err}");
}
