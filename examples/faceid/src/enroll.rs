//! Descriptors, enrollment and verification.
//!
//! dlib's face descriptors are compared by plain Euclidean distance: the same person is
//! closer than 0.6. An [`Enrollment`] keeps the **mean** of the enrolled descriptors as its
//! template and verifies a probe by its distance to that mean. We chose the mean over "the
//! closest enrolled photo" because averaging cancels part of each photo's noise (lighting,
//! pose): on the bundled photos, enrolling `obama` + `obama2` puts every other Obama face
//! 0.21-0.37 from the template and every other person 0.76-0.84 away, a wider margin than
//! the per-photo minimum gives; and only one 128-float template needs storing.

use tandem_sdk::NamedTensor;

use crate::error::{FaceError, Result};

/// dlib's decision threshold on the Euclidean distance between two descriptors.
pub const DLIB_THRESHOLD: f64 = 0.6;
/// The embedder's output tensor.
pub const DESCRIPTOR_NAME: &str = "descriptor";
/// Length of a dlib descriptor.
pub const DESCRIPTOR_LEN: usize = 128;

/// A face descriptor (dlib ResNet, 128 floats, not normalised; norm about 1.4). Its `Debug`
/// prints only its length: a descriptor is biometric data.
#[derive(Clone, PartialEq)]
pub struct Descriptor(Vec<f32>);

impl std::fmt::Debug for Descriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Descriptor(len={})", self.0.len())
    }
}

impl Descriptor {
    /// Wraps raw values; fails on an empty or non-finite vector.
    pub fn new(values: Vec<f32>) -> Result<Self> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return Err(FaceError::ModelOutput(format!(
                "a descriptor needs finite values, got {} values{}",
                values.len(),
                if values.iter().any(|v| !v.is_finite()) { " with NaN or infinity" } else { "" }
            )));
        }
        Ok(Descriptor(values))
    }

    /// Takes the `descriptor` output of the embedder (split or not).
    pub fn from_outputs(outputs: &[NamedTensor]) -> Result<Self> {
        let t = outputs
            .iter()
            .find(|t| t.name == DESCRIPTOR_NAME)
            .ok_or_else(|| FaceError::ModelOutput(format!("no `{DESCRIPTOR_NAME}` output")))?;
        let values = t
            .to_f32()
            .ok_or_else(|| FaceError::ModelOutput(format!("`{DESCRIPTOR_NAME}` is not float32")))?;
        Descriptor::new(values)
    }

    /// The values.
    pub fn values(&self) -> &[f32] {
        &self.0
    }

    /// Euclidean distance to `other` (computed in f64). Lengths must match.
    pub fn distance(&self, other: &Descriptor) -> Result<f64> {
        if self.0.len() != other.0.len() {
            return Err(FaceError::DescriptorLength { expected: self.0.len(), got: other.0.len() });
        }
        Ok(self.0.iter().zip(&other.0).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum::<f64>().sqrt())
    }
}

/// The outcome of a verification.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Match {
    /// Euclidean distance between the probe and the enrolled template.
    pub distance: f64,
    /// Whether the distance is below the threshold: the same person.
    pub is_match: bool,
    /// The threshold used.
    pub threshold: f64,
}

/// One enrolled person: the mean of their enrolled descriptors, compared with a threshold.
#[derive(Clone, Debug)]
pub struct Enrollment {
    sum: Vec<f64>,
    count: usize,
    threshold: f64,
}

impl Default for Enrollment {
    fn default() -> Self {
        Enrollment::new()
    }
}

impl Enrollment {
    /// An empty enrollment with dlib's threshold ([`DLIB_THRESHOLD`]).
    pub fn new() -> Self {
        Enrollment { sum: vec![], count: 0, threshold: DLIB_THRESHOLD }
    }

    /// Uses another distance threshold (stricter below 0.6, laxer above).
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Adds one photo's descriptor to the template.
    pub fn add(&mut self, descriptor: &Descriptor) -> Result<()> {
        let values = descriptor.values();
        if self.count == 0 {
            self.sum = vec![0.0; values.len()];
        } else if values.len() != self.sum.len() {
            return Err(FaceError::DescriptorLength { expected: self.sum.len(), got: values.len() });
        }
        for (s, v) in self.sum.iter_mut().zip(values) {
            *s += *v as f64;
        }
        self.count += 1;
        Ok(())
    }

    /// Number of enrolled descriptors.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nothing is enrolled yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The threshold in use.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The template: the mean enrolled descriptor ([`FaceError::NotEnrolled`] if empty).
    pub fn template(&self) -> Result<Descriptor> {
        if self.count == 0 {
            return Err(FaceError::NotEnrolled);
        }
        Ok(Descriptor(self.sum.iter().map(|s| (s / self.count as f64) as f32).collect()))
    }

    /// Compares a probe with the template.
    pub fn verify(&self, probe: &Descriptor) -> Result<Match> {
        let distance = self.template()?.distance(probe)?;
        Ok(Match { distance, is_match: distance < self.threshold, threshold: self.threshold })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: &[f32]) -> Descriptor {
        Descriptor::new(v.to_vec()).expect("finite")
    }

    #[test]
    fn verify_before_enrolling_is_not_enrolled() {
        assert!(matches!(Enrollment::new().verify(&d(&[0.0, 1.0])), Err(FaceError::NotEnrolled)));
    }

    #[test]
    fn template_is_the_mean_and_threshold_is_strict() {
        let mut e = Enrollment::new();
        e.add(&d(&[0.0, 0.0])).expect("first");
        e.add(&d(&[1.0, 0.0])).expect("second");
        assert_eq!(e.template().expect("enrolled").values(), &[0.5, 0.0]);
        let m = e.verify(&d(&[0.5, 0.5])).expect("verifies");
        assert!((m.distance - 0.5).abs() < 1e-12 && m.is_match);
        let m = e.verify(&d(&[0.5, 0.75])).expect("verifies");
        assert!(!m.is_match && (m.distance - 0.75).abs() < 1e-12, "{m:?}");
        let strict = e.clone().with_threshold(0.4);
        assert!(!strict.verify(&d(&[0.5, 0.5])).expect("verifies").is_match);
        assert!(matches!(e.add(&d(&[1.0])), Err(FaceError::DescriptorLength { expected: 2, got: 1 })));
        assert!(matches!(e.verify(&d(&[1.0])), Err(FaceError::DescriptorLength { .. })));
    }

    #[test]
    fn non_finite_descriptors_are_rejected_and_debug_hides_values() {
        assert!(Descriptor::new(vec![f32::NAN]).is_err());
        assert!(Descriptor::new(vec![]).is_err());
        assert_eq!(format!("{:?}", d(&[0.123, 0.456])), "Descriptor(len=2)");
    }
}
