//! The server's outputs equal local split execution: whole model and cuts of every bundled
//! model, binary and JSON tensors, every encoding.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tandem_model::encoding::{self, Encoding};
use tandem_model::NamedTensor;
use tandem_protocol::wire::{param, RequestOptions};

#[tokio::test]
async fn tiny_resnet_whole_and_cuts_match_local_execution_exactly() {
    let edge = start(builder(&["tiny_resnet"])).await;
    let client = client();
    let local = local("tiny_resnet");
    let input = input("tiny_resnet");
    let last = local.model().last_cut();
    // 3 and 11 carry two and three tensors; 27 is the last cut (nothing left to run).
    for cut in [0, 1, 3, 11, 15, 22, 26, last] {
        assert!(local.model().cut(cut).is_ok());
        let crossing = local.run_before(cut, &input).expect("before");
        let want = local.run_after(cut, &crossing).expect("after");
        let reply = infer_binary(
            &client,
            &edge,
            "tiny_resnet",
            &encode_all(&crossing, Encoding::Fp32),
            &hashed("tiny_resnet"),
            None,
        )
        .await;
        let got = reply.decode();
        assert_exact(&got.outputs, &want, &format!("cut {cut}"));
        assert_eq!(got.parameters[param::CUT], cut, "cut {cut}");
        assert!(got.parameters[param::COMPUTE_MS].as_f64().expect("compute ms") >= 0.0);
        assert!(got.parameters[param::QUEUE_MS].as_f64().expect("queue ms") >= 0.0);
        assert_eq!(got.model_name, "tiny_resnet");
    }
    // The whole model also matches the expected logits made by onnxruntime.
    let expected =
        tandem_model::npy::read_npy(testdata("tiny_resnet_expected_logits.npy"), "logits").expect("npy");
    let plain = RequestOptions { binary_outputs: true, ..Default::default() };
    let reply =
        infer_binary(&client, &edge, "tiny_resnet", &encode_all(&input, Encoding::Fp32), &plain, None).await;
    assert_close(&reply.decode().outputs, &[expected], 1e-4, "whole model vs onnxruntime");
    edge.shutdown().await.expect("clean shutdown");
}

fn json_tensor(t: &NamedTensor) -> Value {
    json!({
        "name": t.name,
        "shape": t.shape,
        "datatype": "FP32",
        "data": t.to_f32().expect("float32"),
    })
}

