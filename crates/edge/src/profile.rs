//! Per-cut timing of the part after each cut on this server, for `GET /v2/models/{m}/profile`.
//!
//! Measured in the background from startup, within a time budget per model: each cut takes a
//! compute slot like a request (so measuring never oversubscribes the machine), builds its
//! part in a private executor (so the serving cache is not churned), runs it once to warm up
//! and three times timed, and keeps the median. Cuts are measured in a spread order (the
//! ends, then midpoints), so a budget that runs out still covers the whole range; a cut not
//! measured yet is estimated by interpolating its multiply-accumulate count between measured
//! neighbours, and flagged `"measured": false`. Results are cached for the server's life.
//! The body's schema is `tandem_protocol::profile`, shared with the phone's planner.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tandem_model::{check, DType, Executor, Model};
use tokio::sync::watch;

use crate::engine::Engine;
use crate::load::{Load, LoadSnapshot};

pub use tandem_protocol::profile::{
    EdgeCutProfile as CutProfile, EdgeProfile as ProfileReport, ProfileStatus, ServingEngine,
};

struct State {
    after_ms: Vec<Option<f64>>,
    status: ProfileStatus,
}

/// The measured times of one model.
pub(crate) struct Profile {
    state: Mutex<State>,
    /// The engine measured and serving.
    engine: ServingEngine,
}

impl Profile {
    pub(crate) fn new(cuts: usize, enabled: bool, engine: ServingEngine) -> Profile {
        let status = if enabled { ProfileStatus::Running } else { ProfileStatus::Disabled };
        Profile { state: Mutex::new(State { after_ms: vec![None; cuts], status }), engine }
    }

    fn record(&self, cut: usize, ms: f64) {
        if let Ok(mut s) = self.state.lock() {
            if let Some(slot) = s.after_ms.get_mut(cut) {
                *slot = Some(ms);
            }
        }
    }

    fn finish(&self, status: ProfileStatus) {
        if let Ok(mut s) = self.state.lock() {
            s.status = status;
        }
    }

    pub(crate) fn report(&self, name: &str, model: &Model, load: LoadSnapshot) -> ProfileReport {
        let (measured, status) = match self.state.lock() {
            Ok(s) => (s.after_ms.clone(), s.status),
            Err(_) => (vec![None; model.cuts().len()], ProfileStatus::Partial),
        };
        let macs: Vec<u64> = model.cuts().iter().map(|c| c.macs_after).collect();
        let cuts = model
            .cuts()
            .iter()
            .map(|c| {
                let after_ms = measured[c.id].or_else(|| estimate(&measured, &macs, c.id));
                CutProfile::of(c, after_ms, measured[c.id].is_some())
            })
            .collect();
        ProfileReport {
            model: name.into(),
            hash: model.hash().into(),
            status: Some(status),
            cuts,
            load,
            cloud: None,
            engine: Some(self.engine.clone()),
        }
    }
}

/// Estimates an unmeasured cut from its nearest measured neighbours: linear in
/// multiply-accumulates between them, proportional to them beyond the last one.
fn estimate(measured: &[Option<f64>], macs: &[u64], id: usize) -> Option<f64> {
    let below = (0..id).rev().find_map(|i| measured[i].map(|t| (i, t)));
    let above = (id + 1..measured.len()).find_map(|i| measured[i].map(|t| (i, t)));
    let m = macs[id] as f64;
    match (below, above) {
        (Some((a, ta)), Some((b, tb))) => {
            let (ma, mb) = (macs[a] as f64, macs[b] as f64);
            if ma == mb {
                Some((ta + tb) / 2.0)
            } else {
                Some(tb + (ta - tb) * (m - mb) / (ma - mb))
            }
        }
        (Some((n, t)), None) | (None, Some((n, t))) => {
            let mn = macs[n] as f64;
            Some(if mn > 0.0 { t * m / mn } else { t })
        }
        (None, None) => None,
    }
}

