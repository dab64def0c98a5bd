//! `tandem export`: the part after chosen cuts as a model repository that Triton Inference
//! Server and KServe serve unchanged, plus the manifest a phone needs to offload to it.
//!
//! For each exported cut `k` of a model served as `NAME`, the repository holds
//!
//! ```text
//! DIR/NAME_cutK/config.pbtxt     Triton/KServe configuration (platform onnxruntime_onnx)
//! DIR/NAME_cutK/1/model.onnx     the part after cut K (`Model::after_proto`), names preserved
//! DIR/tandem-manifest.json       cut -> served model name, crossing tensors, model hash
//! ```
//!
//! The served model's inputs are the tensors crossing the cut (by their ONNX names; for cut 0
//! the model inputs) and its outputs are the model outputs, so the request a phone sends to a
//! Tandem edge for cut K is, minus Tandem's `parameters`, the request the exported model
//! expects (ADR 0002). The manifest's model hash is what keeps a phone from combining its
//! half with the half of another model file. Several models may share one repository: each
//! export merges its entry into the manifest.
//!
//! ```no_run
//! use tandem_model::{LoadOptions, Model};
//! use tandem_export as export;
//!
//! let model = Model::load("models/tiny_resnet.onnx", &LoadOptions::default())?;
//! let cuts = export::parse_cut_list("0,3,11", &model)?;
//! let entry = export::export(&model, "tiny_resnet", &cuts, "repo".as_ref())?;
//! println!("{} cuts exported, served as {:?}", entry.cuts.len(), entry.cuts[0].served_name);
//! # Ok::<(), tandem_export::ExportError>(())
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use prost::Message;
use serde::{Deserialize, Serialize};

use tandem_model::{npy, DType, Error, Executor, Model, NamedTensor, TensorSpec};
pub use tandem_protocol::manifest::{
    served_name, ExportedCut, ExportedModel, Manifest, ManifestError, MANIFEST_FILE, MANIFEST_FORMAT,
};

/// The test vectors' index file inside each served model's test-vector directory.
pub const VECTORS_FILE: &str = "vectors.json";

/// What can go wrong while exporting or reading an exported repository.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The model could not be cut or run (unknown cut, engine failure...).
    #[error(transparent)]
    Model(#[from] Error),
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The cut runs everything on the phone: there is no part after it to serve.
    #[error("cut {cut} is the last cut (everything runs on the phone): there is nothing to serve after it")]
    NothingToServe {
        /// The cut asked for.
        cut: usize,
    },
    /// The list of cuts could not be understood.
    #[error("bad cut list `{spec}`: {reason}")]
    BadCutList {
        /// The list as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The served model name cannot name a directory and a Triton/KServe model.
    #[error("`{name}` cannot name a served model: use letters, digits, `_`, `-` and `.`")]
    BadName {
        /// The name given.
        name: String,
    },
    /// A manifest that is not one this crate wrote.
    #[error("{}: not a Tandem export manifest: {reason}", path.display())]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io { path: path.to_path_buf(), source }
}

impl From<ManifestError> for ExportError {
    fn from(e: ManifestError) -> Self {
        match e {
            ManifestError::Io { path, source } => ExportError::Io { path, source },
            ManifestError::BadName { name } => ExportError::BadName { name },
            ManifestError::BadManifest { path, reason } => ExportError::BadManifest { path, reason },
        }
    }
}

/// Parses a list of cuts to export: `all` (every cut but the last), `spread:N` (N cuts
/// evenly spread from cut 0 to the cut before the last), or ids and ranges (`0,3,5-8`).
/// The result is sorted and deduplicated; the last cut is refused (nothing to serve).
pub fn parse_cut_list(spec: &str, model: &Model) -> Result<Vec<usize>, ExportError> {
    let last = model.last_cut();
    let bad = |reason: String| ExportError::BadCutList { spec: spec.into(), reason };
    let spec_t = spec.trim();
    let mut cuts: Vec<usize> = if spec_t == "all" {
        (0..last).collect()
    } else if let Some(n) = spec_t.strip_prefix("spread:") {
        let n: usize = n.trim().parse().map_err(|_| bad("spread:N needs a count N".into()))?;
        if n == 0 {
            return Err(bad("spread:0 exports nothing".into()));
        }
        spread(last, n)
    } else {
        let mut out = vec![];
        for part in spec_t.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let id = |s: &str| s.trim().parse::<usize>().map_err(|_| bad(format!("`{s}` is not a cut id")));
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (id(a)?, id(b)?);
                    if a > b {
                        return Err(bad(format!("range {a}-{b} is reversed")));
                    }
                    out.extend(a..=b);
                }
                None => out.push(id(part)?),
            }
        }
        out
    };
    cuts.sort_unstable();
    cuts.dedup();
    if cuts.is_empty() {
        return Err(bad("no cut given".into()));
    }
    if let Some(&c) = cuts.iter().find(|&&c| c > last) {
        return Err(Error::UnknownCut { id: c, last }.into());
    }
    if cuts.contains(&last) {
        return Err(ExportError::NothingToServe { cut: last });
    }
    Ok(cuts)
}