#[tokio::test]
async fn json_tensors_in_and_out_match_exactly() {
    let edge = start(builder(&["tiny_resnet"])).await;
    let client = client();
    let local = local("tiny_resnet");
    let input = input("tiny_resnet");
    for cut in [0, 11] {
        let crossing = local.run_before(cut, &input).expect("before");
        let want = local.run_after(cut, &crossing).expect("after");
        let request = json!({
            "id": format!("req-{cut}"),
            "parameters": {"tandem_model_hash": local.model().hash()},
            "inputs": crossing.iter().map(json_tensor).collect::<Vec<_>>(),
            "outputs": [{"name": "logits"}],
        });
        let reply =
            send(client.post(format!("{}/v2/models/tiny_resnet/infer", edge.url())).json(&request)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
        assert!(reply.headers.get("inference-header-content-length").is_none());
        assert_eq!(reply.headers["content-type"], "application/json");
        let body = reply.json();
        assert_eq!(body["model_name"], "tiny_resnet");
        assert_eq!(body["id"], format!("req-{cut}"));
        let out = &body["outputs"][0];
        assert_eq!((out["name"].as_str(), out["datatype"].as_str()), (Some("logits"), Some("FP32")));
        assert_eq!(out["shape"], json!([1, 10]));
        let values: Vec<f32> = out["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|v| v.as_f64().expect("number") as f32)
            .collect();
        let got = NamedTensor::from_f32("logits", vec![1, 10], &values).expect("tensor");
        assert_exact(&[got], &want, &format!("JSON cut {cut}"));
    }
    // Data nested as the shape (not flattened) is accepted too, and one output may be asked
    // as binary.
    let rows: Vec<Vec<f32>> = input[0].to_f32().unwrap().chunks(32).map(<[f32]>::to_vec).collect();
    let planes: Vec<Vec<Vec<f32>>> = rows.chunks(32).map(<[Vec<f32>]>::to_vec).collect();
    let nested = vec![planes];
    let request = json!({
        "inputs": [{"name": "input", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": nested}],
        "outputs": [{"name": "logits", "parameters": {"binary_data": true}}],
    });
    let reply = send(client.post(format!("{}/v2/models/tiny_resnet/infer", edge.url())).json(&request)).await;
    let want = local.run_full(&input).expect("whole");
    assert_exact(&reply.decode().outputs, &want, "nested JSON in, binary out");
    assert!(reply.headers.get("inference-header-content-length").is_some());
    // The same values nested as [96][32] do not follow the shape: refused, not reshaped.
    let request = json!({
        "inputs": [{"name": "input", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": rows}],
    });
    let reply =
        client.post(format!("{}/v2/models/tiny_resnet/infer", edge.url())).json(&request).send().await;
    let reply = reply.expect("reply");
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    assert!(reply.text().await.unwrap().contains("nesting of `data`"));
}

#[tokio::test]
async fn encodings_decode_exactly_and_stay_within_tolerance() {
    let edge = start(builder(&["tiny_resnet"])).await;
    let client = client();
    let local = local("tiny_resnet");
    let input = input("tiny_resnet");
    for cut in [0, 3, 11] {
        let crossing = local.run_before(cut, &input).expect("before");
        let exact = local.run_after(cut, &crossing).expect("after");
        let scale = exact[0].to_f32().unwrap().iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
        for (enc, tolerance) in [(Encoding::Fp16, 2e-3), (Encoding::Int8, 5e-2)] {
            let encoded = encode_all(&crossing, enc);
            // What the server must compute: the part after the cut on the decoded tensors.
            let decoded: Vec<NamedTensor> =
                encoded.iter().map(|e| encoding::decode(e.clone()).expect("decodes")).collect();
            let want = local.run_after(cut, &decoded).expect("after");
            let reply =
                infer_binary(&client, &edge, "tiny_resnet", &encoded, &hashed("tiny_resnet"), None).await;
            let got = reply.decode().outputs;
            assert_exact(&got, &want, &format!("cut {cut} {enc}: server decodes like the library"));
            // And the encoding costs little accuracy: relative to the largest logit.
            assert_close(&got, &exact, tolerance * scale, &format!("cut {cut} {enc} vs fp32"));
        }
    }
}

#[tokio::test]
async fn packed_codecs_decode_like_the_library_and_bad_payloads_get_400() {
    let edge = start(builder(&["tiny_resnet"])).await;
    let client = client();
    let local = local("tiny_resnet");
    let input = input("tiny_resnet");
    // cut 0 is the image (JPEG), cut 3 carries two tensors, cut 11 three
    let not_jpeg: Vec<Encoding> = Encoding::PACKED.into_iter().filter(|e| *e != Encoding::Jpeg).collect();
    for (cut, codecs) in [(0, vec![Encoding::Jpeg]), (3, not_jpeg.clone()), (11, not_jpeg)] {
        let crossing = local.run_before(cut, &input).expect("before");
        for enc in codecs {
            let encoded = encode_all(&crossing, enc);
            let shapes: Vec<&[usize]> = crossing.iter().map(|t| t.shape.as_slice()).collect();
            let decoded: Vec<NamedTensor> = encoded
                .iter()
                .zip(&shapes)
                .map(|(e, s)| encoding::decode_as(e.clone(), s).expect("decodes"))
                .collect();
            let want = local.run_after(cut, &decoded).expect("after");
            let reply =
                infer_binary(&client, &edge, "tiny_resnet", &encoded, &hashed("tiny_resnet"), None).await;
            assert_eq!(reply.status, StatusCode::OK, "cut {cut} {enc}: {}", reply.error());
            assert_exact(
                &reply.decode().outputs,
                &want,
                &format!("cut {cut} {enc}: server decodes like the library"),
            );
            // Corrupt payloads: truncated, a flipped header byte, a garbled body, one byte
            // too many. Each is a 400 naming the tensor (the payload's CRC-32 catches what
            // would still decode), and the server keeps serving.
            let payload = encoded[0].tensor.data.clone();
            let mut flipped_header = payload.clone();
            flipped_header[1] ^= 0x0c;
            let mut garbled_body = payload.clone();
            let n = garbled_body.len();
            garbled_body[n - 4..].copy_from_slice(&[0xff, 0x00, 0xff, 0x00]);
            let mut longer = payload.clone();
            longer.push(7);
            for (what, bad) in [
                ("truncated", payload[..payload.len() / 2].to_vec()),
                ("header only", payload[..3].to_vec()),
                ("flipped header", flipped_header),
                ("garbled body", garbled_body),
                ("one byte more", longer),
            ] {
                let mut tensors = encoded.clone();
                tensors[0].tensor = NamedTensor::new(
                    tensors[0].tensor.name.clone(),
                    tensors[0].tensor.dtype,
                    vec![bad.len()],
                    bad,
                )
                .expect("uint8 payload");
                let reply =
                    infer_binary(&client, &edge, "tiny_resnet", &tensors, &hashed("tiny_resnet"), None).await;
                assert_eq!(reply.status, StatusCode::BAD_REQUEST, "cut {cut} {enc} {what}");
                assert!(
                    reply.error().contains(&crossing[0].name),
                    "cut {cut} {enc} {what}: {}",
                    reply.error()
                );
            }
        }
    }
    let health = client.get(format!("{}/v2/health/ready", edge.url())).send().await.expect("reply");
    assert_eq!(health.status(), StatusCode::OK, "still serving");
}

#[tokio::test]
async fn other_bundled_models_match_local_execution() {
    let models = ["mobilenetv2", "face_detector", "face_embedder"];
    let edge = start(builder(&models)).await;
    let client = client();
    for model in models {
        let local = local(model);
        let input = input(model);
        let last = local.model().last_cut();
        let cuts: Vec<usize> = if model == "mobilenetv2" { vec![0, last / 2] } else { vec![last / 2] };
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
            let got = sorted_like(reply.decode().outputs, model);
            assert_exact(&got, &want, &format!("{model} cut {cut}"));
        }
    }
    edge.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_request_for_an_early_exit_stops_where_the_exit_is_ready() {
    let model = "branchynet_fmnist";
    let edge = start(builder(&[model])).await;
    let client = client();
    let local = local(model);
    let input = input(model);
    let whole = local.run_full(&input).expect("whole model");
    let last = local.model().last_cut();
    let ready_at = |name: &str| {
        local
            .model()
            .cuts()
            .iter()
            .position(|c| c.tensors.iter().any(|t| t.name == name))
            .expect("exit ready")
    };
    let hash = local.model().hash().to_string();
    for (exit, from) in [("exit1", 1), ("exit2", 1), ("exit3", 1), ("exit2", ready_at("exit1") + 1)] {
        let crossing = local.run_before(from, &input).expect("before");
        let body = json!({
            "parameters": {"tandem_model_hash": hash},
            "inputs": crossing.iter().map(json_tensor).collect::<Vec<_>>(),
            "outputs": [{"name": exit}],
        });
        let reply = send(client.post(format!("{}/v2/models/{model}/infer", edge.url())).json(&body)).await;
        assert_eq!(reply.status, StatusCode::OK, "{exit} from cut {from}: {}", reply.error());
        let got = reply.decode();
        let want: Vec<NamedTensor> = whole.iter().filter(|t| t.name == exit).cloned().collect();
        assert_close(&got.outputs, &want, 1e-5, &format!("{exit} from cut {from}"));
        let end = got.parameters[param::END_CUT].as_u64().expect("end cut") as usize;
        // The part ran exactly to the first cut where the exit exists (the last for the final exit).
        let expected_end = if exit == "exit3" { last } else { ready_at(exit) };
        assert_eq!(end, expected_end, "{exit} from cut {from}");
        assert!(end < last || exit == "exit3", "an early exit never runs the whole rest");
    }
    edge.shutdown().await.expect("clean shutdown");
}
