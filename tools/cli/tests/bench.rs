//! `tandem bench` end to end in a configuration small enough for CI: one model, two
//! networks, a few cuts, one run each, a 3 s trace. Checks the outputs' structure and the
//! arithmetic that ties strategies, oracle and regret together.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tandem(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tandem")).args(args).current_dir(repo()).output().expect("tandem runs")
}

fn num(v: &Value, what: &str) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{what} is not a number: {v}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_small_bench_writes_consistent_results_tables_and_plots() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("bench");
    let out_s = out.to_str().expect("utf-8 path");
    let started = std::time::Instant::now();
    let o = tandem(&[
        "bench",
        "--quick",
        "--out",
        out_s,
        "--models",
        "mobilenetv2",
        "--networks",
        "wifi,lte",
        "--max-oracle-cuts",
        "4",
        "--runs",
        "1",
        "--edge-profile-s",
        "2",
        "--calibration-cuts",
        "4",
        "--settle-requests",
        "2",
        "--trace-s",
        "3",
        "--segment-s",
        "1",
        "--period-ms",
        "200",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "tandem bench failed: {stderr}\nphone log: {}",
        std::fs::read_to_string(out.join("phone.log")).unwrap_or_default()
    );
    eprintln!("tandem bench took {:.1} s", started.elapsed().as_secs_f64());

    let r: Value = serde_json::from_str(&read(&out.join("results.json"))).expect("results.json is JSON");
    assert_eq!(r["schema"], "tandem-bench/1");
    let setup = &r["setup"];
    check_throttle(setup, &r["models"][0]);
    assert_eq!(setup["slowdown"], 4.0);
    assert_eq!(setup["cuts"], "subset");

    let models = r["models"].as_array().expect("models");
    assert_eq!(models.len(), 1);
    let m = &models[0];
    assert_eq!(m["model"], "mobilenetv2");
    let cuts = m["cuts"].as_u64().expect("cut count") as usize;
    let last = cuts - 1;
    let measured: Vec<usize> = m["measured_cuts"]
        .as_array()
        .expect("measured cuts")
        .iter()
        .map(|c| c.as_u64().expect("id") as usize)
        .collect();
    assert!(measured.contains(&0) && measured.contains(&last), "{measured:?}");
    assert!(m["device_before_ms"].as_array().is_some_and(|d| d.len() == cuts));

    let nets = m["networks"].as_array().expect("networks");
    let names: Vec<&str> = nets.iter().map(|n| n["network"].as_str().expect("name")).collect();
    assert_eq!(names, ["wifi", "lte"]);
    for n in nets {
        check_network(n, &measured, last);
    }
    let summary = &r["summary"];
    assert_eq!(summary["regret_count"], 2);
    assert_eq!(summary["regret_estimated_count"], 2);
    assert!(num(&summary["regret_max"], "worst regret") >= num(&summary["regret_median"], "median regret"));
    assert_eq!(summary["neurosurgeon_speedup"], 3.1);

    check_trace(&r["trace"]);
    assert!(r.get("three_tiers").is_none(), "three tiers only with --three-tiers");

    let md = read(&out.join("results.md"));
    assert!(md.contains("| mobilenetv2 | wifi |") && md.contains("| mobilenetv2 | lte |"), "{md}");
    assert!(md.contains("## Trace-driven run"));
    for plot in ["latency_per_cut_mobilenetv2.svg", "speedup.svg", "regret.svg", "trace.svg"] {
        let svg = read(&out.join(plot));
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{plot} is not an SVG");
    }
}

/// Whether this machine lets a process create a CPU group: a writable cgroup v1 CPU
/// controller, or a cgroup v2 hierarchy offering the cpu controller.
fn cgroup_writable() -> Option<&'static str> {
    let probe = |dir: &str| {
        let d = Path::new(dir).join(format!("tandem-bench-probe-{}", std::process::id()));
        let ok = std::fs::create_dir(&d).is_ok();
        let _ = std::fs::remove_dir(&d);
        ok
    };
    if Path::new("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists() && probe("/sys/fs/cgroup/cpu") {
        return Some("cgroup_v1");
    }
    let v2 = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
        .is_ok_and(|c| c.split_whitespace().any(|x| x == "cpu"));
    (v2 && probe("/sys/fs/cgroup")).then_some("cgroup_v2")
}

