//! Extra resident memory of building one cut's two parts, on top of the whole model, in a
//! fresh process (so earlier allocations don't hide the cost).
//!
//! `for c in 1 25 50 75; do cargo run --release -p tandem-core --example memory -- models/mobilenetv2.onnx $c; done`

use std::sync::Arc;

use tandem_model::{check, Executor, LoadOptions, Model, Side};

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
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "models/mobilenetv2.onnx".into());
    let cut: usize = args.next().map_or(Ok(1), |c| c.parse())?;
    let model = Arc::new(Model::load(&path, &LoadOptions::default())?);
    let exec = Executor::new(model.clone());
    let inputs = check::seeded_inputs(model.inputs());
    exec.run_full(&inputs)?;
    let with_full = rss_bytes();
    let before = exec.part(cut, Side::Before)?;
    let after = exec.part(cut, Side::After)?;
    after.run(&before.run(&inputs)?)?;
    let extra = rss_bytes().saturating_sub(with_full);
    println!(
        "{path} cut {cut}: model file {:.1} MiB; RSS with the whole model built {:.1} MiB; \
         both parts of the cut add {:.1} MiB ({:.2}x the model file); cache budget {:.1} MiB",
        mib(model.file_bytes()),
        mib(with_full),
        mib(extra),
        extra as f64 / model.file_bytes() as f64,
        mib(exec.cache_stats().budget_bytes),
    );
    Ok(())
}
