//! `tandem demo --quick`: the FaceID demo end to end (embedded edge, link emulator, session),
//! its printed decisions, `report.json`, and the chart in `report.html` (no screenshot: the
//! SVG is parsed for one series per network).

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

const SCENARIOS: [&str; 5] = [
    "flagship on 3G",
    "low-end on Wi-Fi",
    "low-end on Wi-Fi, battery 5% (low power)",
    "wearable camera on fast Wi-Fi, no privacy floor",
    "low-end, offline",
];

/// The `<g id="series-…" class="series" data-network="…">` groups of the chart, with the
/// number of drawn elements (lines, circles) inside each.
fn series(html: &str) -> Vec<(String, String, usize)> {
    let mut out = vec![];
    let mut rest = html;
    while let Some(at) = rest.find("<g id=\"series-") {
        let tail = &rest[at..];
        let head_end = tail.find('>').expect("a closed <g> tag");
        let head = &tail[..head_end];
        let attr = |name: &str| -> String {
            let key = format!("{name}=\"");
            let from = head.find(&key).map(|i| i + key.len()).expect("the attribute");
            head[from..].split('"').next().expect("a quoted value").to_string()
        };
        let body_end = tail.find("</g>").expect("the group is closed");
        let body = &tail[head_end..body_end];
        let drawn = body.matches("<polyline").count() + body.matches("<circle").count();
        out.push((attr("id"), attr("data-network"), drawn));
        rest = &tail[body_end..];
    }
    out
}