/// The phone's throttle: where the machine allows a cgroup, the benchmark used it, says
/// which, and the phone it calibrated is really slower than the edge (4x asked; more than 2x
/// measured, whole model on the phone against the whole model on the edge); elsewhere, the
/// calibrated-slowdown mode, saying why.
fn check_throttle(setup: &Value, model: &Value) {
    let detail = setup["throttle_detail"].as_str().unwrap_or_default();
    match cgroup_writable() {
        Some(kind) => {
            assert_eq!(setup["throttle"], "cgroup", "{detail}");
            assert_eq!(setup["throttle_kind"], kind, "{detail}");
            let phone = model["device_before_ms"].as_array().and_then(|d| d.last()).and_then(Value::as_f64);
            let edge = model["edge_after_ms"][0].as_f64();
            let (phone, edge) =
                (phone.expect("the phone's whole model"), edge.expect("the edge's whole model"));
            assert!(
                phone > 2.0 * edge,
                "the throttled phone took {phone:.1} ms, the edge {edge:.1} ms ({detail})"
            );
        }
        None => {
            assert_eq!(setup["throttle"], "calibrated_sleep", "{detail}");
            assert_eq!(setup["throttle_kind"], "calibrated_sleep");
            assert!(detail.contains("no writable cgroup"), "{detail}");
        }
    }
}

/// One network's strategies, oracle and regret: every strategy ran at a measured cut, the
/// planner's are the plans' cuts, the oracle is the fastest measured cut, and regret is the
/// ratio it says.
fn check_network(n: &Value, measured: &[usize], last: usize) {
    let net = n["network"].as_str().unwrap_or_default();
    let s = &n["strategies"];
    for key in [
        "local_only",
        "edge_only",
        "latency_optimal",
        "energy_optimal",
        "balanced",
        "oracle",
        "energy_oracle",
    ] {
        let cut = s[key]["cut"].as_u64().unwrap_or_else(|| panic!("{net}: {key} has no cut")) as usize;
        assert!(
            measured.contains(&cut),
            "{net}: {key} ran at cut {cut}, not among the measured {measured:?}"
        );
    }
    assert_eq!(s["local_only"]["cut"], last);
    assert_eq!(s["edge_only"]["cut"], 0);
    // the planner's choices are the plans' cuts
    for (key, objective) in
        [("latency_optimal", "latency"), ("energy_optimal", "energy"), ("balanced", "balanced")]
    {
        let plan = n["plans"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["objective"] == objective))
            .expect("a plan");
        assert_eq!(s[key]["cut"], plan["cut"], "{net}: {key}");
    }
    let oracle = num(&s["oracle"]["latency_ms"], "oracle latency");
    assert!(oracle > 0.0);
    let local = num(&s["local_only"]["latency_ms"], "local-only latency");
    assert!(oracle <= local + 1e-9, "{net}: the oracle ({oracle}) is slower than local-only ({local})");
    // the oracle is the minimum over every measured cut
    for c in n["cuts"].as_array().expect("cuts") {
        if let Some(l) = c["latency_ms"].as_f64() {
            assert!(l >= oracle - 1e-9, "{net}: cut {} measured {l} < oracle {oracle}", c["cut"]);
            assert!(c["runs_ms"].as_array().is_some_and(|r| !r.is_empty()));
        } else {
            assert!(
                c["latency_lower_bound_ms"].as_f64().is_some(),
                "{net}: cut {} has neither latency nor bound",
                c["cut"]
            );
        }
    }
    // regret from the sweep: the chosen cut's latency over the oracle's, >= 1 by construction
    let sweep = num(&n["regret_sweep"], "sweep regret");
    assert!(sweep >= 1.0 - 1e-9, "{net}: sweep regret {sweep} < 1");
    let chosen = s["latency_optimal"]["latency_ms"].as_f64();
    if let Some(chosen) = chosen {
        assert!((sweep - chosen / oracle).abs() < 1e-9, "{net}: sweep regret {sweep} != {chosen} / {oracle}");
    }
    // the reported regret: 1 when the planner chose the oracle's cut, else the ratio of the
    // back-to-back re-measurement's medians (which noise may put below 1)
    let regret = num(&n["regret"], "regret");
    let confirmation = &n["confirmation"];
    if s["latency_optimal"]["cut"] == s["oracle"]["cut"] {
        assert_eq!(regret, 1.0, "{net}");
        assert!(confirmation.is_null());
    } else if chosen.is_some() {
        let (c, o) = (
            num(&confirmation["chosen_ms"], "re-measured chosen"),
            num(&confirmation["oracle_ms"], "re-measured oracle"),
        );
        assert!((regret - c / o).abs() < 1e-9, "{net}: regret {regret} != {c} / {o}");
        assert_eq!(confirmation["chosen_runs_ms"].as_array().map(Vec::len), Some(1), "--runs 1");
        assert!(regret > 0.0);
    }
    // the regret with the online estimator: its plan was measured, the estimator had
    // samples (the network is unmetered: the session probed it), and it is the regret the
    // results say
    let est = &n["estimated"];
    let est_cut = est["plan"]["cut"].as_u64().expect("the estimator's cut") as usize;
    assert!(measured.contains(&est_cut), "{net}: the estimator's cut {est_cut} was not measured");
    assert!(est["link"]["samples"].as_u64().is_some_and(|k| k > 0), "{net}: no samples: {est}");
    let regret_est = num(&n["regret_estimated"], "regret with the estimator");
    if s["latency_optimal"]["cut"] == est_cut {
        assert_eq!(regret_est, regret, "{net}: the same cut, the same regret");
    } else if s["oracle"]["cut"] == est_cut {
        assert_eq!(regret_est, 1.0, "{net}");
    } else if let Some(l) = n["cuts"].as_array().and_then(|c| c.iter().find(|c| c["cut"] == est_cut)) {
        let want =
            l["latency_ms"].as_f64().unwrap_or_else(|| num(&l["latency_lower_bound_ms"], "bound")) / oracle;
        assert!((regret_est - want).abs() < 1e-9, "{net}: {regret_est} != {want}");
    }
    let speedup = num(&n["speedup_vs_local_only"], "speedup vs local-only");
    assert!(speedup > 0.0);
    assert!(num(&s["local_only"]["energy_mj"], "local energy") > 0.0);
}