/// `n` cuts evenly spread over `0..last` (both ends of the range included when `n >= 2`).
fn spread(last: usize, n: usize) -> Vec<usize> {
    if last == 0 {
        return vec![];
    }
    let top = last - 1;
    if n == 1 || top == 0 {
        return vec![0];
    }
    (0..n.min(last)).map(|i| (i * top + (n.min(last) - 1) / 2) / (n.min(last) - 1)).collect()
}

/// Exports the part after each of `cuts` of `model` into the repository `out` (created if
/// needed), served as `NAME_cutK`, and merges the model's entry into the repository's
/// manifest. Returns the entry.
pub fn export(model: &Model, name: &str, cuts: &[usize], out: &Path) -> Result<ExportedModel, ExportError> {
    tandem_protocol::manifest::check_served_name(name)?;
    let last = model.last_cut();
    let mut exported = Vec::with_capacity(cuts.len());
    let mut sorted = cuts.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    for &cut in &sorted {
        let spec = model.cut(cut)?;
        if cut == last {
            return Err(ExportError::NothingToServe { cut });
        }
        let served = served_name(name, cut);
        let inputs = if cut == 0 { model.inputs().to_vec() } else { spec.tensors.clone() };
        let outputs = model.outputs().to_vec();
        let mut proto = model.after_proto(cut)?;
        if let Some(graph) = proto.graph.as_mut() {
            graph.name = served.clone();
        }
        proto.doc_string = format!(
            "Tandem: the part after cut {cut} of {} (sha256 {}); exported by tandem {}",
            model.path().file_name().and_then(|f| f.to_str()).unwrap_or("the model"),
            model.hash(),
            env!("CARGO_PKG_VERSION")
        );
        let dir = out.join(&served);
        let version = dir.join("1");
        std::fs::create_dir_all(&version).map_err(io_err(&version))?;
        let onnx = version.join("model.onnx");
        std::fs::write(&onnx, proto.encode_to_vec()).map_err(io_err(&onnx))?;
        drop(proto);
        let config = dir.join("config.pbtxt");
        std::fs::write(&config, config_pbtxt(&served, &inputs, &outputs)).map_err(io_err(&config))?;
        log::debug!("exported cut {cut} of {} as {served}", model.path().display());
        exported.push(ExportedCut { cut, served_name: served, inputs, outputs, bytes: spec.bytes });
    }
    let entry = ExportedModel {
        name: name.into(),
        model_file: model.path().file_name().and_then(|f| f.to_str()).unwrap_or_default().into(),
        model_hash: model.hash().into(),
        cut_count: model.cuts().len(),
        cuts: exported,
    };
    let manifest_path = out.join(MANIFEST_FILE);
    let mut manifest =
        if manifest_path.exists() { Manifest::load(&manifest_path)? } else { Manifest::default() };
    manifest.merge(entry.clone());
    manifest.write(&manifest_path)?;
    Ok(entry)
}

/// Triton's `data_type` name of a dtype.
pub fn triton_type(dtype: DType) -> &'static str {
    match dtype {
        DType::Fp32 => "TYPE_FP32",
        DType::Fp16 => "TYPE_FP16",
        DType::Fp64 => "TYPE_FP64",
        DType::Int8 => "TYPE_INT8",
        DType::Uint8 => "TYPE_UINT8",
        DType::Int16 => "TYPE_INT16",
        DType::Int32 => "TYPE_INT32",
        DType::Int64 => "TYPE_INT64",
        DType::Bool => "TYPE_BOOL",
    }
}

