//! The cost model: per-cut data prepared once per decision ([`Prepared`]), the predicted
//! latency, energy and score of running a request one way ([`Scorer`]), and every way the
//! planner may run it ([`candidates`]). See docs/PLANNER.md for the formulas.

use tandem_model::encoding::Encoding;
use tandem_model::meta::Calibration;
use tandem_model::{first_cut_with_outputs, DType};

use crate::energy::{transfer_ms, Activity, EnergyModel};
use crate::netest::LinkEstimate;
use crate::platform::NetworkKind;
use crate::policy::{balanced_weights, Objective};
use crate::validate::{self, Checked};
use crate::EdgeLoad;
use crate::{PlanError, PlanInput, Prediction};

/// Per-cut data prepared once per decision.
pub(crate) struct Prepared<'a> {
    /// The checked times, floor and tiers.
    pub checked: Checked<'a>,
    /// Float32 bytes crossing each cut that an exit still needs (exit outputs excluded).
    pub float_bytes: Vec<u64>,
    /// Other bytes crossing each cut that an exit still needs.
    pub other_bytes: Vec<u64>,
    /// The exits the planner may choose; the last is the most accurate.
    pub exits: Vec<ExitChoice<'a>>,
    /// Why nothing may leave the phone, if so.
    pub blocked: Option<String>,
    /// The encodings the crossing tensors may use, with their accuracy drop.
    pub encodings: Vec<(Encoding, f64)>,
    /// A forced encoding the policy does not allow: among `encodings` for the forced choice
    /// only, never the planner's own.
    pub forced_only: Option<Encoding>,
}

/// One exit the planner may choose.
pub(crate) struct ExitChoice<'a> {
    /// The exit's name (`None`: the model's outputs).
    pub name: Option<&'a str>,
    /// Its accuracy, from the model's metadata.
    pub accuracy: Option<f64>,
    /// The first cut at which the exit's output exists: the local-only cut for this exit.
    pub ready_cut: usize,
    /// Bytes of the exit's output.
    pub output_bytes: u64,
}

/// One way to run the request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    /// Index in [`Prepared::exits`].
    pub exit: usize,
    /// Where the phone stops.
    pub cut: usize,
    /// Where the edge stops (three tiers).
    pub cloud_cut: Option<usize>,
    /// The crossing tensors' encoding.
    pub encoding: Encoding,
    /// The exit's accuracy with this encoding.
    pub accuracy: Option<f64>,
    /// Predicted costs.
    pub p: Prediction,
    /// The objective's score (lower is better).
    pub score: f64,
    /// Whether anything leaves the phone.
    pub offloads: bool,
    /// Whether the edge can take it: an offloadable cut and a usable encoding.
    pub fits: bool,
}

/// Checks the input and prepares the per-cut data.
pub(crate) fn prepare<'a>(input: &PlanInput<'a>) -> Result<Prepared<'a>, PlanError> {
    let checked = validate::check(input)?;
    let exit_outputs: Vec<&str> =
        input.meta.map(|m| m.exits.iter().map(|e| e.output.as_str()).collect()).unwrap_or_default();
    let mut float_bytes = vec![0; input.cuts.len()];
    let mut other_bytes = vec![0; input.cuts.len()];
    for c in input.cuts {
        for t in c.tensors.iter().filter(|t| !exit_outputs.contains(&t.name.as_str())) {
            if t.dtype == DType::Fp32 {
                float_bytes[c.id] += t.bytes();
            } else {
                other_bytes[c.id] += t.bytes();
            }
        }
    }
    let exits = exits(input, checked.last)?;
    let mut encodings = encodings(input);
    let forced_only = forced_only(input, &mut encodings);
    Ok(Prepared { checked, float_bytes, other_bytes, exits, blocked: blocked(input), encodings, forced_only })
}

