//! Whole-model checks over every cut: `verify` (split equals whole) and `profile` (time of
//! each part on this machine).

use std::time::Instant;

use serde::Serialize;

use crate::error::Result;
use crate::exec::{Executor, Side};
use crate::tensor::{DType, NamedTensor, TensorSpec};

/// A deterministic pseudo-random tensor for `spec`: floats uniform in [-1, 1), integers 0.
pub fn seeded_tensor(spec: &TensorSpec, seed: u64) -> NamedTensor {
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let n = spec.len();
    let data: Vec<u8> = match spec.dtype {
        DType::Fp32 => {
            (0..n).flat_map(|_| ((next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0).to_le_bytes()).collect()
        }
        _ => vec![0; spec.bytes() as usize],
    };
    NamedTensor { name: spec.name.clone(), dtype: spec.dtype, shape: spec.shape.clone(), data }
}

/// Seeded inputs for every model input.
pub fn seeded_inputs(specs: &[TensorSpec]) -> Vec<NamedTensor> {
    specs.iter().enumerate().map(|(i, s)| seeded_tensor(s, i as u64)).collect()
}

/// The result of checking one cut.
#[derive(Clone, Debug, Serialize)]
pub struct CutCheck {
    /// The cut.
    pub id: usize,
    /// Number of tensors crossing it.
    pub tensors: usize,
    /// Largest absolute difference between split and whole outputs.
    pub max_abs_diff: f64,
}

/// Runs every cut's two parts and compares their outputs with the whole model's.
/// `on_cut` sees each result as it is produced (for progress output).
pub fn verify(
    exec: &Executor,
    inputs: &[NamedTensor],
    mut on_cut: impl FnMut(&CutCheck),
) -> Result<Vec<CutCheck>> {
    let whole = exec.run_full(inputs)?;
    let mut checks = vec![];
    for cut in exec.model().cuts() {
        let crossing = exec.run_before(cut.id, inputs)?;
        let outputs = exec.run_after(cut.id, &crossing)?;
        let max_abs_diff = whole
            .iter()
            .zip(&outputs)
            .map(|(w, o)| if w.name == o.name { w.max_abs_diff(o) } else { f64::INFINITY })
            .fold(0.0, f64::max);
        let check = CutCheck { id: cut.id, tensors: cut.tensors.len(), max_abs_diff };
        on_cut(&check);
        checks.push(check);
    }
    Ok(checks)
}

/// Measured time of both parts of one cut on this machine.
#[derive(Clone, Debug, Serialize)]
pub struct CutTiming {
    /// The cut.
    pub id: usize,
    /// Median run time of the part before the cut, in milliseconds.
    pub before_ms: f64,
    /// Median run time of the part after the cut, in milliseconds.
    pub after_ms: f64,
    /// Bytes crossing the cut.
    pub bytes: u64,
    /// Cold build time of the part before the cut, in milliseconds.
    pub before_build_ms: f64,
    /// Cold build time of the part after the cut, in milliseconds.
    pub after_build_ms: f64,
}

/// Median wall time of `runs` calls of `f` after one warm-up call, in milliseconds.
pub fn median_ms(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut times = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// The measured time of one part.
#[derive(Clone, Debug)]
pub struct PartTiming {
    /// Median run time, in milliseconds.
    pub run_ms: f64,
    /// Cold build time, in milliseconds.
    pub build_ms: f64,
    /// What the part produced on the timed input.
    pub outputs: Vec<NamedTensor>,
}

/// Times one part of cut `cut` on `inputs` (the model inputs for [`Side::Before`], the
/// crossing tensors for [`Side::After`]): one warm-up run, then the median of `runs`.
/// Shared by `profile` and the device calibration (`devprofile`).
pub fn time_part(
    exec: &Executor,
    cut: usize,
    side: Side,
    inputs: &[NamedTensor],
    runs: usize,
) -> Result<PartTiming> {
    let part = exec.part(cut, side)?;
    let outputs = part.run(inputs)?;
    let run_ms = median_ms(runs, || part.run(inputs).map(drop))?;
    Ok(PartTiming { run_ms, build_ms: part.build_ms, outputs })
}

/// Measures every cut's two parts (one warm-up, median of `runs`).
pub fn profile(
    exec: &Executor,
    inputs: &[NamedTensor],
    runs: usize,
    mut on_cut: impl FnMut(&CutTiming),
) -> Result<Vec<CutTiming>> {
    let mut timings = vec![];
    for cut in exec.model().cuts() {
        let before = time_part(exec, cut.id, Side::Before, inputs, runs)?;
        let after = time_part(exec, cut.id, Side::After, &before.outputs, runs)?;
        let timing = CutTiming {
            id: cut.id,
            before_ms: before.run_ms,
            after_ms: after.run_ms,
            bytes: cut.bytes,
            before_build_ms: before.build_ms,
            after_build_ms: after.build_ms,
        };
        on_cut(&timing);
        timings.push(timing);
    }
    Ok(timings)
}
