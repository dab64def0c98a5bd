//! What the application asks of every request: the policy (the core's [`tc::Policy`], checked
//! here for what the FFI types cannot express), and where the edge is.

use tandem_sdk as tc;

use crate::error::TandemError;

/// The edge server to offload to. (The core's endpoint takes the CA certificate as bytes;
/// Kotlin and Swift pass PEM text, and every field but the URL is optional.)
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
pub fn default_policy(objective: tc::Objective) -> tc::Policy {
    match objective {
        tc::Objective::Latency => tc::Policy::latency(),
        tc::Objective::Energy => tc::Policy::energy(),
        tc::Objective::Balanced => tc::Policy::balanced(),
    }
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

/// Checks what the FFI types cannot express: finite, non-negative numbers.
pub(crate) fn check_policy(p: &tc::Policy) -> Result<(), TandemError> {
    let bad = |reason: String| TandemError::Config { reason: format!("policy: {reason}") };
    if let Some(d) = p.deadline_ms {
        if !d.is_finite() || d <= 0.0 {
            return Err(bad(format!("deadline_ms must be a positive number of ms, got {d}")));
        }
    }
    if !(0.0..=1.0).contains(&p.max_accuracy_drop) {
        return Err(bad(format!("max_accuracy_drop must be within 0..=1, got {}", p.max_accuracy_drop)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_core_and_pass_the_checks() {
        for (objective, core) in [
            (tc::Objective::Latency, tc::Policy::latency()),
            (tc::Objective::Energy, tc::Policy::energy()),
            (tc::Objective::Balanced, tc::Policy::balanced()),
        ] {
            let p = default_policy(objective);
            assert_eq!(p.objective, objective);
            assert_eq!(p, core);
            check_policy(&p).expect("the core's own policy is valid");
        }
    }

    #[test]
    fn rejects_nonsense_numbers() {
        for deadline in [f64::NAN, -1.0, 0.0, f64::INFINITY] {
            let p = tc::Policy { deadline_ms: Some(deadline), ..default_policy(tc::Objective::Balanced) };
            assert!(check_policy(&p).is_err(), "deadline {deadline}");
        }
        let p = tc::Policy { max_accuracy_drop: 2.0, ..default_policy(tc::Objective::Balanced) };
        assert!(check_policy(&p).is_err());
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

    #[test]
    fn endpoints_carry_every_field_to_the_core() {
        let e = EdgeEndpoint {
            url: "https://e:8443".into(),
            token: Some("t".into()),
            ca_pem: Some("-----BEGIN CERTIFICATE-----".into()),
            model_name: Some("m".into()),
        };
        let core = tc::EdgeEndpoint::from(e);
        assert_eq!(core.url, "https://e:8443");
        assert_eq!(core.token.as_deref(), Some("t"));
        assert_eq!(core.ca_pem.as_deref(), Some(&b"-----BEGIN CERTIFICATE-----"[..]));
        assert_eq!(core.model_name.as_deref(), Some("m"));
    }
}