/// The trace-driven run: both runs made requests, with sane rates.
fn check_trace(trace: &Value) {
    assert_eq!(trace["model"], "mobilenetv2");
    for run in ["online", "oracle"] {
        let t = &trace[run];
        assert!(t["requests"].as_u64().is_some_and(|n| n >= 2), "{run}: {t}");
        let miss = num(&t["deadline_miss_rate"], "miss rate");
        assert!((0.0..=1.0).contains(&miss));
        assert!(num(&t["mean_latency_ms"], "mean latency") > 0.0);
    }
    assert_eq!(
        trace["online_requests"].as_array().map(Vec::len),
        trace["online"]["requests"].as_u64().map(|n| n as usize)
    );
    // every segment counted at its level; the oracle's forced cuts are never given up on
    let segments = trace["trace"].as_array().map_or(0, Vec::len);
    let visits: u64 = trace["visits"].as_array().expect("visits").iter().filter_map(Value::as_u64).sum();
    assert_eq!(visits as usize, segments);
    assert_eq!(trace["oracle"]["fallbacks"], 0, "{}", trace["oracle"]);
    let oracle_offloads = trace["oracle_offload_segments"].as_u64().expect("oracle offload segments");
    let online_offloads = trace["online_offloaded_in_oracle_offload_segments"].as_u64().expect("online");
    assert!(online_offloads <= oracle_offloads);
    // per segment: the same counts, segment by segment
    let per = &trace["offload_segments"];
    let rows = per["segments"].as_array().expect("offload_segments.segments");
    assert_eq!(rows.len(), segments);
    let flag = |r: &Value, k: &str| r[k].as_bool().unwrap_or_else(|| panic!("{k}: {r}"));
    let oracle_rows = rows.iter().filter(|r| flag(r, "oracle_offloaded")).count() as u64;
    let both =
        rows.iter().filter(|r| flag(r, "oracle_offloaded") && flag(r, "online_offloaded")).count() as u64;
    assert_eq!((per["oracle"].as_u64(), per["online"].as_u64()), (Some(oracle_rows), Some(both)));
    assert_eq!((oracle_rows, both), (oracle_offloads, online_offloads));
    assert_eq!(
        per["summary"].as_str(),
        Some(format!("online offloads in {both} of {oracle_rows} oracle-offload segments").as_str())
    );
    let requests: u64 = rows.iter().filter_map(|r| r["online_requests"].as_u64()).sum();
    assert_eq!(Some(requests), trace["online"]["requests"].as_u64());
}

