//! The one entry object: a [`TandemClient`] per model and edge, shared by every request.

use std::sync::Arc;
use std::time::Duration;

use tandem_sdk as tc;
use tokio::sync::{broadcast, watch, Mutex as AsyncMutex};

use crate::boundary::{guard, guarded};
use crate::error::TandemError;
use crate::platform::{ForeignSignals, PlatformSignalsProvider};
use crate::policy::{check_policy, EdgeEndpoint};
use crate::report::{InferResult, Report};
use crate::tensor::{checked, shape_from_ffi};
use tc::{DType, EdgeStatus, InferOptions, NamedTensor as Tensor, Policy, TensorSpec};

/// How to build a [`TandemClient`].
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct ClientConfig {
    /// Path of the ONNX model file on the device: the same file the edge serves (their
    /// hashes are compared before anything is offloaded).
    pub model_path: String,
    /// The edge to offload to; `None` runs everything on the phone.
    #[uniffi(default = None)]
    pub edge: Option<EdgeEndpoint>,
    /// What every plan must respect.
    pub policy: Policy,
    /// A directory Tandem may write to (the app's cache directory): the phone's measured
    /// per-cut times are kept there across launches. `None`: measured again each launch.
    #[uniffi(default = None)]
    pub cache_dir: Option<String>,
    /// The device's name for stored measurements (e.g. Android's `Build.MODEL`); `None`:
    /// derived from the CPU.
    #[uniffi(default = None)]
    pub device_name: Option<String>,
}

/// What a client's model is.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct ModelInfo {
    /// SHA-256 of the model file, hex: its identity on the phone and on the edge.
    pub hash: String,
    /// The inputs `infer` expects, in order.
    pub inputs: Vec<TensorSpec>,
    /// The outputs it returns, in order.
    pub outputs: Vec<TensorSpec>,
    /// Number of cuts (cut 0 sends the raw input; the last runs everything on the phone).
    pub cut_count: usize,
    /// The privacy floor computed from the model's graph: the first cut that sends neither the
    /// raw input nor an invertible pixel transform of it (cast, scale, shift, transpose, pad).
    /// What `keep_raw_input_on_device` enforces; apps never need to hard-code a cut.
    pub privacy_floor: usize,
    /// How a camera frame becomes the model's input, from the model's sidecar
    /// (`NAME.tandem.json`, key `preprocessing`); `None` when the sidecar does not say. The
    /// frame helpers (Kotlin `FrameTensors`, Swift `FrameTensors`) take it.
    pub preprocessing: Option<tandem_model::Preprocessing>,
}

/// Split inference for one model and one edge. Create one per model when the app starts and
/// reuse it for every request; it is safe to share between threads, and many requests may
/// be in flight at once. A request never fails because of the network: if the edge cannot
/// be used, the phone computes the result and the report says why.
#[derive(uniffi::Object)]
pub struct TandemClient {
    session: tc::Session,
    /// Set by [`TandemClient::shutdown`]; ends the report streams.
    closed: watch::Sender<bool>,
}

impl std::fmt::Debug for TandemClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TandemClient").field("session", &self.session).finish()
    }
}

#[uniffi::export]
impl TandemClient {
    /// Loads the model and starts checking the edge in the background. Blocks while the
    /// model loads (tens of ms to a few s): call it off the main thread.
    ///
    /// `signals` supplies the phone's network, battery and thermal state; `None` means
    /// unknown on a phone (the platform libraries always pass one).
    #[uniffi::constructor]
    pub fn new(
        config: ClientConfig,
        signals: Option<Arc<dyn PlatformSignalsProvider>>,
    ) -> Result<Arc<TandemClient>, TandemError> {
        guard(|| {
            check_policy(&config.policy)?;
            let mut builder = tc::Session::builder(&config.model_path).policy(config.policy);
            if let Some(edge) = config.edge {
                builder = builder.edge(edge.into());
            }
            if let Some(provider) = signals {
                builder = builder.signals(Arc::new(ForeignSignals::new(provider)));
            }
            if let Some(dir) = config.cache_dir {
                builder = builder.profile_store(dir);
            }
            if let Some(name) = config.device_name {
                builder = builder.device_name(name);
            }
            Ok(Arc::new(TandemClient { session: builder.build()?, closed: watch::Sender::new(false) }))
        })
    }

    /// Runs one request: `inputs` are the model inputs (a tensor with an empty name takes
    /// the name of the model input at its position). Fails only on bad inputs, a closed
    /// client or a local engine failure; cancelling the caller cancels the request.
    pub async fn infer(&self, inputs: Vec<Tensor>) -> Result<InferResult, TandemError> {
        self.infer_with(inputs, InferOptions::default()).await
    }