/// A protobuf text-format string literal.
fn pbtxt_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `config.pbtxt` of a served part: ONNX Runtime backend, no batching (shapes are the
/// cut table's concrete shapes, batch dimension included).
pub fn config_pbtxt(name: &str, inputs: &[TensorSpec], outputs: &[TensorSpec]) -> String {
    let tensors = |specs: &[TensorSpec]| -> String {
        let items: Vec<String> = specs
            .iter()
            .map(|s| {
                // Triton needs at least one dimension: a scalar is a [1] reshaped to [].
                let (dims, reshape) = if s.shape.is_empty() {
                    ("1".to_string(), "\n    reshape: { shape: [ ] }")
                } else {
                    (s.shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", "), "")
                };
                format!(
                    "  {{\n    name: {}\n    data_type: {}\n    dims: [ {dims} ]{reshape}\n  }}",
                    pbtxt_string(&s.name),
                    triton_type(s.dtype)
                )
            })
            .collect();
        items.join(",\n")
    };
    format!(
        "# Written by `tandem export`: the part after one cut, served by ONNX Runtime.\n\
         name: {}\nplatform: \"onnxruntime_onnx\"\nmax_batch_size: 0\ninput [\n{}\n]\noutput [\n{}\n]\n",
        pbtxt_string(name),
        tensors(inputs),
        tensors(outputs)
    )
}

/// One tensor of a test vector: its ONNX name and the `.npy` file holding it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorFile {
    /// The ONNX tensor name.
    pub name: String,
    /// The `.npy` file, relative to the vector's directory.
    pub file: String,
}

/// The index of one served model's test vector (`vectors.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestVector {
    /// The served model name.
    pub served_name: String,
    /// The cut.
    pub cut: usize,
    /// The served model's inputs: the tensors crossing the cut, computed by Tandem's part
    /// before the cut.
    pub inputs: Vec<VectorFile>,
    /// The outputs Tandem's part after the cut computes from them.
    pub outputs: Vec<VectorFile>,
}

