//! `tandem demo --quick`: the FaceID demo end to end (embedded edge, link emulator, session),
//! its printed decisions, `report.json`, and the chart in `report.html` (no screenshot: the
//! SVG is parsed for one series per network).

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

const NETWORKS: [&str; 4] = ["3G", "LTE", "Wi-Fi", "offline"];

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
fn quick_demo_decides_right_on_every_network_and_charts_each() {
    let out_dir = tempfile::tempdir().expect("a temporary directory");
    let output = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["demo", "--quick", "--no-progress", "--out"])
        .arg(out_dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("tandem runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);

    // The printed output: a section per network, every decision marked right, the refusals.
    for net in NETWORKS {
        assert!(stdout.contains(&format!("== {net} (")), "no section for {net}:\n{stdout}");
    }
    assert!(!stdout.contains("[WRONG]"), "{stdout}");
    assert!(stdout.contains("decisions: 8/8 correct over 4 networks"), "{stdout}");
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

    // report.json: the same decisions, with the privacy floor kept on every one.
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("report.json")).expect("report.json"),
    )
    .expect("valid JSON");
    assert_eq!(json["all_correct"], true);
    let floor = json["privacy_floor_cut"].as_u64().expect("floor");
    assert!(floor >= 1, "the raw input must stay on the phone");
    let decisions = json["decisions"].as_array().expect("decisions");
    assert_eq!(decisions.len(), 8);
    let mut seen = BTreeSet::new();
    for d in decisions {
        let photo = d["photo"].as_str().expect("photo");
        let expected = photo.starts_with("obama");
        assert_eq!(d["is_match"].as_bool(), Some(expected), "{d}");
        assert_eq!(d["correct"], true, "{d}");
        let distance = d["distance"].as_f64().expect("distance");
        assert_eq!(distance < 0.6, expected, "{d}");
        assert!(d["cut"].as_u64().expect("cut") >= floor, "below the privacy floor: {d}");
        seen.insert(d["network"].as_str().expect("network").to_string());
        if d["network"] == "offline" {
            assert_eq!(d["offloaded"], false, "{d}");
            assert_eq!(d["bytes_up"], 0, "{d}");
        }
    }
    assert_eq!(seen, NETWORKS.iter().map(|s| s.to_string()).collect());
    for cut in json["cuts"].as_array().expect("cuts") {
        assert!(cut["cut"].as_u64().expect("cut") >= floor, "{cut}");
        assert!(cut["measured_ms"].as_f64().expect("measured") > 0.0, "{cut}");
    }

    // report.html: self-contained, one drawn series per network.
    let html = std::fs::read_to_string(out_dir.path().join("report.html")).expect("report.html");
    assert!(
        html.starts_with("<!doctype html>") && html.contains("<svg"),
        "not an HTML page with an inline SVG"
    );
    assert!(!html.contains("<script") && !html.contains("src=\"http"), "the page must be self-contained");
    assert!(!html.contains("@@"), "a chart marker was left in the page");
    let found = series(&html);
    let labels: Vec<&str> = found.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(labels, NETWORKS, "{found:?}");
    for (id, network, drawn) in &found {
        assert!(id.starts_with("series-"), "{id}");
        assert!(*drawn >= 1, "the {network} series draws nothing");
    }
    assert_eq!(html.matches("<tr class=\"ok\"").count(), 8);
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
}