    /// [`TandemClient::infer`] with per-request overrides.
    pub async fn infer_with(
        &self,
        inputs: Vec<Tensor>,
        options: InferOptions,
    ) -> Result<InferResult, TandemError> {
        let session = self.session.clone();
        guarded(async move {
            let inputs = checked(inputs)?;
            Ok(session.infer_with(inputs, options).await?.into())
        })
        .await
    }

    /// Runs one request on a single-input model from one buffer (a camera frame or a crop)
    /// and blocks until the result is there: for a camera analyzer thread, never the main
    /// thread. `data` holds the tensor's little-endian bytes. It is not zero-copy: the
    /// generated Kotlin and Swift code copy the buffer into a Rust buffer, and the session
    /// copies it once more into the tensor it owns (a request may outlive the call's borrow
    /// when it is offloaded). What it saves is the `Tensor` record and a suspend/async hop.
    pub fn infer_frame(
        &self,
        name: String,
        dtype: DType,
        shape: Vec<u64>,
        data: &[u8],
    ) -> Result<InferResult, TandemError> {
        guard(|| {
            let shape = shape_from_ffi(&name, &shape)?;
            let frame = tc::NamedTensor::new(name, dtype, shape, data.to_vec())?;
            Ok(self.session.infer_blocking(vec![frame])?.into())
        })
    }

    /// A stream of the reports of every request from now on, in completion order (for a
    /// Kotlin `Flow` or a Swift `AsyncStream`).
    pub fn subscribe_reports(&self) -> Arc<ReportStream> {
        Arc::new(ReportStream {
            receiver: AsyncMutex::new(self.session.subscribe()),
            client_closed: self.closed.subscribe(),
            closed: watch::Sender::new(false),
        })
    }

    /// What the client knows about its edge now.
    pub fn edge_status(&self) -> EdgeStatus {
        self.session.edge_status()
    }

    /// Waits up to `timeout_ms` for the edge's model check to have an answer; returns the
    /// status then. Requests never need this; it is for start-up screens and tests.
    pub async fn wait_for_edge(&self, timeout_ms: u64) -> EdgeStatus {
        let session = self.session.clone();
        let status = guarded(async move {
            Ok::<_, TandemError>(session.wait_for_edge(Duration::from_millis(timeout_ms)).await)
        })
        .await;
        // a panic here is logged by the guard; the status is then whatever is known now
        status.unwrap_or_else(|_| self.session.edge_status())
    }

    /// The model's identity, inputs and outputs.
    pub fn model_info(&self) -> ModelInfo {
        let model = self.session.model();
        ModelInfo {
            hash: model.hash().to_string(),
            inputs: model.inputs().to_vec(),
            outputs: model.outputs().to_vec(),
            cut_count: model.cuts().len(),
            privacy_floor: model.privacy_floor(),
            preprocessing: self.session.meta().and_then(|m| m.preprocessing.clone()),
        }
    }

    /// The policy every plan respects.
    pub fn policy(&self) -> Policy {
        self.session.policy().clone()
    }

    /// Stops background work. Requests in flight finish; later ones fail with `Closed`, and
    /// report streams end. (Named `shutdown`: Kotlin's `close()` frees the object itself.)
    pub fn shutdown(&self) {
        self.session.close();
        self.closed.send_replace(true);
    }
}

/// Reports of a client's requests, pulled one at a time.
#[derive(uniffi::Object)]
pub struct ReportStream {
    receiver: AsyncMutex<broadcast::Receiver<tc::Report>>,
    client_closed: watch::Receiver<bool>,
    closed: watch::Sender<bool>,
}

impl std::fmt::Debug for ReportStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportStream")
    }
}

#[uniffi::export]
impl ReportStream {
    /// The next report; `None` once this stream or its client is closed. A reader that falls
    /// behind skips the oldest reports (it never slows requests down).
    pub async fn next(&self) -> Option<Report> {
        let mut closed = self.closed.subscribe();
        let mut client_closed = self.client_closed.clone();
        let mut receiver = self.receiver.lock().await;
        loop {
            // `wait_for` also returns when its sender is gone (the client was dropped)
            tokio::select! {
                biased;
                _ = closed.wait_for(|c| *c) => return None,
                _ = client_closed.wait_for(|c| *c) => return None,
                got = receiver.recv() => match got {
                    Ok(report) => return Some((&report).into()),
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        log::debug!("report stream fell behind: {skipped} reports skipped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    }

    /// Ends the stream: a pending and every later [`ReportStream::next`] returns `None`.
    pub fn cancel(&self) {
        self.closed.send_replace(true);
    }
}
