//! The benchmark's settings: the command line with the quick/full defaults filled in and
//! checked.

use std::path::PathBuf;

use crate::error::BenchError;
use crate::networks::Network;
use crate::protocol::ModelSpec;
use crate::results::Skipped;
use crate::{BenchArgs, CutsChoice, ShaperChoice, ThrottleChoice};

/// The standard models of the full run, in order.
const FULL_MODELS: [&str; 5] = ["face_embedder", "mobilenetv2", "resnet18", "alexnet", "vgg16"];
/// The committed models: the quick run.
const QUICK_MODELS: [&str; 2] = ["face_embedder", "mobilenetv2"];

/// The options with the quick/full defaults filled in.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) quick: bool,
    pub(crate) out: PathBuf,
    pub(crate) models: Vec<ModelSpec>,
    pub(crate) skipped: Vec<Skipped>,
    pub(crate) networks: Vec<Network>,
    pub(crate) slowdown: f64,
    pub(crate) throttle: ThrottleChoice,
    pub(crate) shaper: ShaperChoice,
    pub(crate) runs: usize,
    pub(crate) all_cuts: bool,
    pub(crate) max_oracle_cuts: Option<usize>,
    pub(crate) min_bytes_drop: f64,
    pub(crate) cap_factor: f64,
    pub(crate) cap_floor_ms: f64,
    pub(crate) edge_only_cap_ms: f64,
    pub(crate) edge_profile_s: f64,
    pub(crate) calibration_cuts: usize,
    pub(crate) trace_ms: f64,
    pub(crate) segment_ms: f64,
    pub(crate) period_ms: f64,
    pub(crate) deadline_ms: Option<f64>,
    pub(crate) trace_model: Option<String>,
    pub(crate) seed: u64,
    pub(crate) settle_requests: usize,
    /// `--three-tiers` and its options.
    pub(crate) three_tiers: Option<ThreeTierSettings>,
    /// `--device-classes` / `--ratios`: the phone speeds of the sweep, in order (empty: one
    /// run at `slowdown`). `slowdown` is the first one's.
    pub(crate) speeds: Vec<crate::speed_sweep::PhoneSpeed>,
    /// The photo the phone's image inputs are made from.
    pub(crate) input_image: Option<PathBuf>,
}

/// The options of the three-tier scenario.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ThreeTierSettings {
    /// How many times slower than the cloud the edge is.
    pub(crate) edge_slowdown: f64,
    /// The edge-to-cloud link's rate each way, Mbps.
    pub(crate) cloud_mbps: f64,
    /// Its round trip, ms.
    pub(crate) cloud_rtt_ms: f64,
    /// The cloud cuts forced after cut 0 (empty: 1, last/4, last/2).
    pub(crate) cloud_cuts: Vec<usize>,
}

fn positive(name: &str, v: f64) -> Result<f64, BenchError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(BenchError::Args(format!("{name} must be a positive number, not {v}")))
    }
}

