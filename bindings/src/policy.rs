//! What the application asks of every request: the policy, and where the edge is.

use tandem_sdk as tc;

use crate::error::TandemError;

/// What the planner optimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Objective {
    /// Minimum latency.
    Latency,
    /// Minimum phone energy.
    Energy,
    /// Latency and energy together; energy weighs more as the battery runs down.
    Balanced,
}

/// How the tensors crossing a cut travel to the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Encoding {
    /// Float32 as is: exact.
    Fp32,
    /// Float16: half the bytes, tiny error.
    Fp16,
    /// Int8 with a per-tensor scale: a quarter of the bytes; used only where the model's
    /// metadata measured its accuracy cost.
    Int8,
}

/// What the application asks of every plan. Start from [`default_policy`] (or the platform
/// helpers `Policy.balanced(...)`) and change what you need.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Policy {
    /// What to optimise.
    pub objective: Objective,
    /// Answer within this many ms: the most accurate plan that meets it wins; if none does,
    /// the fastest, flagged in the report. `None`: no deadline.
    pub deadline_ms: Option<f64>,
    /// Privacy floor: never cut before this cut (cut 0 sends the raw input).
    pub min_cut: u32,
    /// Never send the raw input to the edge (the same as `min_cut >= 1`).
    pub keep_raw_input_on_device: bool,
    /// Offload over metered (paid) networks.
    pub allow_metered: bool,
    /// Encodings the crossing tensors may use.
    pub encodings: Vec<Encoding>,
    /// Largest accuracy drop (0..=1) an encoding may cost, per the model's metadata.
    pub max_accuracy_drop: f64,
}

/// The edge server to offload to.
#[derive(Clone, PartialEq, uniffi::Record)]
pub struct EdgeEndpoint {
    /// Base URL of the edge, e.g. `https://edge.example.net:8443`.
    pub url: String,
    /// Bearer token the edge expects; `None` for an edge without authentication.
    #[uniffi(default = None)]
    pub token: Option<String>,
    /// Extra root certificates to trust, PEM (a private CA, or a test edge's self-signed
    /// certificate). The public web roots are always trusted.
    #[uniffi(default = None)]
    pub ca_pem: Option<String>,
    /// The name the edge serves the model under; default: the model file's stem
    /// (`face_embedder.onnx` is served as `face_embedder`).
    #[uniffi(default = None)]
    pub model_name: Option<String>,
}

// The token is a secret: never print it.
impl std::fmt::Debug for EdgeEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeEndpoint")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_pem_bytes", &self.ca_pem.as_ref().map(String::len))
            .field("model_name", &self.model_name)
            .finish()
    }
}

/// The core's default policy for `objective`: every encoding allowed, offloading on metered
/// networks allowed, no deadline, no privacy floor.
#[uniffi::export]
pub fn default_policy(objective: Objective) -> Policy {
    let core = match objective {
        Objective::Latency => tc::Policy::latency(),
        Objective::Energy => tc::Policy::energy(),
        Objective::Balanced => tc::Policy::balanced(),
    };
    core.into()
}

impl From<EdgeEndpoint> for tc::EdgeEndpoint {
    fn from(e: EdgeEndpoint) -> Self {
        let mut core = tc::EdgeEndpoint::new(e.url);
        core.token = e.token;
        core.ca_pem = e.ca_pem.map(String::into_bytes);
        core.model_name = e.model_name;
        core
    }
}

impl From<tc::Objective> for Objective {
    fn from(o: tc::Objective) -> Self {
        match o {
            tc::Objective::Latency => Objective::Latency,
            tc::Objective::Energy => Objective::Energy,
            tc::Objective::Balanced => Objective::Balanced,
        }
    }
}

impl From<Objective> for tc::Objective {
    fn from(o: Objective) -> Self {
        match o {
            Objective::Latency => tc::Objective::Latency,
            Objective::Energy => tc::Objective::Energy,
            Objective::Balanced => tc::Objective::Balanced,
        }
    }
}

impl From<tc::encoding::Encoding> for Encoding {
    fn from(e: tc::encoding::Encoding) -> Self {
        match e {
            tc::encoding::Encoding::Fp32 => Encoding::Fp32,
            tc::encoding::Encoding::Fp16 => Encoding::Fp16,
            tc::encoding::Encoding::Int8 => Encoding::Int8,
        }
    }
}

impl From<Encoding> for tc::encoding::Encoding {
    fn from(e: Encoding) -> Self {
        match e {
            Encoding::Fp32 => tc::encoding::Encoding::Fp32,
            Encoding::Fp16 => tc::encoding::Encoding::Fp16,
            Encoding::Int8 => tc::encoding::Encoding::Int8,
        }
    }
}

impl From<tc::Policy> for Policy {
    fn from(p: tc::Policy) -> Self {
        Policy {
            objective: p.objective.into(),
            deadline_ms: p.deadline_ms,
            min_cut: u32::try_from(p.min_cut).unwrap_or(u32::MAX),
            keep_raw_input_on_device: p.keep_raw_input_on_device,
            allow_metered: p.allow_metered,
            encodings: p.encodings.into_iter().map(Into::into).collect(),
            max_accuracy_drop: p.max_accuracy_drop,
        }
    }
}

impl TryFrom<Policy> for tc::Policy {
    type Error = TandemError;

    /// Checks what the FFI types cannot express: finite, non-negative numbers.
    fn try_from(p: Policy) -> Result<Self, TandemError> {
        let bad = |reason: String| TandemError::Config { reason: format!("policy: {reason}") };
        if let Some(d) = p.deadline_ms {
            if !d.is_finite() || d <= 0.0 {
                return Err(bad(format!("deadline_ms must be a positive number of ms, got {d}")));
            }
        }
        if !(0.0..=1.0).contains(&p.max_accuracy_drop) {
            return Err(bad(format!("max_accuracy_drop must be within 0..=1, got {}", p.max_accuracy_drop)));
        }
        Ok(tc::Policy {
            objective: p.objective.into(),
            deadline_ms: p.deadline_ms,
            min_cut: p.min_cut as usize,
            keep_raw_input_on_device: p.keep_raw_input_on_device,
            allow_metered: p.allow_metered,
            encodings: p.encodings.into_iter().map(Into::into).collect(),
            max_accuracy_drop: p.max_accuracy_drop,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_core_and_round_trip() {
        let p = default_policy(Objective::Latency);
        assert_eq!(p.objective, Objective::Latency);
        let core: tc::Policy = p.clone().try_into().expect("the core's own policy is valid");
        assert_eq!(core, tc::Policy::latency());
        assert_eq!(Policy::from(core), p);
    }

    #[test]
    fn rejects_nonsense_numbers() {
        for deadline in [f64::NAN, -1.0, 0.0, f64::INFINITY] {
            let p = Policy { deadline_ms: Some(deadline), ..default_policy(Objective::Balanced) };
            assert!(tc::Policy::try_from(p).is_err(), "deadline {deadline}");
        }
        let p = Policy { max_accuracy_drop: 2.0, ..default_policy(Objective::Balanced) };
        assert!(tc::Policy::try_from(p).is_err());
    }

    #[test]
    fn debug_hides_the_token() {
        let e = EdgeEndpoint {
            url: "https://e".into(),
            token: Some("s3cret".into()),
            ca_pem: None,
            model_name: None,
        };
        assert!(!format!("{e:?}").contains("s3cret"));
    }
}
