//! Full and split inference of MobileNetV2 with tract (single thread, warm parts).
//!
//! `cargo bench -p tandem-core --bench split`

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use tandem_model::{check, Executor, LoadOptions, Model, Side};

fn bench(c: &mut Criterion) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/mobilenetv2.onnx");
    let model = Arc::new(Model::load(&path, &LoadOptions::default()).expect("bundled model loads"));
    let exec = Executor::new(model.clone());
    let inputs = check::seeded_inputs(model.inputs());
    let mid = model.last_cut() / 2;

    let mut group = c.benchmark_group("mobilenetv2");
    group.sample_size(20);
    group.bench_function("full", |b| b.iter(|| exec.run_full(&inputs).expect("runs")));
    let before = exec.part(mid, Side::Before).expect("builds");
    let after = exec.part(mid, Side::After).expect("builds");
    let crossing = before.run(&inputs).expect("runs");
    group.bench_function(format!("split_at_cut_{mid}"), |b| {
        b.iter(|| after.run(&before.run(&inputs).expect("before")).expect("after"))
    });
    group.bench_function(format!("before_cut_{mid}"), |b| b.iter(|| before.run(&inputs).expect("runs")));
    group.bench_function(format!("after_cut_{mid}"), |b| b.iter(|| after.run(&crossing).expect("runs")));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
