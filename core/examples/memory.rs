//! Extra resident memory of building one cut's two parts, against the model's own size.
//!
//! `cargo run --release -p tandem-core --example memory -- models/mobilenetv2.onnx`

use std::sync::Arc;

use tandem_core::{check, Executor, LoadOptions, Model, Side};

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "models/mobilenetv2.onnx".into());
    let start = rss_bytes();
    let model = Arc::new(Model::load(&path, &LoadOptions::default())?);
    let loaded = rss_bytes();
    let exec = Executor::new(model.clone());
    let inputs = check::seeded_inputs(model.inputs());
    exec.run_full(&inputs)?;
    let with_full = rss_bytes();
    println!(
        "{path}: file {:.1} MiB, weights {:.1} MiB; RSS after load +{:.1} MiB, after building the whole model +{:.1} MiB",
        mib(model.file_bytes()),
        mib(model.weight_bytes()),
        mib(loaded.saturating_sub(start)),
        mib(with_full.saturating_sub(loaded)),
    );
    let mut worst = 0u64;
    for cut in [1, model.last_cut() / 4, model.last_cut() / 2, 3 * model.last_cut() / 4] {
        let budget_exec = Executor::with_budget(model.clone(), model.weight_bytes() * 3);
        let before = rss_bytes();
        let b = budget_exec.part(cut, Side::Before)?;
        let a = budget_exec.part(cut, Side::After)?;
        a.run(&b.run(&inputs)?)?;
        let extra = rss_bytes().saturating_sub(before);
        worst = worst.max(extra);
        println!(
            "cut {cut:>4}: building and running both parts adds {:.1} MiB RSS ({:.2}x the model file)",
            mib(extra),
            extra as f64 / model.file_bytes() as f64
        );
        drop((a, b, budget_exec));
    }
    println!("worst: {:.2}x the model file; cache budget default: 3x the weights = {:.1} MiB",
        worst as f64 / model.file_bytes() as f64, mib(model.weight_bytes() * 3));
    Ok(())
}