/// The exits the planner may choose: every declared exit with a deadline, else the most
/// accurate; without declared exits, the model's outputs at the last cut.
fn exits<'a>(input: &PlanInput<'a>, last: usize) -> Result<Vec<ExitChoice<'a>>, PlanError> {
    let cuts = input.cuts;
    let Some(meta) = input.meta.filter(|m| !m.exits.is_empty()) else {
        return Ok(vec![ExitChoice {
            name: None,
            accuracy: None,
            ready_cut: last,
            output_bytes: cuts[last].bytes,
        }]);
    };
    let mut exits = vec![];
    for e in &meta.exits {
        let ready = first_cut_with_outputs(cuts.iter().map(|c| c.tensors.as_slice()), 0, &[&e.output]);
        let Some(ready_cut) = ready else {
            return Err(PlanError::UnknownExit { name: e.name.clone(), output: e.output.clone() });
        };
        let output_bytes =
            cuts[ready_cut].tensors.iter().find(|t| t.name == e.output).map_or(0, |t| t.bytes());
        exits.push(ExitChoice { name: Some(&e.name), accuracy: Some(e.accuracy), ready_cut, output_bytes });
    }
    // without a deadline, only the final (most accurate) exit is a choice
    if input.policy.deadline_ms.is_none() {
        let best = exits
            .iter()
            .enumerate()
            .max_by(|a, b| {
                a.1.accuracy.unwrap_or(0.0).total_cmp(&b.1.accuracy.unwrap_or(0.0)).then(b.0.cmp(&a.0))
            })
            .map(|(i, _)| i)
            .expect("non-empty");
        exits = vec![exits.swap_remove(best)];
    }
    Ok(exits)
}

/// Why nothing may leave the phone, if so.
fn blocked(input: &PlanInput) -> Option<String> {
    let link = input.link;
    if !input.platform.network.is_online() {
        Some("offline".into())
    } else if input.platform.metered && !input.policy.allow_metered {
        Some("the network is metered and the policy forbids metered data".into())
    } else if input.edge.is_none() {
        Some("no edge".into())
    } else if !(link.uplink_mbps > 0.0 && link.downlink_mbps > 0.0) || link.rtt_ms.is_infinite() {
        Some("the link to the edge is down".into())
    } else {
        None
    }
}

/// The encodings the policy allows within its accuracy budget (float32 when none), plus
/// float32 when the constraints rule out every one of them.
fn encodings(input: &PlanInput) -> Vec<(Encoding, f64)> {
    let policy = input.policy;
    let allowed: Vec<(Encoding, f64)> = Encoding::ALL
        .into_iter()
        .filter(|e| policy.encodings.contains(e))
        .filter_map(|e| {
            // a calibrated codec is judged per cut (see `codec_at`)
            if calibration(input).is_some_and(|c| c.cuts.iter().any(|k| c.codec(k.cut, e).is_some())) {
                return Some((e, 0.0));
            }
            let drop =
                if e == Encoding::Fp32 { Some(0.0) } else { input.meta.and_then(|m| m.accuracy_drop(e)) };
            drop.filter(|d| *d <= policy.max_accuracy_drop && !e.is_packed()).map(|d| (e, d))
        })
        .collect();
    let mut encodings = if allowed.is_empty() { vec![(Encoding::Fp32, 0.0)] } else { allowed };
    // float32 needs no decoder: the fallback when every allowed encoding is unusable
    let constraints = &input.constraints;
    if encodings.iter().all(|(e, _)| constraints.unusable(*e).is_some())
        && constraints.unusable(Encoding::Fp32).is_none()
    {
        encodings.insert(0, (Encoding::Fp32, 0.0));
    }
    encodings
}

fn calibration<'a>(input: &PlanInput<'a>) -> Option<&'a Calibration> {
    input.meta.and_then(|m| m.calibration.as_ref())
}

/// One codec at one cut: predicted bytes up (`None`: the fixed size of the encoding),
/// accuracy drop, encode and decode ms, and the calibrated fidelity for reports.
pub(crate) struct CodecCost {
    pub bytes_up: Option<u64>,
    pub drop: f64,
    pub encode_ms: f64,
    pub decode_ms: f64,
    pub fidelity: Option<String>,
}

