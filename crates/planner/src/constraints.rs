//! What the caller or the edge imposes on one decision beyond the policy ([`Constraints`]),
//! and how the plan reports each departure from the planner's own choice ([`Adjustment`]).
//!
//! The planner applies the constraints itself, so a caller never edits a plan: a forced cut,
//! a plain OIP edge that serves only the exported cuts, or an encoding the edge cannot decode
//! all give a plan whose costs, tiers, deadline verdict and reason are the planner's own for
//! what will run, with the adjustments listed in [`crate::Plan::adjustments`].

use std::fmt;

use serde::{Deserialize, Serialize};
use tandem_model::encoding::Encoding;

/// Constraints on one decision. The default constrains nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Constraints {
    /// Run the phone's part up to this cut (the last cut, or any cut at or past the exit's
    /// output, means local-only). Refused, and reported, when it is below the privacy floor,
    /// not offloadable, or needs an edge that cannot be used.
    pub forced_cut: Option<usize>,
    /// With a cloud tier: the edge stops at this cut and the cloud takes over.
    pub forced_cloud_cut: Option<usize>,
    /// Send the crossing tensors in this encoding when the plan offloads, even one the
    /// policy's accuracy budget rules out (its accuracy drop is then taken from the model's
    /// metadata, or counted as none when unknown). Refused, and reported, when unusable.
    pub forced_encoding: Option<Encoding>,
    /// The cuts the edge can take a request at (a plain OIP edge serves only the exported
    /// cuts); `None`: any.
    pub offloadable_cuts: Option<Vec<usize>>,
    /// Encodings the edge or the transport cannot take (a plain OIP edge takes float32 only).
    pub unusable_encodings: Vec<UnusableEncoding>,
    /// The cuts the cloud can take over at (a plain OIP cloud serves only the exported
    /// cuts); `None`: any.
    #[serde(default)]
    pub cloud_cuts: Option<Vec<usize>>,
}

/// An encoding that must not be used, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnusableEncoding {
    /// The encoding.
    pub encoding: Encoding,
    /// Why it cannot be used, for people.
    pub reason: String,
}

impl Constraints {
    /// No constraint (the same as `Default`).
    pub fn none() -> Self {
        Constraints::default()
    }

    /// Whether the edge can take a request at `cut`.
    pub fn offloadable(&self, cut: usize) -> bool {
        self.offloadable_cuts.as_ref().is_none_or(|cuts| cuts.contains(&cut))
    }

    /// Whether the cloud can take over at `cut`.
    pub fn cloud_takes(&self, cut: usize) -> bool {
        self.cloud_cuts.as_ref().is_none_or(|cuts| cuts.contains(&cut))
    }

    /// Why `encoding` cannot be used, if it cannot.
    pub fn unusable(&self, encoding: Encoding) -> Option<&str> {
        self.unusable_encodings.iter().find(|u| u.encoding == encoding).map(|u| u.reason.as_str())
    }

    /// Marks `encoding` unusable for `reason`.
    pub fn without_encoding(mut self, encoding: Encoding, reason: impl Into<String>) -> Self {
        self.unusable_encodings.push(UnusableEncoding { encoding, reason: reason.into() });
        self
    }
}

/// One way the plan departs from what the planner would have chosen on its own, or a
/// constraint it could not honour. Serialized with a `kind` tag in snake case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Adjustment {
    /// The cut was forced by the caller; the planner would have chosen `planner_choice`.
    ForcedCut {
        /// The forced cut.
        cut: usize,
        /// The planner's own choice.
        planner_choice: usize,
    },
    /// The cloud cut was forced by the caller.
    ForcedCloudCut {
        /// The forced cloud cut.
        cloud_cut: usize,
        /// The planner's own choice (`None`: no cloud).
        planner_choice: Option<usize>,
    },
    /// A forced cut below the privacy floor (`Policy::min_cut`, raised by
    /// `keep_raw_input_on_device`): refused, the planner chose within the floor.
    PrivacyFloor {
        /// The forced cut.
        cut: usize,
        /// The floor.
        min_cut: usize,
    },
    /// The edge cannot take a request at `cut`: the planner's preferred cut (`forced`:
    /// the caller's) was replaced by the best offloadable cut, or by running locally.
    CutNotOffloadable {
        /// The cut the edge does not serve.
        cut: usize,
        /// Whether the cut was forced by the caller.
        forced: bool,
    },
    /// The planner would have sent the crossing tensors as `encoding`, which cannot be used.
    EncodingUnusable {
        /// The encoding.
        encoding: Encoding,
        /// Why it cannot be used.
        reason: String,
    },
    /// The encoding was forced by the caller; the planner would have chosen `planner_choice`.
    ForcedEncoding {
        /// The forced encoding.
        encoding: Encoding,
        /// The planner's own choice.
        planner_choice: Encoding,
    },
    /// A forced encoding the edge or the transport cannot take: refused.
    ForcedEncodingRefused {
        /// The forced encoding.
        encoding: Encoding,
        /// Why it cannot be used.
        reason: String,
    },
    /// A forced cut or cloud cut that could not be honoured for another reason (offloading
    /// is blocked, no cloud tier, no usable encoding there).
    ForcedCutRefused {
        /// The forced cut (the cloud cut when `cloud`).
        cut: usize,
        /// Whether it was the cloud cut.
        cloud: bool,
        /// Why, for people.
        reason: String,
    },
}

impl fmt::Display for Adjustment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Adjustment::ForcedCut { cut, planner_choice } => {
                write!(f, "forced cut {cut} (the planner chose cut {planner_choice})")
            }
            Adjustment::ForcedCloudCut { cloud_cut, planner_choice: Some(c) } => {
                write!(f, "forced cloud cut {cloud_cut} (the planner chose cloud cut {c})")
            }
            Adjustment::ForcedCloudCut { cloud_cut, planner_choice: None } => {
                write!(f, "forced cloud cut {cloud_cut} (the planner chose no cloud)")
            }
            Adjustment::PrivacyFloor { cut, min_cut } => {
                write!(f, "forced cut {cut} refused: it is below the privacy floor (cut {min_cut})")
            }
            Adjustment::CutNotOffloadable { cut, forced: true } => {
                write!(f, "forced cut {cut} refused: the edge does not serve it")
            }
            Adjustment::CutNotOffloadable { cut, forced: false } => {
                write!(f, "the planner preferred cut {cut}, which the edge does not serve")
            }
            Adjustment::EncodingUnusable { encoding, reason } => {
                write!(f, "the planner preferred {encoding}, which cannot be used: {reason}")
            }
            Adjustment::ForcedEncoding { encoding, planner_choice } => {
                write!(f, "forced encoding {encoding} (the planner chose {planner_choice})")
            }
            Adjustment::ForcedEncodingRefused { encoding, reason } => {
                write!(f, "forced encoding {encoding} refused: {reason}")
            }
            Adjustment::ForcedCutRefused { cut, cloud, reason } => {
                let what = if *cloud { "cloud cut" } else { "cut" };
                write!(f, "forced {what} {cut} refused: {reason}")
            }
        }
    }
}