#[test]
fn quick_demo_decides_right_in_every_scenario_with_local_split_and_edge_plans() {
    let out_dir = tempfile::tempdir().expect("a temporary directory");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["demo", "--quick", "--no-progress", "--out"])
            .arg(out_dir.path())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("tandem runs")
    };
    // The 1.2x check compares measured times on a shared machine; a plan the planner chose
    // from a profile measured under someone else's load may miss it once. A second miss fails.
    let mut output = run();
    if !output.status.success()
        && String::from_utf8_lossy(&output.stderr).contains("the chosen plan measured more than")
    {
        eprintln!(
            "first run missed the 1.2x check, running again:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output = run();
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);

    // The printed output: a section per scenario, every decision marked right, the refusals.
    for label in SCENARIOS {
        assert!(stdout.contains(&format!("== {label}: ")), "no section for {label}:\n{stdout}");
    }
    assert!(!stdout.contains("[WRONG]") && !stdout.contains("[OVER"), "{stdout}");
    assert!(stdout.contains("decisions: 10/10 correct over 5 scenarios"), "{stdout}");
    assert!(stdout.contains("bad photos: 3/3 refused as expected"), "{stdout}");
    assert!(stdout.contains("rocket_noface.jpg          refused: no face found"), "{stdout}");
    assert!(stdout.contains("two_faces.jpg              refused: 2 faces found"), "{stdout}");
    assert!(stdout.contains("corrupt.jpg                refused:"), "{stdout}");
    assert!(stdout.contains("before enrolling: no face is enrolled"), "{stdout}");
    assert!(stdout.contains("forcing cut 0 (the raw crop) is refused"), "{stdout}");
    for line in stdout.lines().filter(|l| l.trim_start().starts_with("obama3.jpg ") && l.contains("distance"))
    {
        assert!(line.contains("MATCH ") && !line.contains("NO MATCH"), "{line}");
    }
    for line in stdout.lines().filter(|l| l.trim_start().starts_with("biden.jpg ") && l.contains("distance"))
    {
        assert!(line.contains("NO MATCH"), "{line}");
    }

    // report.json: the CLI contract (last_cut, all_correct, decisions with cut and offloaded),
    // the privacy floor kept wherever the policy has one, and the plans each scenario should
    // make: local on 3G for a flagship and offline, a split for a low-end phone on Wi-Fi,
    // edge-only for the camera whose policy lets the crop go (cut 0, or cuts 1-2 that only
    // shift and scale the pixels).
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("report.json")).expect("report.json"),
    )
    .expect("valid JSON");
    assert_eq!(json["all_correct"], true);
    assert_eq!(json["plans_within_limit"], true, "{}", json["scenarios"]);
    assert!(json["edge_engine"]["name"].as_str().is_some());
    let floor = json["privacy_floor_cut"].as_u64().expect("floor");
    let last = json["last_cut"].as_u64().expect("last_cut");
    assert!(floor >= 1, "the raw input must stay on the phone");
    let decisions = json["decisions"].as_array().expect("decisions");
    assert_eq!(decisions.len(), 10);
    let mut seen = BTreeSet::new();
    for d in decisions {
        let photo = d["photo"].as_str().expect("photo");
        let expected = photo.starts_with("obama");
        assert_eq!(d["is_match"].as_bool(), Some(expected), "{d}");
        assert_eq!(d["correct"], true, "{d}");
        let distance = d["distance"].as_f64().expect("distance");
        assert_eq!(distance < 0.6, expected, "{d}");
        let (cut, offloaded) =
            (d["cut"].as_u64().expect("cut"), d["offloaded"].as_bool().expect("offloaded"));
        let scenario = d["scenario"].as_str().expect("scenario").to_string();
        if scenario != "wearable-wifi-no-floor" {
            assert!(cut >= floor, "below the privacy floor: {d}");
        }
        match scenario.as_str() {
            "flagship-3g" | "lowend-offline" => assert!(!offloaded && d["kind"] == "local", "{d}"),
            "lowend-wifi" => assert!(offloaded && floor <= cut && cut < last, "a split: {d}"),
            "wearable-wifi-no-floor" => assert!(offloaded && cut <= 2 && d["kind"] == "edge", "{d}"),
            _ => {}
        }
        if scenario == "lowend-offline" {
            assert_eq!(d["bytes_up"], 0, "{d}");
        }
        seen.insert(scenario);
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    let kinds: Vec<(String, u64, u64, u64)> = json["plans_by_kind"]
        .as_array()
        .expect("plans_by_kind")
        .iter()
        .map(|e| {
            let c = &e[1];
            (
                e[0].as_str().unwrap().to_string(),
                c["local"].as_u64().unwrap(),
                c["split"].as_u64().unwrap(),
                c["edge"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds[0], ("flagship-3g".into(), 2, 0, 0), "{kinds:?}");
    assert!(kinds.iter().any(|k| k.2 > 0) && kinds.iter().any(|k| k.3 > 0), "{kinds:?}");
    for s in json["scenarios"].as_array().expect("scenarios") {
        let ratio = s["ratio_to_best"].as_f64().expect("ratio");
        assert!((1.0..=1.2).contains(&ratio) && s["within_limit"] == true, "{s}");
        // Every way is measured at least 3 times, but one found over 3x slower and costlier
        // than the chosen plan in its first run, which is not run again.
        let measured = s["measured"].as_array().expect("measured");
        let chosen = &measured[0];
        assert!(chosen["runs"].as_u64() >= Some(3), "{s}");
        for m in measured {
            let over = |key: &str| m[key].as_f64().unwrap() > 3.0 * chosen[key].as_f64().unwrap();
            assert!(
                m["runs"].as_u64() >= Some(3) || (over("measured_ms") && over("energy_mj")),
                "{m} in {s}"
            );
        }
    }
    for cut in json["cuts"].as_array().expect("cuts") {
        assert!(cut["measured_ms"].as_f64().expect("measured") > 0.0, "{cut}");
    }

    // report.html: self-contained, one drawn series per scenario, the scenario table.
    let html = std::fs::read_to_string(out_dir.path().join("report.html")).expect("report.html");
    assert!(
        html.starts_with("<!doctype html>") && html.contains("<svg"),
        "not an HTML page with an inline SVG"
    );
    assert!(!html.contains("<script") && !html.contains("src=\"http"), "the page must be self-contained");
    assert!(!html.contains("@@"), "a chart marker was left in the page");
    let found = series(&html);
    let labels: Vec<&str> = found.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(labels, SCENARIOS, "{found:?}");
    for (id, network, drawn) in &found {
        assert!(id.starts_with("series-"), "{id}");
        assert!(*drawn >= 1, "the {network} series draws nothing");
    }
    assert!(html.contains("<table id=\"scenarios\">"), "no scenario table");
    assert_eq!(html.matches("data-scenario=").count(), 5);
    assert_eq!(html.matches("<tr class=\"ok\"").count(), 10 + 5);
}

#[test]
fn series_parser_finds_groups() {
    let html = r#"<svg><g id="series-3g" class="series" data-network="3G"><polyline/><circle/></g><g id="series-lte" class="series" data-network="LTE"></g></svg>"#;
    assert_eq!(
        series(html),
        vec![
            ("series-3g".to_string(), "3G".to_string(), 2),
            ("series-lte".to_string(), "LTE".to_string(), 0)
        ]
    );
}

#[test]
fn bad_arguments_fail_cleanly() {
    let out_dir = tempfile::tempdir().expect("a temporary directory");
    let output = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["demo", "--quick", "--phone-slowdown", "0", "--out"])
        .arg(out_dir.path())
        .output()
        .expect("tandem runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--phone-slowdown"));
    let output = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["demo", "--quick", "--models", "/nonexistent", "--out"])
        .arg(out_dir.path())
        .output()
        .expect("tandem runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--models"));
    let output = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["demo", "--quick", "--device-class", "toaster", "--out"])
        .arg(out_dir.path())
        .output()
        .expect("tandem runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown device class `toaster`"));
}
