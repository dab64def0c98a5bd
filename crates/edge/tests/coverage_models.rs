//! The generated coverage models (models/README.md, "Coverage beyond classic CNNs") offloaded
//! through the real edge at every cut: shape subgraphs, attention, recurrences, resize to the
//! input size, quantized graphs, and cuts carrying FP16, INT64, INT32, BOOL, UINT8 and INT8.

mod common;

use common::*;
use tandem_model::encoding::Encoding;

/// The coverage models whose input shapes are fully declared (the text encoders declare a
/// symbolic sequence length, which the edge must be given; not covered here).
const MODELS: &[&str] =
    &["shufflenet_block", "tiny_vit", "tiny_gru", "tiny_lstm", "lraspp_head", "mixed_dtypes", "qdq_cnn"];

#[tokio::test]
async fn every_cut_of_every_coverage_model_offloads_exactly() {
    let edge = start(builder(MODELS)).await;
    let client = client();
    for model in MODELS {
        let local = local(model);
        let input = vec![tandem_model::npy::read_npy(
            testdata(&format!("{model}_in_0.npy")),
            &local.model().inputs()[0].name,
        )
        .expect("reference input")];
        for cut in local.model().cuts() {
            let crossing = local.run_before(cut.id, &input).expect("before");
            let want = local.run_after(cut.id, &crossing).expect("after");
            let reply = infer_binary(
                &client,
                &edge,
                model,
                &encode_all(&crossing, Encoding::Fp32),
                &hashed(model),
                None,
            )
            .await;
            let got = sorted_like(reply.decode().outputs, model);
            assert_exact(&got, &want, &format!("{model} cut {}", cut.id));
        }
    }
    edge.shutdown().await.expect("clean shutdown");
}

/// A model with an operator tract lacks is refused at startup by the tract engine, naming the
/// operator and the node (the ONNX Runtime engine serves it whole: tools/e2e/tests/whole_on_edge.rs).
#[tokio::test]
async fn the_tract_engine_refuses_a_model_with_an_unknown_operator_at_startup() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/testdata/unsupported_det.onnx");
    let err =
        tandem_edge::EdgeServer::builder().model_file(path).bind("127.0.0.1:0").await.err().expect("refused");
    let text = err.to_string();
    assert!(text.contains("Det") && text.contains("/head/Det"), "{text}");
}
