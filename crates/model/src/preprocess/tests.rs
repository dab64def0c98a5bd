use super::*;

const W: u32 = 10;
const H: u32 = 8;

fn rgb(x: u32, y: u32) -> [u8; 3] {
    [((x * 23 + y * 7) % 256) as u8, ((x * 5 + y * 31 + 50) % 256) as u8, ((x * x + y * 3 + 100) % 256) as u8]
}

fn luma(x: u32, y: u32) -> u8 {
    ((x * 20 + y * 9) % 256) as u8
}

fn chroma(x: u32, y: u32) -> (u8, u8) {
    (((x * 40 + y * 17 + 30) % 256) as u8, ((x * 13 + y * 50 + 80) % 256) as u8)
}

fn rgb_source(x: u32, y: u32) -> [f32; 3] {
    rgb(x, y).map(f32::from)
}

fn yuv_source(x: u32, y: u32) -> [f32; 3] {
    let (u, v) = chroma(x / 2, y / 2);
    yuv_to_rgb(luma(x, y), u, v)
}

fn spec(width: u32, height: u32) -> Preprocessing {
    Preprocessing {
        input: None,
        width,
        height,
        layout: TensorLayout::Nchw,
        channel_order: ChannelOrder::Rgb,
        resize: ResizeMode::CenterCrop,
        mean: zeros(),
        std: ones(),
    }
}

/// The cases of the Kotlin fixture: (name, yuv source?, crop, spec).
fn cases() -> Vec<(&'static str, bool, Option<Region>, Preprocessing)> {
    vec![
        (
            "rgb_center_crop_nchw",
            false,
            None,
            Preprocessing { mean: vec![10.0, 20.0, 30.0], std: vec![2.0, 4.0, 8.0], ..spec(4, 4) },
        ),
        (
            "rgb_crop_stretch_nhwc_bgr",
            false,
            Some(Region { x: 2, y: 1, width: 6, height: 5 }),
            Preprocessing {
                layout: TensorLayout::Nhwc,
                channel_order: ChannelOrder::Bgr,
                resize: ResizeMode::Stretch,
                mean: vec![1.0, 2.0, 3.0],
                std: vec![0.5, 1.0, 2.0],
                ..spec(3, 5)
            },
        ),
        (
            "yuv_center_crop_nchw",
            true,
            None,
            Preprocessing { mean: vec![127.5; 3], std: vec![127.5; 3], ..spec(6, 4) },
        ),
        (
            "yuv_crop_stretch_nchw",
            true,
            Some(Region { x: 1, y: 1, width: 7, height: 6 }),
            Preprocessing { resize: ResizeMode::Stretch, ..spec(4, 4) },
        ),
    ]
}

fn join<T: std::fmt::Debug>(values: impl IntoIterator<Item = T>) -> String {
    values.into_iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(" ")
}

/// The fixture the Kotlin helpers are tested against: the frame, its YUV twin and, per case,
/// what this reference computes.
fn fixture() -> String {
    let pixels = |f: &dyn Fn(u32, u32) -> Vec<u8>, w: u32, h: u32| -> Vec<u8> {
        (0..h).flat_map(|y| (0..w).flat_map(move |x| f(x, y))).collect()
    };
    let mut s = String::from("# written by crates/model/src/preprocess/tests.rs; do not edit\n");
    s += &format!("frame {W} {H}\n");
    s += &format!("rgb {}\n", join(pixels(&|x, y| rgb(x, y).to_vec(), W, H)));
    s += &format!("y {}\n", join(pixels(&|x, y| vec![luma(x, y)], W, H)));
    s += &format!("u {}\n", join(pixels(&|x, y| vec![chroma(x, y).0], W / 2, H / 2)));
    s += &format!("v {}\n", join(pixels(&|x, y| vec![chroma(x, y).1], W / 2, H / 2)));
    for (name, yuv, crop, p) in cases() {
        let crop_text = crop.map_or("none".into(), |r| format!("{},{},{},{}", r.x, r.y, r.width, r.height));
        s += &format!(
            "case {name} {} {crop_text} {} {} {} {} {} {} {}\n",
            if yuv { "yuv" } else { "rgb" },
            p.width,
            p.height,
            serde_json::to_string(&p.layout).expect("enum").trim_matches('"'),
            serde_json::to_string(&p.channel_order).expect("enum").trim_matches('"'),
            serde_json::to_string(&p.resize).expect("enum").trim_matches('"'),
            p.mean.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(","),
            p.std.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(","),
        );
        let source: &dyn Fn(u32, u32) -> [f32; 3] = if yuv { &yuv_source } else { &rgb_source };
        let out = frame_to_tensor(W, H, crop, &p, source).expect("non-empty region");
        s += &format!("expected {}\n", join(out));
    }
    s
}