/// What `encoding` costs at cut `c`, or `None` when it may not be used there: a calibrated
/// codec whose measured fidelity misses the policy's floor (never a candidate, even when
/// forced), or a packed codec without calibration at this cut (its size is unknown).
pub(crate) fn codec_at(input: &PlanInput, c: usize, encoding: Encoding, drop: f64) -> Option<CodecCost> {
    if let Some(cal) = calibration(input).filter(|_| encoding != Encoding::Fp32) {
        if let Some(k) = cal.codec(c, encoding) {
            if !k.meets(cal.task, input.policy.max_accuracy_drop) {
                return None;
            }
            let phone = phone_speed_ratio(input, cal);
            return Some(CodecCost {
                bytes_up: Some(k.mean_bytes.round() as u64),
                drop: k.drop(cal.task),
                encode_ms: k.encode_ms * phone,
                decode_ms: k.decode_ms,
                fidelity: Some(k.fidelity_text(cal.task)),
            });
        }
    }
    if encoding.is_packed() {
        return None;
    }
    let drop = match calibration(input) {
        // calibrated at other cuts only: here only a measured model-wide drop admits it
        Some(cal)
            if encoding != Encoding::Fp32
                && cal.cuts.iter().any(|k| cal.codec(k.cut, encoding).is_some()) =>
        {
            input
                .meta
                .and_then(|m| m.accuracy_drop(encoding))
                .filter(|d| *d <= input.policy.max_accuracy_drop)?
        }
        _ => drop,
    };
    Some(CodecCost { bytes_up: None, drop, encode_ms: 0.0, decode_ms: 0.0, fidelity: None })
}

/// How much slower than the calibrating machine the phone runs the whole model (its device
/// profile's whole-model time over the calibration's): a phone encodes as much slower as it
/// computes. 1 when either time is unknown. Decode times are used as measured: the edge
/// decodes with the same Rust code, and its model engine's speed says nothing about it.
fn phone_speed_ratio(input: &PlanInput, cal: &Calibration) -> f64 {
    let reference = cal.whole_ms.filter(|w| w.is_finite() && *w > 0.0);
    let phone = input.device.before_ms.last().copied().filter(|m| m.is_finite() && *m > 0.0);
    match (phone, reference) {
        (Some(phone), Some(reference)) => phone / reference,
        _ => 1.0,
    }
}

/// Adds a usable forced encoding the policy does not allow to `encodings`, and returns it.
fn forced_only(input: &PlanInput, encodings: &mut Vec<(Encoding, f64)>) -> Option<Encoding> {
    let forced = input.constraints.forced_encoding?;
    if encodings.iter().any(|(e, _)| *e == forced) || input.constraints.unusable(forced).is_some() {
        return None;
    }
    let drop = if forced == Encoding::Fp32 {
        0.0
    } else {
        input.meta.and_then(|m| m.accuracy_drop(forced)).unwrap_or(0.0)
    };
    encodings.push((forced, drop));
    Some(forced)
}

/// The wait before a server starts on a request: its recent queue wait, plus, when every slot
/// is busy, the work ahead shared over the slots.
pub(crate) fn queue_ms(load: &EdgeLoad, after_ms: f64) -> f64 {
    let capacity = load.capacity.max(1);
    let busy = load.in_flight + load.queued;
    let ahead =
        if busy >= capacity { (busy + 1 - capacity) as f64 / capacity as f64 * after_ms } else { 0.0 };
    load.queue_wait_ms + ahead
}

/// Bytes on the wire for a cut's tensors in `encoding` (only float32 tensors are encoded).
pub(crate) fn encoded_bytes(float_bytes: u64, other_bytes: u64, encoding: Encoding) -> u64 {
    float_bytes / 4 * encoding.bytes_per_element() as u64 + other_bytes
}

/// Predicts and scores one way of running the request.
pub(crate) struct Scorer<'a> {
    energy: &'a EnergyModel,
    link: &'a LinkEstimate,
    network: NetworkKind,
    objective: Objective,
    /// The balanced objective's latency scale, ms: the local-only run of the final exit.
    l0: f64,
    /// The balanced objective's energy scale, mJ.
    e0: f64,
    /// The balanced objective's energy weight.
    pub w_energy: f64,
    /// The balanced objective's weight on phone compute (thermal pressure).
    pub w_thermal: f64,
}