/// Cut ids in the order the profiler measures them: both ends, then midpoints breadth first.
pub(crate) fn spread_order(cuts: usize) -> Vec<usize> {
    if cuts == 0 {
        return vec![];
    }
    let mut order = vec![0];
    if cuts > 1 {
        order.push(cuts - 1);
    }
    let mut intervals = std::collections::VecDeque::from([(0, cuts - 1)]);
    while let Some((lo, hi)) = intervals.pop_front() {
        if hi - lo < 2 {
            continue;
        }
        let mid = lo + (hi - lo) / 2;
        order.push(mid);
        intervals.push_back((lo, mid));
        intervals.push_back((mid, hi));
    }
    order
}

/// Measures one cut's part after it, run by `engine`: build, one warm-up, median of three runs.
fn measure(exec: &Executor, engine: &dyn Engine, cut: usize) -> tandem_model::Result<f64> {
    let model = exec.model();
    let spec = model.cut(cut)?;
    // Random float tensors time like real ones; other dtypes (shapes, indices) need real
    // values, computed by the part before the cut.
    let crossing = if cut == 0 {
        check::seeded_inputs(model.inputs())
    } else if spec.tensors.iter().all(|t| t.dtype == DType::Fp32) {
        check::seeded_inputs(&spec.tensors)
    } else {
        exec.run_before(cut, &check::seeded_inputs(model.inputs()))?
    };
    let part = engine.prepare(cut, model.last_cut())?;
    check::median_ms(3, || part.run(&crossing).map(drop))
}

/// Measures every cut of `model` within `budget`, one compute slot at a time, until done,
/// out of budget, or told to stop.
pub(crate) async fn run(
    name: String,
    model: Arc<Model>,
    engine: Arc<dyn Engine>,
    profile: Arc<Profile>,
    load: Arc<Load>,
    budget: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let start = Instant::now();
    // A private executor holding one part at a time: serving parts stay cached.
    let exec = Arc::new(Executor::with_budget(model.clone(), 0));
    let order = spread_order(model.cuts().len());
    for (done, cut) in order.iter().copied().enumerate() {
        if start.elapsed() >= budget || *stop.borrow() {
            log::info!(
                "profile model={name} status=partial measured={done}/{} elapsed_ms={:.0}",
                order.len(),
                start.elapsed().as_secs_f64() * 1e3
            );
            profile.finish(ProfileStatus::Partial);
            return;
        }
        let (slot, _) = tokio::select! {
            slot = load.slot(load.admit_background()) => slot,
            _ = stop.changed() => {
                profile.finish(ProfileStatus::Partial);
                return;
            }
        };
        let exec = exec.clone();
        let engine = engine.clone();
        let measured = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| measure(&exec, engine.as_ref(), cut)))
        })
        .await;
        match measured {
            Ok(Ok(Ok(ms))) => profile.record(cut, ms),
            Ok(Ok(Err(e))) => log::warn!("profile model={name} cut={cut} error=\"{e}\""),
            _ => log::error!("profile model={name} cut={cut} error=\"the measurement panicked\""),
        }
    }
    log::info!(
        "profile model={name} status=done cuts={} elapsed_ms={:.0}",
        order.len(),
        start.elapsed().as_secs_f64() * 1e3
    );
    profile.finish(ProfileStatus::Done);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_order_visits_every_cut_once_ends_first() {
        for n in [1, 2, 3, 5, 28, 100] {
            let order = spread_order(n);
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "n={n}");
            assert_eq!(order[0], 0);
        }
        assert_eq!(spread_order(5)[..3], [0, 4, 2]);
    }

    #[test]
    fn estimates_interpolate_in_macs() {
        let measured = [Some(10.0), None, None, Some(0.0)];
        let macs = [100, 50, 50, 0];
        assert_eq!(estimate(&measured, &macs, 1), Some(5.0));
        let measured = [Some(10.0), None, None, None];
        assert_eq!(estimate(&measured, &macs, 2), Some(5.0));
        assert_eq!(estimate(&[None, None], &[1, 0], 0), None);
    }
}