/// The committed fixture is what this reference computes now; `TANDEM_WRITE_FIXTURES=1`
/// rewrites it after a deliberate change.
#[test]
fn kotlin_fixture_is_current() {
    let path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../android/jvm-test/src/test/resources/frame_tensors.txt");
    let now = fixture();
    if std::env::var("TANDEM_WRITE_FIXTURES").is_ok_and(|v| v == "1") {
        std::fs::write(path, &now).expect("write fixture");
    }
    let committed = std::fs::read_to_string(path).expect("fixture committed");
    assert_eq!(committed, now, "rerun with TANDEM_WRITE_FIXTURES=1 and commit the fixture");
}

#[test]
fn same_size_stretch_returns_the_pixels() {
    let p = Preprocessing { resize: ResizeMode::Stretch, ..spec(W, H) };
    let out = frame_to_tensor(W, H, None, &p, rgb_source).expect("region");
    let plane = (W * H) as usize;
    for y in 0..H {
        for x in 0..W {
            let i = (y * W + x) as usize;
            assert_eq!([out[i], out[plane + i], out[2 * plane + i]], rgb_source(x, y), "pixel {x},{y}");
        }
    }
}

#[test]
fn center_crop_keeps_the_middle_and_normalises() {
    // a 10x8 frame to 4x4: the centred 8x8 square, columns 1..=8
    let r = sampled_region(W, H, None, &spec(4, 4)).expect("region");
    assert_eq!(r, Region { x: 1, y: 0, width: 8, height: 8 });
    let p = Preprocessing { mean: vec![100.0; 3], std: vec![50.0; 3], ..spec(1, 1) };
    let flat = frame_to_tensor(W, H, None, &p, |_, _| [200.0, 100.0, 0.0]).expect("region");
    assert_eq!(flat, vec![2.0, 0.0, -2.0]);
}

#[test]
fn yuv_grey_and_pure_colours() {
    assert_eq!(yuv_to_rgb(128, 128, 128), [128.0; 3]);
    let red = yuv_to_rgb(76, 85, 255);
    assert!(red[0] > 250.0 && red[1] < 5.0 && red[2] < 5.0, "{red:?}");
}

#[test]
fn empty_regions_and_bad_specs_are_refused() {
    let outside = Some(Region { x: W, y: 0, width: 3, height: 3 });
    assert!(frame_to_tensor(W, H, outside, &spec(2, 2), rgb_source).is_none());
    assert!(Preprocessing { std: vec![1.0, 0.0, 1.0], ..spec(2, 2) }.validate().is_err());
    assert!(Preprocessing { mean: vec![1.0], ..spec(2, 2) }.validate().is_err());
    assert!(spec(0, 2).validate().is_err());
    spec(2, 2).validate().expect("valid");
}

#[test]
fn sidecar_object_defaults() {
    let p: Preprocessing = serde_json::from_str(r#"{"width": 150, "height": 150}"#).expect("parses");
    assert_eq!(p, spec(150, 150));
    assert_eq!(p.shape(), vec![1, 3, 150, 150]);
}