impl<'a> Scorer<'a> {
    /// The scorer of one decision.
    pub fn new(input: &PlanInput<'a>, prep: &Prepared) -> Self {
        let (w_energy, w_thermal) = balanced_weights(input.platform);
        let mut scorer = Scorer {
            energy: input.energy,
            link: input.link,
            network: input.platform.network,
            objective: input.policy.objective,
            l0: 1.0,
            e0: 1.0,
            w_energy,
            w_thermal,
        };
        let final_exit = prep.exits.last().expect("at least one exit");
        let reference = scorer.local(prep.checked.before_ms[final_exit.ready_cut]);
        scorer.l0 = reference.total_ms.max(1e-3);
        scorer.e0 = reference.energy_mj.max(1e-3);
        scorer
    }

    /// The objective's score (lower is better).
    pub fn score(&self, p: &Prediction) -> f64 {
        match self.objective {
            Objective::Latency => p.total_ms,
            Objective::Energy => p.energy_mj,
            Objective::Balanced => {
                p.total_ms / self.l0
                    + self.w_energy * p.energy_mj / self.e0
                    + self.w_thermal * p.phone_ms / self.l0
            }
        }
    }

    /// Everything on the phone: `phone_ms` of compute, no radio.
    pub fn local(&self, phone_ms: f64) -> Prediction {
        let e = self.energy.breakdown(&Activity { compute_ms: phone_ms, ..Default::default() }, self.network);
        Prediction {
            phone_ms,
            total_ms: phone_ms,
            energy_mj: e.total_mj(),
            energy_without_tail_mj: e.total_without_tail_mj(),
            ..Default::default()
        }
    }

    /// `phone_ms` on the phone, `bytes_up` sent, `edge_ms` and `cloud_ms` waited for,
    /// `bytes_down` received.
    pub fn offload(
        &self,
        phone_ms: f64,
        bytes_up: u64,
        bytes_down: u64,
        edge_ms: f64,
        cloud_ms: f64,
    ) -> Prediction {
        let link = self.link;
        let upload_ms = transfer_ms(bytes_up, link.uplink_mbps);
        let download_ms = transfer_ms(bytes_down, link.downlink_mbps);
        let wait_ms = link.rtt_ms + edge_ms + cloud_ms;
        let e = self.energy.breakdown(
            &Activity {
                compute_ms: phone_ms,
                upload_ms,
                uplink_mbps: link.uplink_mbps,
                wait_ms,
                download_ms,
                downlink_mbps: link.downlink_mbps,
                used_radio: true,
            },
            self.network,
        );
        Prediction {
            phone_ms,
            upload_ms,
            rtt_ms: link.rtt_ms,
            edge_ms,
            cloud_ms,
            download_ms,
            total_ms: phone_ms + upload_ms + wait_ms + download_ms,
            bytes_up,
            bytes_down,
            energy_mj: e.total_mj(),
            energy_without_tail_mj: e.total_without_tail_mj(),
        }
    }
}

/// Every way to run the request: per exit, local-only and (unless offloading is blocked) each
/// allowed cut with each encoding; then, with a cloud, the three-tier ones. Returns them and
/// how many are two-tier (those come first).
pub(crate) fn candidates(input: &PlanInput, prep: &Prepared, scorer: &Scorer) -> (Vec<Candidate>, usize) {
    let cuts = input.cuts.len();
    let mut out = Vec::with_capacity(prep.exits.len() * (cuts * prep.encodings.len() + 1));
    for (k, exit) in prep.exits.iter().enumerate() {
        let p = scorer.local(prep.checked.before_ms[exit.ready_cut]);
        out.push(Candidate {
            exit: k,
            cut: exit.ready_cut,
            cloud_cut: None,
            encoding: Encoding::Fp32,
            accuracy: exit.accuracy,
            p,
            score: scorer.score(&p),
            offloads: false,
            fits: true,
        });
        if prep.blocked.is_none() {
            two_tiers(input, prep, scorer, k, &mut out);
        }
    }
    let two_tier_count = out.len();
    if prep.blocked.is_none() {
        three_tiers(input, prep, scorer, &mut out);
    }
    (out, two_tier_count)
}