/// `--input-shape`: a model whose input has a symbolic dimension (tiny_text_encoder's
/// `input_ids` is `[batch, sequence]`) is refused without it, and benchmarked with it, on the
/// phone and the embedded edge alike.
#[test]
fn a_model_with_symbolic_input_dims_runs_with_input_shape() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("bench");
    let out_s = out.to_str().expect("utf-8 path");
    let args = |shape: Option<&'static str>| {
        let mut a = vec![
            "bench",
            "--quick",
            "--out",
            out_s,
            "--models-dir",
            "models",
            "--models",
            "tiny_text_encoder",
            "--networks",
            "wifi,lte",
            "--max-oracle-cuts",
            "3",
            "--runs",
            "1",
            "--edge-profile-s",
            "1",
            "--calibration-cuts",
            "3",
            "--settle-requests",
            "1",
            "--trace-s",
            "0",
        ];
        if let Some(s) = shape {
            a.extend(["--input-shape", s]);
        }
        a
    };
    let refused = tandem(&args(None));
    assert!(!refused.status.success(), "a symbolic input dimension needs --input-shape");
    let o = tandem(&args(Some("tiny_text_encoder=1x12")));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "tandem bench failed: {stderr}\nphone log: {}\nedge log: {}",
        std::fs::read_to_string(out.join("phone.log")).unwrap_or_default(),
        std::fs::read_to_string(out.join("edge.log")).unwrap_or_default()
    );
    let r: Value = serde_json::from_str(&read(&out.join("results.json"))).expect("results.json is JSON");
    let m = &r["models"][0];
    assert_eq!(m["model"], "tiny_text_encoder");
    let cuts = m["cuts"].as_u64().expect("cut count") as usize;
    let measured: Vec<u64> =
        m["measured_cuts"].as_array().expect("measured cuts").iter().filter_map(Value::as_u64).collect();
    assert!(measured.contains(&0) && measured.contains(&(cuts as u64 - 1)), "{measured:?}");
    for n in m["networks"].as_array().expect("networks") {
        assert!(num(&n["regret"], "regret") > 0.0, "{n}");
        assert!(num(&n["strategies"]["local_only"]["latency_ms"], "local-only latency") > 0.0, "{n}");
    }
    // a name that is not among the models is refused
    let wrong = tandem(&["bench", "--out", out_s, "--models", "tiny_resnet", "--input-shape", "nope=1x12"]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("not among the models"));
}