impl Settings {
    /// The settings of `a`, or what is wrong with it.
    pub(crate) fn resolve(a: &BenchArgs) -> Result<Settings, BenchError> {
        let q = a.quick;
        let names: Vec<String> = if a.models.is_empty() {
            (if q { &QUICK_MODELS[..] } else { &FULL_MODELS[..] }).iter().map(|s| s.to_string()).collect()
        } else {
            a.models.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
        };
        let mut models: Vec<ModelSpec> = vec![];
        let mut skipped = vec![];
        for name in names {
            let as_path = PathBuf::from(&name);
            let found = if name.ends_with(".onnx") || name.contains('/') {
                as_path.is_file().then_some(as_path.clone())
            } else {
                a.models_dirs.iter().map(|d| d.join(format!("{name}.onnx"))).find(|p| p.is_file())
            };
            let stem = as_path.file_stem().and_then(|s| s.to_str()).unwrap_or(&name).to_string();
            match found {
                Some(path) if !models.iter().any(|m| m.name == stem) => {
                    let input_shapes =
                        a.input_shapes.iter().find(|(n, _)| *n == stem).map(|(_, s)| s.clone());
                    models.push(ModelSpec { name: stem, path, input_shapes })
                }
                Some(_) => {}
                None => skipped.push(Skipped {
                    model: stem,
                    reason: format!(
                        "no file: looked for {} (make it with models/scripts/export_torchvision.py)",
                        if name.ends_with(".onnx") || name.contains('/') {
                            name.clone()
                        } else {
                            a.models_dirs
                                .iter()
                                .map(|d| d.join(format!("{name}.onnx")).display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                }),
            }
        }
        if models.is_empty() {
            return Err(BenchError::Args(format!(
                "none of the models was found: {}",
                skipped.iter().map(|s| s.reason.as_str()).collect::<Vec<_>>().join("; ")
            )));
        }
        if let Some((name, _)) = a.input_shapes.iter().find(|(n, _)| !models.iter().any(|m| &m.name == n)) {
            return Err(BenchError::Args(format!(
                "--input-shape {name}=...: `{name}` is not among the models run"
            )));
        }
        if let Some(t) = &a.trace_model {
            if !models.iter().any(|m| &m.name == t) {
                return Err(BenchError::Args(format!("--trace-model {t} is not among the models run")));
            }
        }
        let runs = a.runs;
        if runs == 0 {
            return Err(BenchError::Args("--runs must be at least 1".into()));
        }
        let trace_s = a.trace_s.unwrap_or(if q { 20.0 } else { 120.0 });
        if !(trace_s.is_finite() && trace_s >= 0.0) {
            return Err(BenchError::Args(format!("--trace-s {trace_s}")));
        }
        let speeds = crate::speed_sweep::PhoneSpeed::parse(&a.device_classes, &a.ratios)?;
        let slowdown = match (&a.device_class, speeds.first()) {
            (_, Some(first)) => first.slowdown,
            (Some(name), None) => crate::device_class::device_class(name).map_err(BenchError::Args)?.slowdown,
            (None, None) => a.slowdown,
        };
        crate::throttle::cfs_for(slowdown)?;
        if !speeds.is_empty() && a.three_tiers {
            return Err(BenchError::Args(
                "--device-classes and --ratios sweep the two-tier setup: run --three-tiers separately".into(),
            ));
        }
        let input_image = match (&a.input_image, speeds.is_empty()) {
            (Some(p), _) if !p.is_file() => {
                return Err(BenchError::Args(format!("--input-image {}: no such file", p.display())))
            }
            (Some(p), _) => Some(p.clone()),
            (None, false) => Some(PathBuf::from(crate::speed_sweep::DEFAULT_IMAGE)).filter(|p| p.is_file()),
            (None, true) => None,
        };
        let three_tiers = if a.three_tiers {
            if a.shaper == ShaperChoice::Kernel {
                return Err(BenchError::Args(
                    "--three-tiers needs --shaper linkemu (the edge in the kernel shaper's namespace cannot reach \
                     the cloud)"
                        .into(),
                ));
            }
            crate::throttle::cfs_for(a.edge_slowdown).map_err(|_| {
                BenchError::Args(format!("--edge-slowdown {}: expected 1 to 1000", a.edge_slowdown))
            })?;
            Some(ThreeTierSettings {
                edge_slowdown: a.edge_slowdown,
                cloud_mbps: positive("--cloud-mbps", a.cloud_mbps)?,
                cloud_rtt_ms: a.cloud_rtt_ms.max(0.0),
                cloud_cuts: a.cloud_cuts.clone(),
            })
        } else {
            None
        };
        Ok(Settings {
            quick: q,
            out: a.out.clone(),
            models,
            skipped,
            networks: Network::parse_list(&a.networks)?,
            slowdown,
            throttle: a.throttle,
            shaper: a.shaper,
            runs,
            all_cuts: a.cuts.unwrap_or(if q { CutsChoice::Subset } else { CutsChoice::All })
                == CutsChoice::All,
            max_oracle_cuts: a.max_oracle_cuts,
            min_bytes_drop: a.min_bytes_drop.clamp(0.0, 0.99),
            cap_factor: positive("--cap-factor", a.cap_factor)?,
            cap_floor_ms: a.cap_floor_ms.max(0.0),
            edge_only_cap_ms: positive(
                "--edge-only-cap-s",
                a.edge_only_cap_s.unwrap_or(if q { 5.0 } else { 60.0 }),
            )? * 1e3,
            edge_profile_s: a.edge_profile_s.unwrap_or(if q { 10.0 } else { 60.0 }).max(0.0),
            calibration_cuts: a.calibration_cuts.unwrap_or(if q { 16 } else { 24 }).max(2),
            trace_ms: trace_s * 1e3,
            segment_ms: positive("--segment-s", a.segment_s.unwrap_or(if q { 2.5 } else { 4.0 }))? * 1e3,
            period_ms: positive("--period-ms", a.period_ms)?,
            deadline_ms: a.deadline_ms.map(|d| positive("--deadline-ms", d)).transpose()?,
            trace_model: a.trace_model.clone(),
            seed: a.seed,
            settle_requests: a.settle_requests,
            three_tiers,
            speeds,
            input_image,
        })
    }
}
