//! `tandem calibrate MODEL --inputs PATH...`: runs representative inputs through every
//! calibrated cut and codec, measures output fidelity, really encoded bytes and encode/decode
//! time, and writes the model's sidecar (`MODEL.tandem.json`, read by the planner).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use tandem_model::encoding::{self, Encoding};
use tandem_model::meta::{Calibration, CodecCalibration, CutCalibration, Task};
use tandem_model::{npy, DType, Executor, LoadOptions, Model, ModelMeta, NamedTensor};

/// `tandem calibrate`.
#[derive(Args)]
pub struct CalibrateArgs {
    /// The ONNX model.
    model: PathBuf,
    /// Representative inputs: `.npy` files (one per input, for single-input models), image
    /// files (`.jpg`, `.png`), or folders of them (read in name order).
    #[arg(long, required = true, num_args = 1..)]
    inputs: Vec<PathBuf>,
    /// Where to write the sidecar (default: `MODEL.tandem.json` beside the model).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// What the output is: `classifier` (top-1 agreement), `embedding` (cosine) or `dense`.
    #[arg(long, default_value = "classifier")]
    task: String,
    /// How an image becomes the input tensor (NCHW RGB, resized to the input's H x W):
    /// `imagenet` ((x/255 - mean) / std), `rgb255` (0..255, as the face embedder), `unit` (0..1).
    #[arg(long, default_value = "imagenet")]
    preprocess: String,
    /// From each image also take this many square crops (a grid of 2x2, then 3x3 windows),
    /// each one input: more inputs from few photos. 0: the whole image only.
    #[arg(long, default_value_t = 0)]
    crops_per_image: usize,
    /// Use at most this many inputs (the first ones).
    #[arg(long)]
    max_inputs: Option<usize>,
    /// The cuts to calibrate (comma-separated). Default: `--max-cuts` cuts evenly spread
    /// over those that carry float32 tensors.
    #[arg(long, value_delimiter = ',')]
    cuts: Vec<usize>,
    /// How many cuts to calibrate when `--cuts` is not given.
    #[arg(long, default_value_t = 12)]
    max_cuts: usize,
    /// The codecs to measure (comma-separated wire names). Default: every encoding.
    #[arg(long, value_delimiter = ',')]
    codecs: Vec<String>,
}

