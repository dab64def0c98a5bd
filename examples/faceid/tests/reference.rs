//! The Rust face pipeline against the Python reference outputs in `models/testdata/`
//! (`blazeface_decode.py`, `make_face_crops.py`, onnxruntime descriptors).

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;
use tandem_faceid::*;
use tandem_model::npy;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

fn pipeline() -> &'static FacePipeline {
    static P: OnceLock<FacePipeline> = OnceLock::new();
    P.get_or_init(|| FacePipeline::load(models().join("face_detector.onnx")).expect("detector loads"))
}

fn embedder() -> &'static LocalEmbedder {
    static E: OnceLock<LocalEmbedder> = OnceLock::new();
    E.get_or_init(|| LocalEmbedder::load(models().join("face_embedder.onnx")).expect("embedder loads"))
}

fn json(name: &str) -> Value {
    let text = std::fs::read_to_string(models().join("testdata").join(name)).expect("reads");
    serde_json::from_str(&text).expect("valid json")
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .flat_map(|x| x.as_array().cloned().unwrap_or_else(|| vec![x.clone()]))
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Max and mean absolute difference between two chips, in 8-bit steps.
fn pixel_diff(crop: &FaceCrop, png: &RgbFrame) -> (i32, f64) {
    let diffs: Vec<i32> =
        crop.pixels().iter().zip(png.data()).map(|(a, b)| (*a as i32 - *b as i32).abs()).collect();
    let max = diffs.iter().copied().max().unwrap_or(0);
    (max, diffs.iter().sum::<i32>() as f64 / diffs.len() as f64)
}

#[test]
fn letterbox_matches_pillow_on_the_test_vector() {
    let frame = RgbFrame::load(models().join("photos/obama.jpg")).expect("decodes");
    let (ours, lb) = letterbox(&frame);
    let expected = json("face_detector_expected.json");
    assert_eq!(lb.side, expected["letterbox"]["side"].as_f64().expect("side"));
    assert_eq!(lb.pad_x, expected["letterbox"]["pad_x"].as_f64().expect("pad_x"));
    assert_eq!(lb.pad_y, expected["letterbox"]["pad_y"].as_f64().expect("pad_y"));
    let theirs = npy::read_npy(models().join("testdata/face_detector_input.npy"), INPUT_NAME).expect("npy");
    assert_eq!(ours.shape, theirs.shape);
    let (a, b) = (ours.to_f32().expect("f32"), theirs.to_f32().expect("f32"));
    // One 8-bit step is 1/127.5. Pillow's resampling is reproduced bit for bit (unit test
    // `resize_matches_pillow_bit_for_bit`); the JPEG decoders are not: zune-jpeg and
    // libjpeg-turbo differ by up to 4 steps on ~13% of obama.jpg's pixels, which the 5.6x
    // shrink averages down to at most one step on ~13% of the values.
    let steps: Vec<f32> = a.iter().zip(&b).map(|(x, y)| ((x - y) * 127.5).abs().round()).collect();
    let max = steps.iter().copied().fold(0.0, f32::max);
    let off = steps.iter().filter(|s| **s > 0.0).count();
    assert!(max <= 1.0, "max difference {max} steps");
    assert!(off * 5 < steps.len(), "{off} of {} values differ", steps.len());
}

#[test]
fn detector_matches_the_reference_decoder() {
    let input = npy::read_npy(models().join("testdata/face_detector_input.npy"), INPUT_NAME).expect("npy");
    let dets = pipeline().detector().detect_tensor(&input).expect("runs");
    let expected = json("face_detector_expected.json");
    let want = expected["detections"].as_array().expect("detections");
    assert_eq!(dets.len(), want.len());
    for (d, w) in dets.iter().zip(want) {
        assert!((d.score - w["score"].as_f64().expect("score")).abs() < 1e-4, "score {}", d.score);
        assert!(max_abs_diff(&d.box_cxcywh, &f64s(&w["box"])) < 1e-4, "box {:?}", d.box_cxcywh);
        let kps: Vec<f64> = d.keypoints.iter().flatten().copied().collect();
        assert!(max_abs_diff(&kps, &f64s(&w["keypoints"])) < 1e-4, "keypoints {kps:?}");
    }
    // In pixels, through the letterbox of the test vector.
    let lb = &expected["letterbox"];
    let lb = Letterbox {
        side: lb["side"].as_f64().expect("side"),
        pad_x: lb["pad_x"].as_f64().expect("pad_x"),
        pad_y: lb["pad_y"].as_f64().expect("pad_y"),
    };
    let px = lb.to_pixels(&dets[0]);
    let want_px = &expected["detections_px"][0];
    assert!(max_abs_diff(&px.box_corners(), &f64s(&want_px["box"])) < 0.05);
}

/// Every face of `face_crops.json`: same detection, same transform, same chip (to a few
/// 8-bit steps, from the JPEG decoders), same descriptor (distance < 0.05).
#[test]
fn crops_and_descriptors_match_the_reference() {
    let reference = json("face_crops.json");
    let faces = reference["faces"].as_array().expect("faces");
    assert_eq!(faces.len(), 9);
    let template: Vec<f64> = template_px().iter().flatten().copied().collect();
    assert!(max_abs_diff(&template, &f64s(&reference["template_px"])) < 1e-9);
    for face in faces {
        let name = face["name"].as_str().expect("name");
        let photo = face["photo"].as_str().expect("photo");
        let frame = RgbFrame::load(models().join("photos").join(photo)).expect("decodes");
        let dets = pipeline().detector().detect(&frame).expect("detects");
        // `<stem>` for a photo of one face, `<stem>_face<i>` (left to right) for several.
        let stem = photo.trim_end_matches(".jpg");
        let index =
            name.strip_prefix(&format!("{stem}_face")).map_or(0, |i| i.parse::<usize>().expect("index"));
        let det = &dets[index];
        assert!(
            (det.score - face["score"].as_f64().expect("score")).abs() < 0.01,
            "{name}: score {}",
            det.score
        );
        let kps: Vec<f64> = det.keypoints.iter().flatten().copied().collect();
        let kp_diff = max_abs_diff(&kps, &f64s(&face["keypoints"]));
        assert!(kp_diff < 1.0, "{name}: keypoints differ by {kp_diff} px");

        let crop = face_chip(&frame, det);
        let m: Vec<f64> = crop.photo_to_chip.iter().flatten().copied().collect();
        let m_want = f64s(&face["photo_to_chip"]);
        // Linear part (rotation and scale) and shift: keypoints move by a fraction of a
        // pixel with the JPEG decoder.
        let linear = |v: &[f64]| [v[0], v[1], v[3], v[4]];
        assert!(max_abs_diff(&linear(&m), &linear(&m_want)) < 1e-2, "{name}: {m:?} vs {m_want:?}");
        assert!(max_abs_diff(&[m[2], m[5]], &[m_want[2], m_want[5]]) < 2.0, "{name}: {m:?} vs {m_want:?}");

        let png = RgbFrame::load(models().join("testdata").join(format!("{name}_crop.png"))).expect("png");
        assert_eq!((png.width(), png.height()), (150, 150));
        // End to end (our detection): a fraction of a pixel of shift moves edges.
        let (max, mean) = pixel_diff(&crop, &png);
        eprintln!("{name}: own keypoints: max {max} mean {mean:.3}");
        assert!(mean < 2.0, "{name}: crop differs, max {max} mean {mean:.3}");

        // The alignment alone, from the reference keypoints: the same transform, and the same
        // chip up to the JPEG decoders' differences.
        let mut at_ref = det.clone();
        for (k, v) in at_ref.keypoints.iter_mut().zip(face["keypoints"].as_array().expect("keypoints")) {
            *k = [v[0].as_f64().expect("x"), v[1].as_f64().expect("y")];
        }
        let exact = face_chip(&frame, &at_ref);
        let m: Vec<f64> = exact.photo_to_chip.iter().flatten().copied().collect();
        assert!(max_abs_diff(&m, &m_want) < 1e-9, "{name}: {m:?} vs {m_want:?}");
        let (max, mean) = pixel_diff(&exact, &png);
        eprintln!("{name}: reference keypoints: max {max} mean {mean:.3}");
        assert!(
            max <= 6 && mean < 0.5,
            "{name}: crop from the reference keypoints differs, max {max} mean {mean:.3}"
        );

        let ours = embedder().embed(&crop).expect("embeds");
        let theirs =
            Descriptor::new(f64s(&face["descriptor"]).iter().map(|v| *v as f32).collect()).expect("finite");
        let dist = ours.distance(&theirs).expect("same length");
        eprintln!("{name}: descriptor distance {dist:.4}");
        assert!(dist < 0.05, "{name}: descriptor distance {dist}");
    }
}

#[test]
fn reference_crop_npy_gives_the_reference_descriptor() {
    for name in ["obama", "biden"] {
        let t =
            npy::read_npy(models().join(format!("testdata/{name}_crop.npy")), EMBEDDER_INPUT).expect("npy");
        let png = RgbFrame::load(models().join(format!("testdata/{name}_crop.png"))).expect("png");
        let crop_values = t.to_f32().expect("f32");
        // The PNG and the npy hold the same numbers (NCHW vs HWC).
        for (i, px) in png.data().chunks_exact(3).enumerate().step_by(97) {
            for c in 0..3 {
                assert_eq!(px[c] as f32, crop_values[c * 150 * 150 + i]);
            }
        }
        let want = npy::read_npy(models().join(format!("testdata/{name}_descriptor.npy")), DESCRIPTOR_NAME)
            .expect("npy");
        let want = Descriptor::new(want.to_f32().expect("f32")).expect("finite");
        let frame = RgbFrame::load(models().join(format!("photos/{name}.jpg"))).expect("photo");
        let ours = embedder().embed(&pipeline().crop(&frame).expect("one face")).expect("embeds");
        assert!(ours.distance(&want).expect("len") < 0.05);
    }
}

#[test]
fn bad_photos_are_typed_errors() {
    let p = pipeline();
    assert!(matches!(p.crop_file(models().join("photos/rocket_noface.jpg")), Err(FaceError::NoFace)));
    assert!(matches!(p.crop_file(models().join("photos/two_faces.jpg")), Err(FaceError::MultipleFaces(2))));
    let dir = std::env::temp_dir().join(format!("tandem-faceid-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let truncated = dir.join("truncated.jpg");
    let bytes = std::fs::read(models().join("photos/obama3.jpg")).expect("reads");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).expect("writes");
    let png = std::fs::read(models().join("testdata/obama_crop.png")).expect("reads");
    let truncated_png = dir.join("truncated.png");
    std::fs::write(&truncated_png, &png[..png.len() / 2]).expect("writes");
    let garbage = dir.join("garbage.png");
    std::fs::write(&garbage, b"\x89PNG\r\n\x1a\nthis is not a png").expect("writes");
    for path in [&truncated, &truncated_png, &garbage] {
        match p.crop_file(path) {
            Err(FaceError::CorruptImage { path: got, .. }) => assert_eq!(&got, path),
            other => panic!("{}: {other:?}", path.display()),
        }
    }
    assert!(matches!(p.crop_file(dir.join("missing.jpg")), Err(FaceError::Io { .. })));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn obama_enrollment_accepts_obama_and_rejects_others() {
    let mut enrollment = Enrollment::new();
    for photo in ["obama.jpg", "obama2.jpg"] {
        let crop = pipeline().crop_file(models().join("photos").join(photo)).expect("one face");
        enrollment.add(&embedder().embed(&crop).expect("embeds")).expect("adds");
    }
    for (photo, same) in [
        ("obama3.jpg", true),
        ("obama_partial_face.jpg", true),
        ("biden.jpg", false),
        ("astronaut.jpg", false),
    ] {
        let crop = pipeline().crop_file(models().join("photos").join(photo)).expect("one face");
        let m = enrollment.verify(&embedder().embed(&crop).expect("embeds")).expect("enrolled");
        assert_eq!(m.is_match, same, "{photo}: {m:?}");
    }
}
