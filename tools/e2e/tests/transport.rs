//! The one transport interface, both implementations against a real edge on loopback: the
//! Tandem client (every cut, Tandem encodings, the edge's own times and profile) and the
//! plain OIP client (a `tandem export` repository, each exported part served as its own
//! model, float32 only). And the session's report saying which encoding it actually sent.

use std::sync::Arc;
use std::time::Duration;

use tandem_e2e::{edge_builder, local_outputs, max_diff, model_path, on_network, quiet_config, seeded_input};
use tandem_export::Manifest;
use tandem_sdk::encoding::Encoding;
use tandem_sdk::planner::EdgeProfile;
use tandem_sdk::platform::FixedSignals;
use tandem_sdk::transport::{Exchange, Transport, VerifyError};
use tandem_sdk::{
    Decision, DeviceProfile, EdgeEndpoint, Executor, InferOptions, LinkEstimate, LoadOptions, Model,
    NetworkKind, PlainClient, PlainOip, Session, TandemClient, ThermalState,
};

const TIMEOUT: Duration = Duration::from_secs(5);

fn tiny() -> Model {
    Model::load(model_path("tiny_resnet"), &LoadOptions::default()).expect("the model loads")
}

fn estimate(model: &Model) -> EdgeProfile {
    let device = DeviceProfile::estimate(model.hash(), "test", model.cuts(), 20.0, ThermalState::Unknown);
    device.scaled_edge_profile(model.cuts(), 4.0)
}