/// Runs `tandem calibrate`.
pub fn run(args: CalibrateArgs) -> Result<()> {
    let task = Task::parse(&args.task)
        .with_context(|| format!("unknown --task `{}`: classifier, embedding or dense", args.task))?;
    let codecs = codecs(&args.codecs)?;
    let model = Arc::new(Model::load(&args.model, &LoadOptions::default())?);
    let inputs = read_inputs(&args, &model)?;
    if inputs.is_empty() {
        bail!("no inputs found in {:?}", args.inputs);
    }
    let cuts = cuts(&args, &model)?;
    eprintln!(
        "calibrating {} on {} inputs, cuts {cuts:?}, codecs {:?}",
        model.path().display(),
        inputs.len(),
        codecs.iter().map(|c| c.wire_name()).collect::<Vec<_>>()
    );
    let exec = Executor::new(model.clone());
    let references: Vec<Vec<f32>> =
        inputs.iter().map(|i| first_output(&exec.run_full(i)?)).collect::<Result<_>>()?;
    // the calibrating machine's speed, for scaling encode and decode times to other machines
    let whole_ms = (0..3)
        .map(|_| {
            let t = Instant::now();
            exec.run_full(&inputs[0]).map(|_| t.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<Vec<f64>, _>>()?
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    let mut calibrated = vec![];
    for &cut in &cuts {
        let started = Instant::now();
        let c = calibrate_cut(&exec, cut, &inputs, &references, &codecs, task)?;
        eprintln!("cut {cut}: {:.1} s", started.elapsed().as_secs_f64());
        for k in &c.codecs {
            eprintln!(
                "  {:<13} mean {:>10.0} B  p95 {:>9} B  enc {:>6.2} ms  dec {:>6.2} ms  {}",
                k.encoding.wire_name(),
                k.mean_bytes,
                k.p95_bytes,
                k.encode_ms,
                k.decode_ms,
                k.fidelity_text(task)
            );
        }
        calibrated.push(c);
    }
    let out = args.out.clone().unwrap_or_else(|| ModelMeta::path_for(&args.model));
    let mut meta = if out.exists() { ModelMeta::load(&out)? } else { ModelMeta::default() };
    let mut calibration = Calibration {
        task,
        inputs: describe_inputs(&args),
        input_count: inputs.len(),
        whole_ms: Some(whole_ms),
        cuts: calibrated,
    };
    // the same model and task calibrated before: keep what this run did not measure again
    if let Some(old) = meta.calibration.take().filter(|c| c.task == task && meta.sha256 == model.hash()) {
        calibration = merge(old, calibration);
    }
    meta.model = args.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    meta.sha256 = model.hash().to_string();
    meta.calibration = Some(calibration);
    std::fs::write(&out, serde_json::to_string_pretty(&meta)? + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// `new` over `old`: new (cut, codec) measurements replace old ones, the rest is kept.
fn merge(old: Calibration, mut new: Calibration) -> Calibration {
    for old_cut in old.cuts {
        match new.cuts.iter_mut().find(|c| c.cut == old_cut.cut) {
            None => new.cuts.push(old_cut),
            Some(cut) => {
                for k in old_cut.codecs {
                    if !cut.codecs.iter().any(|n| n.encoding == k.encoding) {
                        cut.codecs.push(k);
                    }
                }
                cut.codecs.sort_by_key(|k| Encoding::ALL.iter().position(|e| *e == k.encoding));
            }
        }
    }
    new.cuts.sort_by_key(|c| c.cut);
    if old.inputs != new.inputs {
        new.inputs = format!("{}; earlier: {} ({} inputs)", new.inputs, old.inputs, old.input_count);
    }
    new
}

fn codecs(names: &[String]) -> Result<Vec<Encoding>> {
    if names.is_empty() {
        return Ok(Encoding::ALL.to_vec());
    }
    let mut out = vec![Encoding::Fp32];
    for n in names {
        let e = Encoding::from_wire_name(n).with_context(|| {
            format!("unknown codec `{n}`: expected one of {:?}", Encoding::ALL.map(Encoding::wire_name))
        })?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

fn cuts(args: &CalibrateArgs, model: &Model) -> Result<Vec<usize>> {
    let last = model.last_cut();
    if !args.cuts.is_empty() {
        if let Some(c) = args.cuts.iter().find(|c| **c > last) {
            bail!("--cuts: cut {c} does not exist (the last is {last})");
        }
        return Ok(args.cuts.clone());
    }
    let with_floats: Vec<usize> = model
        .cuts()
        .iter()
        .filter(|c| c.id < last && c.tensors.iter().any(|t| t.dtype == DType::Fp32))
        .map(|c| c.id)
        .collect();
    let n = args.max_cuts.max(1).min(with_floats.len());
    let mut picked: Vec<usize> =
        (0..n).map(|i| with_floats[i * with_floats.len().saturating_sub(1) / (n - 1).max(1)]).collect();
    picked.dedup();
    Ok(picked)
}

/// The first output's values, as float32.
fn first_output(outputs: &[NamedTensor]) -> Result<Vec<f32>> {
    outputs.first().and_then(NamedTensor::to_f32).context("the model's first output is not float32")
}

fn calibrate_cut(
    exec: &Executor,
    cut: usize,
    inputs: &[Vec<NamedTensor>],
    references: &[Vec<f32>],
    codecs: &[Encoding],
    task: Task,
) -> Result<CutCalibration> {
    // JPEG only where every float32 crossing tensor is an image, [1, 3, H, W]
    let is_image =
        |t: &tandem_model::TensorSpec| t.dtype != DType::Fp32 || matches!(t.shape[..], [1, 3, _, _]);
    let images = exec.model().cut(cut)?.tensors.iter().all(is_image);
    let codecs: Vec<Encoding> = codecs.iter().copied().filter(|c| *c != Encoding::Jpeg || images).collect();
    let codecs = &codecs[..];
    let mut per_codec: Vec<Samples> = codecs.iter().map(|_| Samples::default()).collect();
    let mut fp32_bytes = 0;
    for (input, reference) in inputs.iter().zip(references) {
        let crossing = exec.run_before(cut, input)?;
        fp32_bytes = crossing.iter().filter(|t| t.dtype == DType::Fp32).map(|t| t.data.len() as u64).sum();
        for (&codec, s) in codecs.iter().zip(&mut per_codec) {
            let t0 = Instant::now();
            let encoded = crossing
                .iter()
                .map(|t| encoding::encode(t, if t.dtype == DType::Fp32 { codec } else { Encoding::Fp32 }))
                .collect::<Result<Vec<_>, _>>()?;
            let t1 = Instant::now();
            let decoded = encoded
                .iter()
                .zip(&crossing)
                .map(|(e, t)| encoding::decode_as(e.clone(), &t.shape))
                .collect::<Result<Vec<_>, _>>()?;
            let t2 = Instant::now();
            s.bytes.push(encoded.iter().map(|e| e.tensor.data.len() as u64).sum());
            s.encode_ms += (t1 - t0).as_secs_f64() * 1e3;
            s.decode_ms += (t2 - t1).as_secs_f64() * 1e3;
            let out = first_output(&exec.run_after(cut, &decoded)?)?;
            s.add_fidelity(reference, &out);
        }
    }
    let n = inputs.len() as f64;
    let codecs = codecs
        .iter()
        .zip(per_codec)
        .map(|(&encoding, s)| {
            let mut bytes = s.bytes.clone();
            bytes.sort_unstable();
            let p95 = bytes[((bytes.len() - 1) as f64 * 0.95).round() as usize];
            CodecCalibration {
                encoding,
                mean_bytes: bytes.iter().sum::<u64>() as f64 / n,
                p95_bytes: p95,
                encode_ms: s.encode_ms / n,
                decode_ms: s.decode_ms / n,
                top1_agreement: (task == Task::Classifier).then(|| s.agree as f64 / n),
                max_rel_err: s.max_rel_err,
                min_cosine: s.min_cosine,
                max_rel_l2: s.max_rel_l2,
            }
        })
        .collect();
    Ok(CutCalibration { cut, fp32_bytes, codecs })
}

/// One codec's measurements over the inputs.
struct Samples {
    bytes: Vec<u64>,
    encode_ms: f64,
    decode_ms: f64,
    agree: usize,
    max_rel_err: f64,
    min_cosine: f64,
    max_rel_l2: f64,
}

impl Default for Samples {
    fn default() -> Self {
        Samples {
            bytes: vec![],
            encode_ms: 0.0,
            decode_ms: 0.0,
            agree: 0,
            max_rel_err: 0.0,
            min_cosine: 1.0,
            max_rel_l2: 0.0,
        }
    }
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)
}

impl Samples {
    fn add_fidelity(&mut self, x: &[f32], y: &[f32]) {
        if argmax(x) == argmax(y) {
            self.agree += 1;
        }
        let (mut dot, mut xx, mut yy, mut dd, mut max_abs, mut max_x) = (0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
        for (&a, &b) in x.iter().zip(y) {
            let (a, b) = (f64::from(a), f64::from(b));
            dot += a * b;
            xx += a * a;
            yy += b * b;
            dd += (a - b) * (a - b);
            max_abs = max_abs.max((a - b).abs());
            max_x = max_x.max(a.abs());
        }
        let cosine =
            if xx > 0.0 && yy > 0.0 { dot / (xx.sqrt() * yy.sqrt()) } else { f64::from(u8::from(dd == 0.0)) };
        self.min_cosine = self.min_cosine.min(cosine.min(1.0));
        self.max_rel_l2 = self.max_rel_l2.max(if xx > 0.0 { (dd / xx).sqrt() } else { dd.sqrt() });
        self.max_rel_err = self.max_rel_err.max(if max_x > 0.0 { max_abs / max_x } else { max_abs });
    }
}

fn describe_inputs(args: &CalibrateArgs) -> String {
    let paths: Vec<String> = args.inputs.iter().map(|p| p.display().to_string()).collect();
    format!(
        "{} (preprocess {}, {} crops per image, max {} inputs)",
        paths.join(" "),
        args.preprocess,
        args.crops_per_image,
        args.max_inputs.map_or("all".to_string(), |m| m.to_string())
    )
}

/// Every input file in `args.inputs` (folders expanded in name order).
fn input_files(args: &CalibrateArgs) -> Result<Vec<PathBuf>> {
    let mut files = vec![];
    for p in &args.inputs {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| is_image(f) || has_ext(f, "npy"))
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

fn is_image(p: &Path) -> bool {
    ["jpg", "jpeg", "png"].iter().any(|e| has_ext(p, e))
}

fn read_inputs(args: &CalibrateArgs, model: &Model) -> Result<Vec<Vec<NamedTensor>>> {
    let [spec] = model.inputs() else {
        bail!("calibrate takes single-input models; this one has {} inputs", model.inputs().len());
    };
    let max = args.max_inputs.unwrap_or(usize::MAX);
    let mut out = vec![];
    for f in input_files(args)? {
        if out.len() >= max {
            break;
        }
        if has_ext(&f, "npy") {
            let t = npy::read_npy(&f, &spec.name)?;
            if t.shape != spec.shape || t.dtype != spec.dtype {
                bail!(
                    "{}: {:?} {}, the model takes {:?} {}",
                    f.display(),
                    t.shape,
                    t.dtype,
                    spec.shape,
                    spec.dtype
                );
            }
            out.push(vec![t]);
            continue;
        }
        let img = image::open(&f).with_context(|| format!("reading image {}", f.display()))?.to_rgb8();
        for view in crate::images::views(&img, args.crops_per_image) {
            if out.len() >= max {
                break;
            }
            out.push(vec![crate::images::to_tensor(&view, spec, &args.preprocess)?]);
        }
    }
    Ok(out)
}
