//! The generated coverage models (models/README.md, "Coverage beyond classic CNNs") offloaded
//! through the real edge at every cut: shape subgraphs, attention, recurrences, resize to the
//! input size, quantized graphs, and cuts carrying FP16, INT64, INT32, BOOL, UINT8 and INT8.

mod common;

use common::*;
use tandem_model::encoding::Encoding;

/// The coverage models whose input shapes are fully declared (the text encoders declare a
/// symbolic sequence length, which the edge is given: see below).
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
    let Err(err) = tandem_edge::EdgeServer::builder().model_file(path).bind("127.0.0.1:0").await else {
        panic!("the tract engine must refuse Det")
    };
    let text = err.to_string();
    assert!(text.contains("Det") && text.contains("/head/Det"), "{text}");
}

/// The text encoders declare `[batch, sequence]`: the edge serves them once given the
/// sequence length (`tandem edge --input-shape NAME=1x12`), every cut offloads exactly, and a
/// request of another length is a typed 400.
#[tokio::test]
async fn text_encoders_with_a_symbolic_sequence_length_are_served_for_the_given_shape() {
    use std::sync::Arc;
    use tandem_model::{Executor, LoadOptions, Model};
    let models = ["tiny_text_encoder", "tiny_text_encoder_dynq"];
    let shape = vec![1usize, 12];
    let edge =
        start(models.iter().fold(builder(&models), |b, m| b.input_shapes(*m, vec![shape.clone()]))).await;
    let client = client();
    for model in models {
        let options = LoadOptions { input_shapes: Some(vec![shape.clone()]) };
        let local =
            Executor::new(Arc::new(Model::load(model_path(model), &options).expect("loads for 1x12")));
        let input = vec![tandem_model::npy::read_npy(testdata(&format!("{model}_in_0.npy")), "input_ids")
            .expect("reference input")];
        let hashed = hashed_for(local.model());
        for cut in local.model().cuts() {
            let crossing = local.run_before(cut.id, &input).expect("before");
            let want = local.run_after(cut.id, &crossing).expect("after");
            let reply =
                infer_binary(&client, &edge, model, &encode_all(&crossing, Encoding::Fp32), &hashed, None)
                    .await;
            let outputs = reply.decode().outputs;
            let got: Vec<_> = want
                .iter()
                .map(|w| outputs.iter().find(|t| t.name == w.name).cloned().expect("output present"))
                .collect();
            assert_exact(&got, &want, &format!("{model} cut {}", cut.id));
        }
        // A sequence of another length does not fit the shape the edge serves.
        let mut longer = input[0].clone();
        longer.shape = vec![1, 6];
        longer.data.truncate(6 * 8);
        let reply =
            infer_binary(&client, &edge, model, &encode_all(&[longer], Encoding::Fp32), &hashed, None).await;
        assert_eq!(reply.status, reqwest::StatusCode::BAD_REQUEST, "{model}");
    }
    edge.shutdown().await.expect("clean shutdown");
}

/// Shapes for a model the edge does not serve are a configuration error at startup.
#[tokio::test]
async fn input_shapes_for_an_unserved_model_are_refused_at_startup() {
    let err =
        builder(&["tiny_resnet"]).input_shapes("nope", vec![vec![1, 12]]).bind("127.0.0.1:0").await.err();
    assert!(err.expect("refused").to_string().contains("`nope`"));
}