/// The crossing tensors of `cut` for a seeded input, and the model's outputs for it.
fn crossing(model: &Model, cut: usize) -> (Vec<tandem_sdk::NamedTensor>, Vec<tandem_sdk::NamedTensor>) {
    let input = seeded_input(model, 3);
    let want = local_outputs(&model_path("tiny_resnet"), &input);
    let exec = Executor::new(Arc::new(tiny()));
    let crossing = exec.part_between(0, cut).expect("part").run(&input).expect("runs");
    (crossing, want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tandem_client_verifies_profiles_encodes_and_sends() {
    let edge = edge_builder().model_file(model_path("tiny_resnet")).bind("127.0.0.1:0").await.expect("edge");
    let model = tiny();
    let client = TandemClient::new(&EdgeEndpoint::new(edge.url()), &model, TIMEOUT).expect("client");
    assert_eq!((client.kind(), client.model_name()), ("Tandem edge", "tiny_resnet"));
    let caps = client.capabilities();
    assert!(caps.offloadable(0) && caps.offloadable(5) && caps.unusable(Encoding::Int8).is_none());
    assert!(client.probe_target().is_some());

    client.verify().await.expect("the edge serves this model file");
    let sample = client.fetch_profile(&estimate(&model)).await.expect("the profile").expect("a sample");
    assert!(sample.bytes_down > 0 && sample.upload_ms > 0.0);
    let profile = client.planning_profile(estimate(&model));
    assert_eq!((profile.cuts.len(), profile.hash.as_str()), (model.cuts().len(), model.hash()));

    let cut = 5;
    let (crossing, want) = crossing(&model, cut);
    let outgoing = client.encode("1", &crossing, Encoding::Fp16, &[], None);
    assert_eq!(outgoing.encoding, Encoding::Fp16);
    assert!(outgoing.decisions.is_empty());
    let link = LinkEstimate::fixed(100.0, 100.0, 1.0);
    let exchange = Exchange {
        cut,
        request: outgoing.body,
        expected: model.outputs(),
        link: &link,
        predicted_edge_ms: 1.0,
    };
    let answer = client.send(exchange).await.expect("the edge answers");
    assert!(max_diff(&answer.outputs, &want) <= 5e-2, "{}", max_diff(&answer.outputs, &want));
    assert_eq!(answer.edge_cut, Some(cut));
    assert!(answer.compute_ms > 0.0 && answer.bytes_down > 0);
    client.observe(cut, &answer);

    // Another file under the same name: never used.
    let other = edge_builder()
        .model("tiny_resnet", model_path("branchynet_fmnist"))
        .bind("127.0.0.1:0")
        .await
        .expect("edge");
    let wrong = TandemClient::new(&EdgeEndpoint::new(other.url()), &model, TIMEOUT).expect("client");
    assert!(matches!(wrong.verify().await, Err(VerifyError::Mismatch(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plain_client_sends_float32_to_the_exported_parts() {
    let model = tiny();
    let repo = tempfile::tempdir().expect("tempdir");
    tandem_export::export(&model, "tiny", &[0, 3], repo.path()).expect("exports");
    let manifest = Manifest::load(repo.path()).expect("the manifest");
    // The Tandem edge serves each exported part as a model of its own: a plain OIP server.
    let mut builder = edge_builder();
    for served in ["tiny_cut0", "tiny_cut3"] {
        builder = builder.model(served, repo.path().join(served).join("1").join("model.onnx"));
    }
    let edge = builder.bind("127.0.0.1:0").await.expect("edge");
    let client = PlainClient::new(&EdgeEndpoint::new(edge.url()), PlainOip::new(manifest), &model, TIMEOUT)
        .expect("client");
    assert_eq!((client.kind(), client.model_name()), ("plain OIP server", "tiny"));
    assert!(client.probe_target().is_none());

    let sample = client.verify().await.expect("the parts are ready").expect("a round-trip sample");
    assert!(sample.upload_ms > 0.0);
    assert!(client.fetch_profile(&estimate(&model)).await.expect("no profile to fetch").is_none());
    let caps = client.capabilities();
    assert_eq!(caps.offloadable_cuts, Some(vec![0, 3]));
    assert!(caps.unusable(Encoding::Fp16).is_some() && caps.unusable(Encoding::Fp32).is_none());

    let (crossing, want) = crossing(&model, 3);
    // Asked for fp16: a plain server takes float32 only, and the request says so.
    let outgoing = client.encode("1", &crossing, Encoding::Fp16, &[], None);
    assert_eq!(outgoing.encoding, Encoding::Fp32);
    assert!(matches!(
        outgoing.decisions.as_slice(),
        [Decision::EncodingChanged { planned: Encoding::Fp16, sent: Encoding::Fp32, .. }]
    ));
    let link = LinkEstimate::fixed(100.0, 100.0, 1.0);
    let exchange = Exchange {
        cut: 3,
        request: outgoing.body,
        expected: model.outputs(),
        link: &link,
        predicted_edge_ms: 2.0,
    };
    let answer = client.send(exchange).await.expect("the part answers");
    assert!(max_diff(&answer.outputs, &want) <= 1e-4, "{}", max_diff(&answer.outputs, &want));
    assert_eq!((answer.edge_cut, answer.queue_ms), (Some(3), 0.0));

    // A cut that was not exported is refused before anything is sent.
    let (crossing, _) = self::crossing(&model, 5);
    let request = client.encode("2", &crossing, Encoding::Fp32, &[], None).body;
    let exchange =
        Exchange { cut: 5, request, expected: model.outputs(), link: &link, predicted_edge_ms: 2.0 };
    let refused = client.send(exchange).await.expect_err("not exported");
    assert!(!refused.sent, "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_shows_the_encoding_sent_and_why_it_changed() {
    let edge = edge_builder().model_file(model_path("tiny_resnet")).bind("127.0.0.1:0").await.expect("edge");
    let session = Session::builder(model_path("tiny_resnet"))
        .edge(EdgeEndpoint::new(edge.url()))
        .signals(Arc::new(FixedSignals::new(on_network(NetworkKind::Wifi))))
        .config(quiet_config())
        .build()
        .expect("the session builds");
    session.wait_for_edge(TIMEOUT).await;
    let fp16_at = |cut| InferOptions { cut: Some(cut), encoding: Some(Encoding::Fp16), ..Default::default() };

    let input = seeded_input(session.model(), 5);
    let r = session.infer_with(input.clone(), fp16_at(0)).await.expect("never an error");
    assert!(r.report.offloaded, "{:?}", r.report);
    assert_eq!(r.report.encoding_sent, Some(Encoding::Fp16));
    assert!(r.report.decisions.is_empty(), "{:?}", r.report.decisions);

    // The raw input holds a value float16 cannot carry: the request goes as fp32, and the
    // report says so (the plan still says what was planned).
    let mut big = input;
    let mut values = big[0].to_f32().expect("float input");
    values[0] = 1e6;
    big[0] = tandem_sdk::NamedTensor::from_f32(&big[0].name, big[0].shape.clone(), &values).expect("tensor");
    let r = session.infer_with(big, fp16_at(0)).await.expect("never an error");
    assert!(r.report.offloaded, "{:?}", r.report);
    assert_eq!(r.report.plan.encoding, Encoding::Fp16);
    assert_eq!(r.report.encoding_sent, Some(Encoding::Fp32));
    match r.report.decisions.as_slice() {
        [Decision::EncodingChanged { planned: Encoding::Fp16, sent: Encoding::Fp32, reason }] => {
            assert!(reason.contains("fp16"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let json = serde_json::to_value(&r.report).expect("serializes");
    assert_eq!(json["encoding_sent"], "fp32");
    assert_eq!(json["decisions"][0]["kind"], "encoding_changed");
    assert_eq!(json["upload_ms"], json["upload_rtt_ms"]);
    let edge_ms = json["edge_queue_ms"].as_f64().unwrap() + json["edge_compute_ms"].as_f64().unwrap();
    assert!((json["edge_ms"].as_f64().unwrap() - edge_ms).abs() < 1e-9);

    // A local request sends nothing.
    let input = seeded_input(session.model(), 6);
    let last = session.model().last_cut();
    let r =
        session.infer_with(input, InferOptions { cut: Some(last), ..Default::default() }).await.expect("ok");
    assert_eq!((r.report.encoding_sent, r.report.decisions.len()), (None, 0));
}
