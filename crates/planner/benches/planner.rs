//! How long one planner decision takes: MobileNetV2 (two tiers, every encoding) and the same
//! with a cloud tier behind the edge (two cuts), and the multi-exit model under a deadline.
//!
//! cargo bench -p tandem-core --bench planner

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use tandem_model::{LoadOptions, Model, ModelMeta};
use tandem_planner::{
    plan, CellularGen, CloudTier, DeviceProfile, EdgeProfile, EnergyModel, LinkEstimate, NetworkKind,
    PlanInput, PlatformState, Policy, ThermalState,
};

fn model(stem: &str) -> (Model, Option<ModelMeta>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models").join(format!("{stem}.onnx"));
    let model = Model::load(&path, &LoadOptions::default()).expect("bundled model loads");
    let meta = ModelMeta::load_beside(&path).expect("valid metadata");
    (model, meta)
}

fn bench(c: &mut Criterion) {
    let energy = EnergyModel::default();
    let platform = PlatformState {
        network: NetworkKind::Cellular(CellularGen::Lte),
        network_id: "lte".into(),
        battery_level: Some(0.4),
        charging: Some(false),
        ..Default::default()
    };
    let link = LinkEstimate::fixed(5.85, 13.0, 50.0);
    let backbone = LinkEstimate::fixed(100.0, 100.0, 20.0);

    let (mobilenet, _) = model("mobilenetv2");
    let cuts = mobilenet.cuts();
    let device = DeviceProfile::estimate(mobilenet.hash(), "bench", cuts, 40.0, ThermalState::Nominal);
    let edge = EdgeProfile::scaled_from(&device, cuts, 4.0);
    let cloud = EdgeProfile::scaled_from(&device, cuts, 20.0);
    let policy = Policy::balanced();
    let input = PlanInput {
        cuts,
        device: &device,
        edge: Some(&edge),
        cloud: None,
        link: &link,
        platform: &platform,
        energy: &energy,
        policy: &policy,
        meta: None,
        constraints: Default::default(),
    };
    eprintln!("mobilenetv2: {} cuts", cuts.len());
    c.bench_function("plan/mobilenetv2/two_tiers", |b| b.iter(|| plan(black_box(&input)).expect("plans")));
    let three = PlanInput { cloud: Some(CloudTier { profile: &cloud, link: &backbone }), ..input.clone() };
    c.bench_function("plan/mobilenetv2/three_tiers", |b| b.iter(|| plan(black_box(&three)).expect("plans")));

    let (branchy, meta) = model("branchynet_fmnist");
    let bcuts = branchy.cuts();
    let bdevice = DeviceProfile::estimate(branchy.hash(), "bench", bcuts, 3.0, ThermalState::Nominal);
    let bedge = EdgeProfile::scaled_from(&bdevice, bcuts, 4.0);
    let deadline = Policy { deadline_ms: Some(2.0), ..Policy::latency() };
    let binput = PlanInput {
        cuts: bcuts,
        device: &bdevice,
        edge: Some(&bedge),
        meta: meta.as_ref(),
        constraints: Default::default(),
        policy: &deadline,
        ..input
    };
    c.bench_function("plan/branchynet/deadline_exits", |b| {
        b.iter(|| plan(black_box(&binput)).expect("plans"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