/// `--three-tiers` on the tiny model: a cloud behind the (weak, where cgroups are writable)
/// edge; the forced splits went through the cloud and gave the local-only outputs, the
/// planner's choice and the best two-tier plan were measured, and the comparison is there.
#[test]
fn three_tiers_measure_forced_splits_through_the_cloud_against_the_best_two_tier_plan() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("bench");
    let out_s = out.to_str().expect("utf-8 path");
    let o = tandem(&[
        "bench",
        "--quick",
        "--three-tiers",
        "--out",
        out_s,
        "--models",
        "tiny_resnet",
        "--networks",
        "wifi",
        "--max-oracle-cuts",
        "3",
        "--runs",
        "2",
        "--edge-profile-s",
        "2",
        "--calibration-cuts",
        "4",
        "--settle-requests",
        "1",
        "--trace-s",
        "0",
        "--slowdown",
        "10",
        "--edge-slowdown",
        "4",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "tandem bench --three-tiers failed: {stderr}\nedge log: {}",
        std::fs::read_to_string(out.join("edge.log")).unwrap_or_default()
    );
    assert!(stderr.contains("three tiers: beat the best two-tier plan in"), "{stderr}");
    let r: Value = serde_json::from_str(&read(&out.join("results.json"))).expect("results.json is JSON");
    assert_eq!(r["models"][0]["model"], "tiny_resnet", "the two-tier sweep is still there");
    let t = &r["three_tiers"];
    let setup = &t["setup"];
    // Without a writable cgroup the edge runs at full speed, and the results say so.
    match setup["edge_throttle"].as_str() {
        Some("cgroup") => {
            let detail = setup["edge_throttle_detail"].as_str().unwrap();
            assert!(detail.contains("cfs_quota_us") || detail.contains("cpu.max"), "{detail}")
        }
        Some("none") => assert!(setup["edge_throttle_detail"].as_str().unwrap().contains("no edge throttle")),
        other => panic!("edge_throttle: {other:?}"),
    }
    assert_eq!(setup["cloud_link_mbps"], 50.0);
    assert!(setup["advertised"][0]["rtt_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{setup}");
    assert!(setup["method"].as_str().unwrap().contains("Energy is modeled"));

    let cells = t["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 1);
    let c = &cells[0];
    assert_eq!((c["model"].as_str(), c["network"].as_str()), (Some("tiny_resnet"), Some("wifi")));
    let last = c["last_cut"].as_u64().expect("last cut");
    // The best two-tier plan is the sweep's oracle cut, measured again.
    assert_eq!(c["two_tier_best"]["cut"], r["models"][0]["networks"][0]["strategies"]["oracle"]["cut"]);
    assert!(c["two_tier_best"]["latency_ms"].as_f64().is_some(), "{c}");
    // Forced splits: cut 0, the cloud from 1, last/4 and last/2; every run went through the
    // cloud and gave the phone's local-only outputs.
    let forced = c["forced"].as_array().expect("forced rows");
    let cloud_cuts: Vec<u64> = forced.iter().map(|f| f["cloud_cut"].as_u64().expect("cloud cut")).collect();
    assert_eq!(cloud_cuts, [1, last / 4, last / 2]);
    for f in forced {
        assert_eq!(f["cut"], 0);
        let runs = f["runs_ms"].as_array().expect("runs").len();
        assert_eq!(runs, 2, "{f}");
        assert_eq!(f["offloaded_runs"].as_u64(), Some(2), "{f}");
        assert_eq!(f["cloud_runs"].as_u64(), Some(2), "the cloud took over: {f}");
        assert!(f["cloud_fallback"].is_null() && f["fallback"].is_null(), "{f}");
        assert!(f["cloud_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{f}");
        assert!(f["max_abs_diff"].as_f64().is_some_and(|d| d <= 1e-4), "outputs: {f}");
        assert!(f["modeled_energy_mj"].as_f64().is_some_and(|e| e > 0.0), "{f}");
    }
    let planner = &c["planner"];
    assert_eq!(planner["label"], "planner");
    assert!(planner["predicted_latency_ms"].as_f64().is_some(), "{planner}");
    assert!(planner["max_abs_diff"].as_f64().is_some_and(|d| d <= 1e-4), "{planner}");
    // The comparison: the best three-tier split over the best two-tier plan, as a number.
    let speedup = num(&c["speedup_vs_two_tier"], "speedup vs two tiers");
    assert_eq!(c["three_tiers_win"].as_bool(), Some(speedup > 1.0));
    assert_eq!(t["summary"]["compared"], 1);

    let md = read(&out.join("results.md"));
    assert!(md.contains("## Three tiers: phone → weak edge → cloud (measured)"), "{md}");
    assert!(md.contains("| tiny_resnet | wifi |") && md.contains("0 → 1:"), "{md}");
}

#[test]
fn missing_models_are_refused_with_the_reason() {
    let o = tandem(&["bench", "--models", "no_such_model", "--out", "/nonexistent/never-created"]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("none of the models was found") && stderr.contains("no_such_model"), "{stderr}");
    let o = tandem(&["bench", "--networks", "5g", "--out", "/nonexistent/never-created"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown network `5g`"));
}

#[test]
fn device_classes_are_checked_and_exclude_an_explicit_slowdown() {
    let o = tandem(&["bench", "--device-class", "toaster", "--out", "/nonexistent/never-created"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unknown device class `toaster`") && err.contains("low-end"), "{err}");
    let o = tandem(&[
        "bench",
        "--device-class",
        "low-end",
        "--slowdown",
        "3",
        "--out",
        "/nonexistent/never-created",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--slowdown") && err.contains("cannot be used with"), "{err}");
    // the sweeps: every class is checked, ratios are bounded, and neither goes with --slowdown
    let o = tandem(&["bench", "--device-classes", "flagship,toaster", "--out", "/nonexistent/never-created"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unknown device class `toaster`") && err.contains("wearable"), "{err}");
    let o = tandem(&["bench", "--ratios", "2,0.5", "--out", "/nonexistent/never-created"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--ratios 0.5: expected 1 to 1000"), "{err}");
    let o = tandem(&["bench", "--ratios", "2,4", "--slowdown", "3", "--out", "/nonexistent/never-created"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot be used with"));
}

/// `--device-classes`: the static sweep once per class against one edge, and per model x
/// network x class the planner's choice against local-only, edge-only and edge-only with a
/// JPEG input, all measured: the speedups are the latencies' ratios in the same file, the
/// JPEG baseline is there for the image model whose sidecar calibrates `jpeg` at cut 0 (and
/// smaller on the wire than the raw input), and `null` with the reason for a model without.
#[test]
fn a_device_class_sweep_measures_speedups_over_local_edge_and_jpeg_edge() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("bench");
    let out_s = out.to_str().expect("utf-8 path");
    let o = tandem(&[
        "bench",
        "--quick",
        "--device-classes",
        "flagship,mid-range",
        "--out",
        out_s,
        "--models",
        "face_embedder,tiny_resnet",
        "--networks",
        "wifi,lte",
        "--max-oracle-cuts",
        "3",
        "--runs",
        "1",
        "--edge-profile-s",
        "2",
        "--calibration-cuts",
        "4",
        "--settle-requests",
        "1",
        "--trace-s",
        "0",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "tandem bench --device-classes failed: {stderr}\nphone log: {}",
        std::fs::read_to_string(out.join("phone.log")).unwrap_or_default()
    );
    assert!(stderr.contains("phone mid-range (6.1x): plans local/split/edge"), "{stderr}");
    let r: Value = serde_json::from_str(&read(&out.join("results.json"))).expect("results.json is JSON");
    let sw = &r["speed_sweep"];
    assert_eq!(sw["sweep"], "device_classes");
    let points = sw["points"].as_array().expect("points");
    let classes: Vec<(&str, f64)> = points
        .iter()
        .map(|p| (p["device_class"].as_str().expect("class"), num(&p["slowdown"], "slowdown")))
        .collect();
    assert_eq!(classes, [("flagship", 1.0), ("mid-range", 6.1)]);
    // the phone moved from one speed to the next, and the top level is the last speed's
    let detail = points[1]["throttle_detail"].as_str().expect("throttle detail");
    assert!(detail.contains("6100") || detail.contains("6.1x"), "{detail}");
    assert_eq!(r["setup"]["slowdown"], 6.1);
    assert_eq!(r["models"], points[1]["models"]);

    let cells = sw["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 2 * 2 * 2, "2 classes x 2 models x 2 networks");
    for c in cells {
        let what = format!("{} / {} / {}", c["model"], c["network"], c["device_class"]);
        let k = points.iter().position(|p| p["device_class"] == c["device_class"]).expect("its point");
        let m = points[k]["models"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["model"] == c["model"]))
            .expect("its model at that speed");
        let n = m["networks"]
            .as_array()
            .and_then(|ns| ns.iter().find(|n| n["network"] == c["network"]))
            .expect("its network");
        let s = &n["strategies"];
        // the cell's latencies are the sweep's measurements at that speed
        assert_eq!(c["chosen_cut"], s["latency_optimal"]["cut"], "{what}");
        assert_eq!(c["chosen_ms"], s["latency_optimal"]["latency_ms"], "{what}");
        assert_eq!(c["local_ms"], s["local_only"]["latency_ms"], "{what}");
        // edge-only: cut 0 forced with the raw float32 input, measured (or capped: a bound)
        let raw = &c["edge_raw"];
        assert_eq!((raw["encoding"].as_str(), raw["unavailable"].is_null()), (Some("fp32"), true), "{raw}");
        let edge_bound = raw["measured"]["latency_ms"].is_null();
        let edge_key = if edge_bound { "latency_lower_bound_ms" } else { "latency_ms" };
        assert_eq!(c["edge_ms"], raw["measured"][edge_key], "{what}");
        assert_eq!(c["edge_ms_is_lower_bound"], edge_bound, "{what}");
        if !edge_bound {
            let bytes = raw["measured"]["bytes_up"].as_u64().expect("bytes up");
            let input = n["cuts"][0]["bytes"].as_u64().expect("cut 0 bytes");
            assert!(bytes >= input, "{what}: the raw input is {input} bytes, {bytes} went up");
        }
        let (chosen, last) = (c["chosen_cut"].as_u64().expect("cut"), c["last_cut"].as_u64().expect("last"));
        let kind = if chosen == last {
            "local"
        } else if chosen == 0 {
            "edge"
        } else {
            "split"
        };
        assert_eq!(c["plan_kind"], kind, "{what}");
        // speedup = baseline ms / chosen ms, positive
        let chosen_ms = num(&c["chosen_ms"], "chosen ms");
        for (speedup, baseline) in [
            ("speedup_vs_local", "local_ms"),
            ("speedup_vs_edge", "edge_ms"),
            ("speedup_vs_edge_jpeg", "edge_jpeg_ms"),
        ] {
            if c[baseline].is_null() {
                assert!(c[speedup].is_null(), "{what}: {speedup} without {baseline}");
                continue;
            }
            let x = num(&c[speedup], speedup);
            assert!(x > 0.0, "{what}: {speedup} {x}");
            let want = num(&c[baseline], baseline) / chosen_ms;
            assert!(
                (x - want).abs() < 1e-9 * want,
                "{what}: {speedup} {x} != {baseline} / chosen_ms = {want}"
            );
        }
        let jpeg = &c["edge_jpeg"];
        if c["model"] == "face_embedder" {
            // its sidecar calibrates jpeg at cut 0: measured, through the session, compressed
            assert!(jpeg["unavailable"].is_null(), "{what}: {jpeg}");
            let measured = &jpeg["measured"];
            assert_eq!(measured["cut"], 0);
            assert!(num(&c["edge_jpeg_ms"], "JPEG edge-only ms") > 0.0, "{what}");
            let bytes_up = measured["bytes_up"].as_u64().expect("bytes up");
            let raw = 150 * 150 * 3 * 4;
            assert!(bytes_up * 4 < raw, "{what}: a JPEG of {bytes_up} bytes against {raw} raw");
            assert!(jpeg["fidelity"].as_str().is_some_and(|f| f.contains("cosine")), "{jpeg}");
            assert!(jpeg["meets_policy"].is_boolean(), "{jpeg}");
            assert!(c["speedup_vs_edge_jpeg"].as_f64().is_some(), "{what}");
        } else {
            // tiny_resnet has no sidecar: no JPEG number, and the reason
            assert!(jpeg["measured"].is_null() && c["speedup_vs_edge_jpeg"].is_null(), "{what}: {jpeg}");
            assert!(jpeg["unavailable"].as_str().is_some_and(|w| w.contains("no sidecar")), "{jpeg}");
        }
    }
    for p in sw["summary"].as_array().expect("summary per class") {
        let plans: u64 = ["local_plans", "split_plans", "edge_plans"]
            .iter()
            .map(|k| p[*k].as_u64().expect("a count"))
            .sum();
        assert_eq!(plans, 4, "{p}");
    }
    let input = r["models"][0]["input"].as_str().expect("the input in words");
    assert!(input.contains("astronaut.jpg"), "the photo, not noise: {input}");

    let md = read(&out.join("results.md"));
    assert!(md.contains("## Phone-speed sweep"), "{md}");
    assert!(md.contains("| face_embedder | lte | mid-range (6.1x) |"), "{md}");
    assert!(md.contains("none: no sidecar"), "{md}");
    for plot in ["sweep_speedup_face_embedder.svg", "sweep_speedup_tiny_resnet.svg"] {
        let svg = read(&out.join(plot));
        assert!(svg.contains("<svg") && svg.contains("over edge-only with a JPEG input"), "{plot}");
    }
}
