//! What the application asks of every plan: the objective, a deadline, the privacy floor,
//! metered data and encodings ([`Policy`]); and the balanced objective's weights.

use serde::{Deserialize, Serialize};
use tandem_model::encoding::Encoding;

use crate::platform::{PlatformState, ThermalState};

/// What the planner optimises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Objective {
    /// Minimum predicted latency (Neurosurgeon's latency mode).
    Latency,
    /// Minimum phone energy (Neurosurgeon's energy mode).
    Energy,
    /// Latency and energy together, energy weighing more as the battery runs down, less when
    /// charging, more in low-power mode; phone compute penalised under thermal pressure.
    #[default]
    Balanced,
}

impl std::str::FromStr for Objective {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "latency" => Ok(Objective::Latency),
            "energy" => Ok(Objective::Energy),
            "balanced" => Ok(Objective::Balanced),
            _ => Err(format!("unknown objective `{s}`: expected latency, energy or balanced")),
        }
    }
}

/// What the application asks of every plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Policy {
    /// What to optimise.
    pub objective: Objective,
    /// Answer within this many ms: the most accurate (exit, cut) that meets it wins; if none
    /// does, the fastest, flagged.
    pub deadline_ms: Option<f64>,
    /// The privacy floor: never cut before this cut (cut 0 sends the raw input). See
    /// [`Policy::effective_min_cut`] for the floor in force.
    pub min_cut: usize,
    /// Shorthand that raises the privacy floor to the model's own floor, computed from its
    /// graph ([`tandem_model::privacy_floor`]): never send the raw input, nor anything as
    /// revealing as it (the input after only casts, scales, shifts, transposes or pads).
    pub keep_raw_input_on_device: bool,
    /// Offload over metered networks.
    pub allow_metered: bool,
    /// Encodings the crossing tensors may use.
    pub encodings: Vec<Encoding>,
    /// Largest accuracy drop (0..=1) an encoding may cost, from the model's metadata.
    /// Encodings without a measured drop are not used.
    pub max_accuracy_drop: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            objective: Objective::Balanced,
            deadline_ms: None,
            min_cut: 0,
            keep_raw_input_on_device: false,
            allow_metered: true,
            encodings: Encoding::ALL.to_vec(),
            max_accuracy_drop: 0.005,
        }
    }
}

impl Policy {
    /// Minimum latency.
    pub fn latency() -> Self {
        Policy { objective: Objective::Latency, ..Default::default() }
    }

    /// Minimum phone energy.
    pub fn energy() -> Self {
        Policy { objective: Objective::Energy, ..Default::default() }
    }

    /// Battery-aware balance of latency and energy.
    pub fn balanced() -> Self {
        Policy::default()
    }

    /// The privacy floor in force for a model with this cut table: `min_cut`, raised by
    /// `keep_raw_input_on_device` to the model's floor ([`tandem_model::privacy_floor`]).
    /// No plan sends anything from a cut before it.
    pub fn floor_for(&self, cuts: &[tandem_model::Cut]) -> usize {
        if self.keep_raw_input_on_device {
            self.min_cut.max(tandem_model::privacy_floor(cuts)).max(1)
        } else {
            self.min_cut
        }
    }

    /// The privacy floor without a cut table: `min_cut`, raised to 1 by
    /// `keep_raw_input_on_device`. A lower bound of [`Policy::floor_for`], which the planner
    /// and the session use.
    pub fn effective_min_cut(&self) -> usize {
        if self.keep_raw_input_on_device {
            self.min_cut.max(1)
        } else {
            self.min_cut
        }
    }
}

/// The weights of the balanced objective: (energy weight, thermal weight on phone compute).
/// See docs/PLANNER.md.
pub fn balanced_weights(platform: &PlatformState) -> (f64, f64) {
    let mut w_energy = match platform.battery_level {
        Some(level) if level.is_finite() => {
            let spent = 1.0 - f64::from(level).clamp(0.0, 1.0);
            1.0 + 3.0 * spent * spent
        }
        _ => 1.0,
    };
    if platform.charging == Some(true) {
        w_energy *= 0.25;
    }
    if platform.low_power {
        w_energy *= 2.0;
    }
    let w_thermal = match platform.thermal {
        ThermalState::Nominal | ThermalState::Unknown => 0.0,
        ThermalState::Fair => 0.25,
        ThermalState::Serious => 1.0,
        ThermalState::Critical => 4.0,
    };
    (w_energy, w_thermal)
}