/// Writes one test vector per exported cut under `dir/SERVED_NAME/`: the crossing tensors
/// that Tandem's own split execution computes from `inputs` (`in_I.npy`), the outputs of its
/// part after the cut (`out_I.npy`), and `vectors.json` naming them. Another runtime that
/// serves the exported part must reproduce the outputs from the inputs.
pub fn write_test_vectors(
    exec: &Executor,
    entry: &ExportedModel,
    inputs: &[NamedTensor],
    dir: &Path,
) -> Result<Vec<TestVector>, ExportError> {
    let mut vectors = vec![];
    for c in &entry.cuts {
        let crossing = exec.run_before(c.cut, inputs)?;
        let outputs = exec.run_after(c.cut, &crossing)?;
        let sub = dir.join(&c.served_name);
        std::fs::create_dir_all(&sub).map_err(io_err(&sub))?;
        let write_all = |prefix: &str, tensors: &[NamedTensor]| -> Result<Vec<VectorFile>, ExportError> {
            tensors
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let file = format!("{prefix}_{i}.npy");
                    npy::write_npy(sub.join(&file), t)?;
                    Ok(VectorFile { name: t.name.clone(), file })
                })
                .collect()
        };
        let vector = TestVector {
            served_name: c.served_name.clone(),
            cut: c.cut,
            inputs: write_all("in", &crossing)?,
            outputs: write_all("out", &outputs)?,
        };
        let index = sub.join(VECTORS_FILE);
        let text = serde_json::to_string_pretty(&vector).expect("the index always serializes");
        std::fs::write(&index, text + "\n").map_err(io_err(&index))?;
        vectors.push(vector);
    }
    Ok(vectors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_model::LoadOptions;

    fn tiny() -> Model {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/tiny_resnet.onnx");
        Model::load(path, &LoadOptions::default()).expect("model loads")
    }

    #[test]
    fn cut_lists() {
        let model = tiny();
        let last = model.last_cut();
        assert_eq!(parse_cut_list("3, 0,5-7,3", &model).unwrap(), vec![0, 3, 5, 6, 7]);
        assert_eq!(parse_cut_list("all", &model).unwrap(), (0..last).collect::<Vec<_>>());
        let s = parse_cut_list("spread:5", &model).unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!((s[0], s[4]), (0, last - 1));
        assert!(s.windows(2).all(|w| w[0] < w[1]), "{s:?}");
        assert_eq!(parse_cut_list("spread:1000", &model).unwrap().len(), last);
        assert!(matches!(parse_cut_list(&last.to_string(), &model), Err(ExportError::NothingToServe { .. })));
        assert!(matches!(
            parse_cut_list("999", &model),
            Err(ExportError::Model(Error::UnknownCut { id: 999, .. }))
        ));
        for bad in ["", "x", "5-2", "spread:0", "spread:x", "1,,a"] {
            assert!(matches!(parse_cut_list(bad, &model), Err(ExportError::BadCutList { .. })), "{bad}");
        }
    }

    #[test]
    fn config_names_types_and_dims() {
        let inputs = [TensorSpec { name: "a\"b".into(), dtype: DType::Fp32, shape: vec![1, 16, 8, 8] }];
        let outputs = [
            TensorSpec { name: "logits".into(), dtype: DType::Fp32, shape: vec![1, 10] },
            TensorSpec { name: "n".into(), dtype: DType::Int64, shape: vec![] },
        ];
        let text = config_pbtxt("m_cut3", &inputs, &outputs);
        assert!(
            text.contains("name: \"m_cut3\"\nplatform: \"onnxruntime_onnx\"\nmax_batch_size: 0"),
            "{text}"
        );
        assert!(
            text.contains("name: \"a\\\"b\"\n    data_type: TYPE_FP32\n    dims: [ 1, 16, 8, 8 ]"),
            "{text}"
        );
        assert!(
            text.contains("data_type: TYPE_INT64\n    dims: [ 1 ]\n    reshape: { shape: [ ] }"),
            "{text}"
        );
    }

    #[test]
    fn export_writes_repository_and_merges_manifest() {
        let model = tiny();
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = export(&model, "tiny", &[3, 0], dir.path()).expect("exports");
        assert_eq!(entry.cuts.iter().map(|c| c.cut).collect::<Vec<_>>(), vec![0, 3]);
        let cut3 = entry.cut(3).expect("cut 3");
        assert_eq!(cut3.served_name, "tiny_cut3");
        assert_eq!(cut3.inputs, model.cut(3).unwrap().tensors);
        assert_eq!(entry.cut(0).unwrap().inputs, model.inputs());
        let onnx = std::fs::read(dir.path().join("tiny_cut3/1/model.onnx")).expect("model written");
        let reparsed = tract_onnx::pb::ModelProto::decode(onnx.as_slice()).expect("valid protobuf");
        let names: Vec<&str> =
            reparsed.graph.as_ref().unwrap().input.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, model.cut(3).unwrap().tensor_names());
        let config =
            std::fs::read_to_string(dir.path().join("tiny_cut3/config.pbtxt")).expect("config written");
        assert!(config.contains("name: \"tiny_cut3\""));

        // A second model (here: the same file under another name) merges; re-exporting replaces.
        export(&model, "other", &[1], dir.path()).expect("exports");
        export(&model, "tiny", &[5], dir.path()).expect("exports");
        let manifest = Manifest::load(dir.path()).expect("manifest reads");
        assert_eq!(manifest.models.len(), 2);
        assert_eq!(manifest.by_name("tiny").unwrap().cuts.len(), 1);
        assert_eq!(manifest.by_hash(&model.hash().to_uppercase()).unwrap().name, "other");
        assert!(matches!(export(&model, "../x", &[1], dir.path()), Err(ExportError::BadName { .. })));
    }

    #[test]
    fn bad_manifests_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(MANIFEST_FILE);
        for (text, want) in [
            ("{", "EOF"),
            (r#"{"format": "other/9", "models": []}"#, "format"),
            (
                r#"{"format": "tandem-export/1", "models": [{"name": "m", "model_file": "m.onnx", "model_hash": "xyz", "cut_count": 3, "cuts": []}]}"#,
                "SHA-256",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = Manifest::load(&path).expect_err("refused").to_string();
            assert!(err.contains(want), "`{err}` lacks `{want}`");
        }
    }

    #[test]
    fn test_vectors_are_the_split_execution() {
        let model = std::sync::Arc::new(tiny());
        let exec = Executor::new(model.clone());
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = export(&model, "tiny", &[3], &dir.path().join("repo")).expect("exports");
        let inputs = tandem_model::check::seeded_inputs(model.inputs());
        let vectors =
            write_test_vectors(&exec, &entry, &inputs, &dir.path().join("vectors")).expect("writes");
        let v = &vectors[0];
        assert_eq!(v.inputs.len(), 2);
        let sub = dir.path().join("vectors/tiny_cut3");
        let crossing: Vec<NamedTensor> =
            v.inputs.iter().map(|f| npy::read_npy(sub.join(&f.file), &f.name).expect("reads")).collect();
        let out = npy::read_npy(sub.join(&v.outputs[0].file), &v.outputs[0].name).expect("reads");
        assert_eq!(exec.run_after(3, &crossing).expect("runs")[0], out);
        assert!(exec.run_full(&inputs).expect("runs")[0].max_abs_diff(&out) <= 1e-5);
    }
}
