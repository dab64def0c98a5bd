//! The body of a Tandem edge's `GET /v2/models/{m}/profile`: the time of the part after each
//! cut on the server and its load. One schema for both sides: the edge serializes it, the
//! phone's planner reads it (from an edge, or a cloud behind it). Fields a reader does not
//! need default, and unknown fields are ignored, so older and newer servers interoperate.

use serde::{Deserialize, Serialize};
use tandem_model::check::CutTiming;
use tandem_model::Cut;

/// Where the server's background measurement is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileStatus {
    /// Not started or still measuring.
    Running,
    /// Every cut is measured.
    Done,
    /// The time budget ran out first: some cuts are estimates.
    Partial,
    /// The budget is zero: nothing is measured.
    Disabled,
}

/// The server's load now.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EdgeLoad {
    /// Requests running now (each on its own compute slot).
    pub in_flight: usize,
    /// Requests waiting for a compute slot.
    pub queued: usize,
    /// Compute slots: requests that run at once.
    pub capacity: usize,
    /// Requests that may wait; beyond that the server answers 503.
    pub max_queued: usize,
    /// Recent time spent waiting for a slot (exponential moving average), ms.
    pub queue_wait_ms: f64,
}

/// One cut in a profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeCutProfile {
    /// The cut id.
    pub id: usize,
    /// Time of the part after the cut on the server, ms (`null` while no cut is measured).
    pub after_ms: Option<f64>,
    /// Whether `after_ms` was measured (else estimated from measured neighbours).
    #[serde(default)]
    pub measured: bool,
    /// The tensors crossing the cut, by name.
    #[serde(default)]
    pub tensors: Vec<String>,
    /// Bytes crossing the cut as stored.
    #[serde(default)]
    pub bytes: u64,
    /// Multiply-accumulates of the part after the cut.
    #[serde(default)]
    pub macs_after: u64,
}

/// A server's per-cut times and load: the body of `GET /v2/models/{m}/profile`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeProfile {
    /// The model name on the server.
    #[serde(default)]
    pub model: String,
    /// The model file's hash on the server: must be the phone's.
    pub hash: String,
    /// Where the measurement is (`None`: not said, as in a profile written by `tandem
    /// profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ProfileStatus>,
    /// Every cut, by id.
    pub cuts: Vec<EdgeCutProfile>,
    /// The load now.
    #[serde(default)]
    pub load: EdgeLoad,
    /// Three tiers: the cloud server behind this edge, as the edge sees it (`None`: no cloud,
    /// or the edge could not reach it yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<Box<CloudInfo>>,
    /// The engine that runs the parts on this server, and why it was chosen (`None`: not
    /// said, as by older servers and `tandem profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<ServingEngine>,
}

/// The engine a server runs the parts with (`tandem edge --engine auto|tract|ort`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServingEngine {
    /// `tract` or `onnxruntime`.
    pub name: String,
    /// ONNX Runtime's execution provider: `cpu` or `cuda` (`None` for tract).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_provider: Option<String>,
    /// Why this engine: what was asked, the library loaded, or why `auto` fell back to tract.
    #[serde(default)]
    pub reason: String,
}

/// What an edge knows of the cloud server behind it: the cloud's own profile of the model
/// and the edge's measured link to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CloudInfo {
    /// The cloud's per-cut times and load, as the cloud's profile endpoint gave them (a
    /// plain OIP cloud has none: then the edge's own times, every cut `measured: false`).
    pub profile: EdgeProfile,
    /// The edge-to-cloud link.
    pub link: CloudLink,
    /// The cuts the cloud can take over at (a plain OIP cloud: the exported parts it has
    /// ready); `None`: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuts: Option<Vec<usize>>,
}

/// The edge-to-cloud link, measured by the edge with the cloud's probe endpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CloudLink {
    /// Edge-to-cloud rate, Mbps.
    pub uplink_mbps: f64,
    /// Cloud-to-edge rate, Mbps.
    pub downlink_mbps: f64,
    /// Round trip, ms.
    pub rtt_ms: f64,
    /// Age of the measurement when the profile was served, ms.
    pub age_ms: f64,
    /// Whether the rates were measured with the cloud's probe endpoints; `false`: declared
    /// by the edge's operator (a plain OIP cloud has no probe endpoint), the round trip
    /// measured.
    #[serde(default = "measured_by_default")]
    pub rates_measured: bool,
}

fn measured_by_default() -> bool {
    true
}

impl EdgeCutProfile {
    /// A cut's entry with `after_ms`; the tensors, bytes and work come from the cut table.
    pub fn of(cut: &Cut, after_ms: Option<f64>, measured: bool) -> EdgeCutProfile {
        EdgeCutProfile {
            id: cut.id,
            after_ms,
            measured,
            tensors: cut.tensors.iter().map(|t| t.name.clone()).collect(),
            bytes: cut.bytes,
            macs_after: cut.macs_after,
        }
    }
}

impl EdgeProfile {
    /// An edge profile from `tandem profile`'s per-cut timings on the machine that will serve
    /// as the edge (one compute slot, no load).
    pub fn from_timings(model: &str, hash: &str, cuts: &[Cut], timings: &[CutTiming]) -> EdgeProfile {
        EdgeProfile {
            model: model.into(),
            hash: hash.into(),
            status: Some(ProfileStatus::Done),
            cuts: cuts
                .iter()
                .zip(timings)
                .map(|(c, t)| EdgeCutProfile::of(c, Some(t.after_ms), true))
                .collect(),
            load: EdgeLoad { capacity: 1, ..Default::default() },
            cloud: None,
            engine: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_profile_parses_and_unknown_fields_are_ignored() {
        let p: EdgeProfile =
            serde_json::from_str(r#"{"hash":"ab","cuts":[{"id":0,"after_ms":1.5}],"extra":1}"#)
                .expect("parses");
        assert_eq!(p.cuts[0].after_ms, Some(1.5));
        assert_eq!((p.status, p.load.capacity, p.cuts[0].measured), (None, 0, false));
        let json = serde_json::to_string(&p).expect("serializes");
        assert!(!json.contains("status"), "{json}");
    }

    #[test]
    fn the_served_field_order_is_kept() {
        let p = EdgeProfile {
            model: "m".into(),
            hash: "h".into(),
            status: Some(ProfileStatus::Partial),
            cuts: vec![EdgeCutProfile {
                id: 0,
                after_ms: None,
                measured: false,
                tensors: vec!["x".into()],
                bytes: 4,
                macs_after: 9,
            }],
            load: EdgeLoad { in_flight: 1, queued: 2, capacity: 3, max_queued: 4, queue_wait_ms: 0.5 },
            cloud: None,
            engine: None,
        };
        assert_eq!(
            serde_json::to_string(&p).expect("serializes"),
            r#"{"model":"m","hash":"h","status":"partial","cuts":[{"id":0,"after_ms":null,"measured":false,"tensors":["x"],"bytes":4,"macs_after":9}],"load":{"in_flight":1,"queued":2,"capacity":3,"max_queued":4,"queue_wait_ms":0.5}}"#
        );
    }
}
