//! Device classes: presets for the emulated phone, each a slowdown relative to **this
//! machine's tract** (one thread), derived from public per-model latency measurements on real
//! devices. `tandem bench --device-class NAME` and `tandem demo --device-class NAME` use them;
//! `--slowdown` / `--phone-slowdown` give any other ratio.
//!
//! The reference: MobileNetV2 (fp32, 1x3x224x224) takes **23.0 ms** with tract on this
//! machine (`cargo bench -p tandem-model --bench split`, docs/PERFORMANCE.md). A device's
//! slowdown is its published MobileNetV2 latency over 23.0 ms. A MobileNet V1 1.0 224
//! measurement is first scaled to MobileNetV2 by multiply-accumulates (569 M vs 300 M: tract
//! would take about 23.0 x 569 / 300 = 43.6 ms on V1 here) — modeled, not measured. Slowdowns
//! below 1 (a phone faster than this machine's tract) are raised to 1: the emulation can only
//! slow this machine down. Sources are in docs/PERFORMANCE.md ("Device classes").

use serde::Serialize;

/// One preset.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DeviceClass {
    /// As given on the command line.
    pub name: &'static str,
    /// As people say it.
    pub label: &'static str,
    /// How many times slower than this machine's tract.
    pub slowdown: f64,
    /// The measurement it comes from: device, model, engine, latency, source.
    pub source: &'static str,
}

/// The tract reference on this machine, MobileNetV2 fp32, ms.
pub const REFERENCE_TRACT_MOBILENETV2_MS: f64 = 23.0;

/// Every preset, fastest first.
pub const DEVICE_CLASSES: [DeviceClass; 4] = [
    DeviceClass {
        name: "flagship",
        label: "flagship phone",
        // 26.54 ms on MobileNet V1 = 0.61 x the 43.6 ms tract would take here: raised to 1.
        slowdown: 1.0,
        source: "iPhone 11 Pro (A13), MobileNet V1 1.0 224 fp32, TensorFlow Lite CPU 1 thread: 26.54 ms \
                 (github.com/freedomtan/glDelegateBenchmark); 0.61x this machine's tract, raised to 1x",
    },
    DeviceClass {
        name: "mid-range",
        label: "mid-range phone",
        slowdown: 6.1,
        source: "Samsung Galaxy S20 (SM-G980F, Exynos 990) big core, MobileNetV2 fp32, IREE (dylib) 1 thread: \
                 140 ms (IREE's Android benchmark dashboard); 140 / 23.0 = 6.1x",
    },
    DeviceClass {
        name: "low-end",
        label: "low-end phone",
        slowdown: 37.8,
        source: "Samsung Galaxy S20 little cores (Cortex-A55, the only cores of entry-level SoCs), MobileNetV2 fp32, \
                 IREE (dylib) 3 threads: 870 ms (IREE's Android benchmark dashboard); 870 / 23.0 = 37.8x",
    },
    DeviceClass {
        name: "wearable",
        label: "wearable / IoT camera",
        slowdown: 54.3,
        source: "one Cortex-A55 core (as in smartwatch and camera SoCs), Galaxy S20 little core, MobileNetV2 fp32, \
                 IREE (dylib) 1 thread: 1250 ms (IREE's Android benchmark dashboard); 1250 / 23.0 = 54.3x",
    },
];

/// The preset called `name` (case-insensitive; `midrange`, `lowend` and `iot` also work).
pub fn device_class(name: &str) -> Result<DeviceClass, String> {
    let wanted = name.trim().to_ascii_lowercase().replace('_', "-");
    let wanted = match wanted.as_str() {
        "midrange" | "mid" => "mid-range",
        "lowend" | "low" | "budget" => "low-end",
        "iot" | "iot-camera" | "camera" | "watch" => "wearable",
        other => other,
    };
    DEVICE_CLASSES.iter().copied().find(|c| c.name == wanted).ok_or_else(|| {
        format!(
            "unknown device class `{name}`: expected one of {}",
            DEVICE_CLASSES.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_follow_their_sources_and_parse() {
        for c in DEVICE_CLASSES {
            assert!(c.slowdown >= 1.0 && c.slowdown <= 100.0, "{c:?}");
            assert_eq!(device_class(c.name), Ok(c));
        }
        // Each slowdown is the cited latency over the tract reference.
        assert!(
            (140.0 / REFERENCE_TRACT_MOBILENETV2_MS - device_class("midrange").unwrap().slowdown).abs()
                < 0.05
        );
        assert!(
            (870.0 / REFERENCE_TRACT_MOBILENETV2_MS - device_class("low-end").unwrap().slowdown).abs() < 0.05
        );
        assert!(
            (1250.0 / REFERENCE_TRACT_MOBILENETV2_MS - device_class("iot").unwrap().slowdown).abs() < 0.05
        );
        let slowdowns: Vec<f64> = DEVICE_CLASSES.iter().map(|c| c.slowdown).collect();
        assert!(slowdowns.windows(2).all(|w| w[0] < w[1]), "fastest first: {slowdowns:?}");
        assert!(device_class("toaster").unwrap_err().contains("flagship, mid-range, low-end, wearable"));
    }
}
