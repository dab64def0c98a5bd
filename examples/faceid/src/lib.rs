//! # tandem-faceid
//!
//! The FaceID-style pipeline of Tandem's demo and sample apps, in plain Rust:
//!
//! 1. **load** a photo ([`RgbFrame`], JPEG or PNG) or wrap a camera frame;
//! 2. **detect** the face on the phone with BlazeFace ([`FaceDetector`]);
//! 3. **align** it into dlib's 150x150 face chip ([`face_chip`], [`FaceCrop`]);
//! 4. **embed** the chip with `face_embedder.onnx` into a 128-float [`Descriptor`]: this is
//!    the step Tandem splits between the phone and the edge (`tandem_sdk` session), with the
//!    privacy floor `keep_raw_input_on_device` so the face chip itself never leaves the phone
//!    (cut >= 1); [`LocalEmbedder`] runs it whole on the phone;
//! 5. **verify** the descriptor against an [`Enrollment`] (mean template, Euclidean distance,
//!    dlib's 0.6 threshold) and get a [`Match`].
//!
//! Steps 1-3 and 5 port the Python reference in `models/scripts/` (`blazeface_decode.py`,
//! `make_face_crops.py`) and are tested against its outputs.
//!
//! ```no_run
//! use tandem_faceid::{Enrollment, FacePipeline, LocalEmbedder};
//!
//! let pipeline = FacePipeline::load("models/face_detector.onnx")?;
//! let embedder = LocalEmbedder::load("models/face_embedder.onnx")?;
//! let mut enrollment = Enrollment::new();
//! for photo in ["models/photos/obama.jpg", "models/photos/obama2.jpg"] {
//!     let crop = pipeline.crop_file(photo)?;
//!     enrollment.add(&embedder.embed(&crop)?)?;
//! }
//! let probe = embedder.embed(&pipeline.crop_file("models/photos/biden.jpg")?)?;
//! assert!(!enrollment.verify(&probe)?.is_match);
//! # Ok::<(), tandem_faceid::FaceError>(())
//! ```
//!
//! Nothing here logs image data or descriptors; their `Debug` impls print sizes only.

mod align;
mod detect;
mod enroll;
mod error;
mod frame;

use std::path::Path;
use std::sync::Arc;

pub use align::{
    face_chip, similarity, template_px, Affine, FaceCrop, CHIP_PADDING, CHIP_SIZE, EMBEDDER_INPUT, MEAN_FACE,
};
pub use detect::{
    anchors, decode, iou, keypoint, letterbox, weighted_nms, Detection, FaceDetector, Letterbox, INPUT_NAME,
    INPUT_SIZE, IOU_THRESHOLD, NUM_ANCHORS, OUTPUT_NAMES, SCORE_THRESHOLD,
};
pub use enroll::{Descriptor, Enrollment, Match, DESCRIPTOR_LEN, DESCRIPTOR_NAME, DLIB_THRESHOLD};
pub use error::{FaceError, Result};
pub use frame::RgbFrame;

use tandem_sdk::{Executor, LoadOptions, Model};

/// Everything that runs on the phone before the embedder: detect exactly one face, then
/// align and crop it.
#[derive(Clone, Debug)]
pub struct FacePipeline {
    detector: FaceDetector,
}

impl FacePipeline {
    /// Loads the detector (`models/face_detector.onnx`).
    pub fn load(detector_model: impl AsRef<Path>) -> Result<Self> {
        Ok(FacePipeline { detector: FaceDetector::load(detector_model)? })
    }

    /// Wraps an already loaded detector.
    pub fn with_detector(detector: FaceDetector) -> Self {
        FacePipeline { detector }
    }

    /// The detector.
    pub fn detector(&self) -> &FaceDetector {
        &self.detector
    }

    /// The aligned face chip of the one face in `frame` ([`FaceError::NoFace`],
    /// [`FaceError::MultipleFaces`] otherwise).
    pub fn crop(&self, frame: &RgbFrame) -> Result<FaceCrop> {
        let det = self.detector.detect_one(frame)?;
        Ok(face_chip(frame, &det))
    }

    /// Loads a photo and crops its one face ([`FaceError::CorruptImage`] for a file that
    /// does not decode).
    pub fn crop_file(&self, path: impl AsRef<Path>) -> Result<FaceCrop> {
        self.crop(&RgbFrame::load(path)?)
    }
}

/// The embedder run whole on this machine: for tests, tools and as a reference. Apps go
/// through a Tandem session instead, which may split it with the edge.
#[derive(Clone)]
pub struct LocalEmbedder {
    exec: Arc<Executor>,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder").field("model", &self.exec.model().path()).finish()
    }
}

impl LocalEmbedder {
    /// Loads `face_embedder.onnx`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let model = Model::load(path, &LoadOptions::default())?;
        Ok(LocalEmbedder { exec: Arc::new(Executor::new(Arc::new(model))) })
    }

    /// The descriptor of a face chip.
    pub fn embed(&self, crop: &FaceCrop) -> Result<Descriptor> {
        Descriptor::from_outputs(&self.exec.run_full(&[crop.to_tensor()])?)
    }
}