/// Exit `k` with the edge finishing from each allowed cut.
fn two_tiers(input: &PlanInput, prep: &Prepared, scorer: &Scorer, k: usize, out: &mut Vec<Candidate>) {
    let exit = &prep.exits[k];
    let edge = input.edge.expect("not blocked: an edge exists");
    let after_ms = &prep.checked.edge_after_ms;
    let constraints = &input.constraints;
    for c in prep.checked.min_cut..exit.ready_cut {
        let edge_compute = (after_ms[c] - after_ms[exit.ready_cut]).max(0.0);
        let edge_ms = edge_compute + queue_ms(&edge.load, edge_compute);
        for &(encoding, drop) in &prep.encodings {
            if encoding != Encoding::Fp32 && prep.float_bytes[c] == 0 {
                continue;
            }
            let Some(cost) = codec_at(input, c, encoding, drop) else { continue };
            let drop = cost.drop;
            let bytes_up = cost
                .bytes_up
                .unwrap_or_else(|| encoded_bytes(prep.float_bytes[c], prep.other_bytes[c], encoding));
            let phone_ms = prep.checked.before_ms[c] + cost.encode_ms;
            let p = scorer.offload(phone_ms, bytes_up, exit.output_bytes, edge_ms + cost.decode_ms, 0.0);
            out.push(Candidate {
                exit: k,
                cut: c,
                cloud_cut: None,
                encoding,
                accuracy: exit.accuracy.map(|a| (a - drop).max(0.0)),
                p,
                score: scorer.score(&p),
                offloads: true,
                fits: constraints.offloadable(c) && constraints.unusable(encoding).is_none(),
            });
        }
    }
}

/// Three tiers, final exit only: the edge runs cuts c1..c2, the cloud c2.. .
fn three_tiers(input: &PlanInput, prep: &Prepared, scorer: &Scorer, out: &mut Vec<Candidate>) {
    let Some((cloud, cloud_after_ms)) = &prep.checked.cloud else { return };
    let edge = input.edge.expect("not blocked: an edge exists");
    let k = prep.exits.len() - 1;
    let exit = &prep.exits[k];
    let up2 = cloud.link;
    if !(up2.uplink_mbps > 0.0 && up2.downlink_mbps > 0.0 && up2.rtt_ms.is_finite()) {
        return;
    }
    let edge_after_ms = &prep.checked.edge_after_ms;
    let constraints = &input.constraints;
    for c1 in prep.checked.min_cut..exit.ready_cut {
        for c2 in c1..exit.ready_cut {
            let edge_compute = (edge_after_ms[c1] - edge_after_ms[c2]).max(0.0);
            let edge_ms = edge_compute + queue_ms(&edge.load, edge_compute);
            let cloud_compute = (cloud_after_ms[c2] - cloud_after_ms[exit.ready_cut]).max(0.0);
            for &(encoding, drop) in &prep.encodings {
                // packed codecs are two-tier only: the edge forwards float32 to the cloud
                if encoding != Encoding::Fp32 && (prep.float_bytes[c1] == 0 || encoding.is_packed()) {
                    continue;
                }
                let bytes_up = encoded_bytes(prep.float_bytes[c1], prep.other_bytes[c1], encoding);
                let bytes_mid = encoded_bytes(prep.float_bytes[c2], prep.other_bytes[c2], encoding);
                let cloud_ms = transfer_ms(bytes_mid, up2.uplink_mbps)
                    + up2.rtt_ms
                    + cloud_compute
                    + queue_ms(&cloud.profile.load, cloud_compute)
                    + transfer_ms(exit.output_bytes, up2.downlink_mbps);
                let p = scorer.offload(
                    prep.checked.before_ms[c1],
                    bytes_up,
                    exit.output_bytes,
                    edge_ms,
                    cloud_ms,
                );
                out.push(Candidate {
                    exit: k,
                    cut: c1,
                    cloud_cut: Some(c2),
                    encoding,
                    accuracy: exit.accuracy.map(|a| (a - drop).max(0.0)),
                    p,
                    score: scorer.score(&p),
                    offloads: true,
                    fits: constraints.offloadable(c1)
                        && constraints.unusable(encoding).is_none()
                        && constraints.cloud_takes(c2),
                });
            }
        }
    }
}
