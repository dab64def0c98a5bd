//! Prints the coverage table of `models/README.md` for the generated models: cuts, verify's
//! worst split-vs-whole difference and its cost per cut, and agreement with ONNX Runtime.
//!
//! `cargo run -p tandem-model --example coverage_table --release`

use std::sync::Arc;
use std::time::Instant;

use tandem_model::{check, npy, Executor, LoadOptions, Model};

const MODELS: &[&str] = &[
    "shufflenet_block",
    "tiny_vit",
    "tiny_text_encoder",
    "tiny_text_encoder_dynq",
    "tiny_gru",
    "tiny_lstm",
    "lraspp_head",
    "mixed_dtypes",
    "qdq_cnn",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    println!("| model | bytes | cuts | load ms | verify max diff | verify ms/cut | max diff vs ONNX Runtime | dtypes crossing |");
    println!("|---|---|---|---|---|---|---|---|");
    for stem in MODELS {
        let td = |f: String| dir.join("testdata").join(f);
        let inputs: Vec<_> = (0..)
            .map(|k| td(format!("{stem}_in_{k}.npy")))
            .take_while(|p| p.exists())
            .map(|p| npy::read_npy(p, ""))
            .collect::<Result<_, _>>()?;
        let options = LoadOptions { input_shapes: Some(inputs.iter().map(|t| t.shape.clone()).collect()) };
        let path = dir.join(format!("{stem}.onnx"));
        let start = Instant::now();
        let model = Arc::new(Model::load(&path, &options)?);
        let load_ms = start.elapsed().as_secs_f64() * 1e3;
        let inputs: Vec<_> = inputs
            .into_iter()
            .zip(model.inputs())
            .map(|(t, s)| tandem_model::NamedTensor { name: s.name.clone(), ..t })
            .collect();
        let exec = Executor::new(model.clone());
        let start = Instant::now();
        let checks = check::verify(&exec, &inputs, |_| {})?;
        let per_cut_ms = start.elapsed().as_secs_f64() * 1e3 / checks.len() as f64;
        let worst = checks.iter().map(|c| c.max_abs_diff).fold(0.0, f64::max);
        let outputs = exec.run_full(&inputs)?;
        let mut ort = 0f64;
        for (k, o) in outputs.iter().enumerate() {
            let want = npy::read_npy(td(format!("{stem}_out_{k}.npy")), &o.name)?;
            ort = ort.max(o.max_abs_diff(&want));
        }
        let dtypes: std::collections::BTreeSet<String> =
            model.cuts().iter().flat_map(|c| c.tensors.iter().map(|t| t.dtype.to_string())).collect();
        println!(
            "| `{stem}` | {} | {} | {load_ms:.0} | {worst:.1e} | {per_cut_ms:.1} | {ort:.1e} | {} |",
            model.file_bytes(),
            model.cuts().len(),
            dtypes.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}
