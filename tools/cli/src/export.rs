//! `tandem export`: write the part after chosen cuts as a Triton/KServe model repository.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use tandem_export::{self as export, MANIFEST_FILE};
use tandem_sdk::Executor;

use crate::ModelArgs;

/// `tandem export MODEL --cuts IDS --out DIR`.
#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Cuts to export: ids and ranges (`0,3,5-8`), `all` (every cut but the last), or
    /// `spread:N` (N cuts evenly spread over the model).
    #[arg(long, value_name = "IDS")]
    cuts: String,
    /// The model repository to write (created if needed; the manifest is merged).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Base name of the served models (`NAME_cutK`); default: the model file's stem.
    #[arg(long)]
    name: Option<String>,
    /// Also write, per exported cut, the crossing tensors Tandem's part before the cut
    /// computes from the input (--input, or a seeded one) and the outputs of its part after
    /// the cut, as .npy files with a vectors.json index, under DIR2/NAME_cutK/.
    #[arg(long, value_name = "DIR2")]
    test_vectors: Option<PathBuf>,
    /// Print the manifest entry as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `tandem export`.
pub fn run(args: ExportArgs) -> Result<()> {
    let (model, inputs) = args.model.load_with_input()?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => args
            .model
            .model
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
            .context("cannot name the served models after the model file: give --name")?,
    };
    let cuts = export::parse_cut_list(&args.cuts, &model)?;
    let entry = export::export(&model, &name, &cuts, &args.out)?;
    if let Some(dir) = &args.test_vectors {
        let exec = Executor::new(model.clone());
        export::write_test_vectors(&exec, &entry, &inputs, dir)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entry)?);
    } else {
        for c in &entry.cuts {
            println!("cut {:>4}: {} ({} bytes cross)", c.cut, c.served_name, c.bytes);
        }
        eprintln!(
            "exported {} cut(s) of {} to {} (manifest {})",
            entry.cuts.len(),
            model.path().display(),
            args.out.display(),
            args.out.join(MANIFEST_FILE).display()
        );
    }
    Ok(())
}
