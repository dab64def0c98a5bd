//! The plots, as SVG (plotters' SVG backend needs no fonts; a PNG backend would).
//!
//! - `latency_per_cut_<model>.svg`: measured latency of every measured cut per network, as
//!   in Neurosurgeon's figures; the planner's latency choice circled, capped cuts as crosses
//!   at their lower bound.
//! - `speedup.svg`: the latency-optimal strategy's speedup over edge-only and local-only.
//! - `regret.svg`: the planner's regret per model and network, with the targets.
//! - `trace.svg`: the trace-driven run: true and estimated uplink, latency per request.
//! - `sweep_speedup_<model>.svg` (phone-speed sweep): the planner's measured speedup over
//!   local-only, edge-only and JPEG edge-only, grouped by network, a bar per phone speed.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::error::BenchError;
use crate::results::{Results, REGRET_TARGET_MEDIAN, REGRET_TARGET_WORST};

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

fn fail(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> BenchError + '_ {
    move |e| BenchError::Plot { path: path.to_path_buf(), reason: e.to_string() }
}

/// A log axis range covering `values` with some room.
fn log_range(values: impl Iterator<Item = f64>, min_floor: f64) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return min_floor.max(1e-3)..min_floor.max(1e-3) * 10.0;
    }
    (lo / 1.5).max(min_floor.max(1e-6))..(hi * 1.5).max(lo * 2.0)
}

/// Draws every plot into `out`.
pub fn draw_all(out: &Path, r: &Results) -> Result<(), BenchError> {
    for m in &r.models {
        latency_per_cut(&out.join(format!("latency_per_cut_{}.svg", m.model)), r, &m.model)?;
    }
    speedup(&out.join("speedup.svg"), r)?;
    regret(&out.join("regret.svg"), r)?;
    if r.trace.is_some() {
        trace(&out.join("trace.svg"), r)?;
    }
    if let Some(sw) = &r.speed_sweep {
        let mut models: Vec<&str> = vec![];
        for c in &sw.cells {
            if !models.contains(&c.model.as_str()) {
                models.push(&c.model);
            }
        }
        for m in models {
            speed_sweep(&out.join(format!("sweep_speedup_{m}.svg")), sw, m)?;
        }
    }
    Ok(())
}

/// Neurosurgeon's figure for one model: per baseline (local-only, edge-only, edge-only with a
/// JPEG input) a panel of speedups of the planner's choice, grouped by network, one bar per
/// phone speed, from 1x (a bar below the line: the baseline was faster). A missing bar: no
/// measurement (capped choice, or no calibrated JPEG codec).
fn speed_sweep(path: &PathBuf, sw: &crate::speed_sweep::SpeedSweep, model: &str) -> Result<(), BenchError> {
    let err = fail(path);
    let cells: Vec<_> = sw.cells.iter().filter(|c| c.model == model).collect();
    let mut networks: Vec<&str> = vec![];
    for c in &cells {
        if !networks.contains(&c.network.as_str()) {
            networks.push(&c.network);
        }
    }
    let speeds: Vec<String> = sw.points.iter().map(|p| p.speed.label()).collect();
    type Pick = fn(&crate::speed_sweep::SpeedCell) -> Option<f64>;
    let panels: [(&str, Pick); 3] = [
        ("over local-only", |c| c.speedup_vs_local),
        ("over edge-only (raw float32 input)", |c| c.speedup_vs_edge),
        ("over edge-only with a JPEG input", |c| c.speedup_vs_edge_jpeg),
    ];
    let root = SVGBackend::new(path, (1000, 1100)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let areas = root.split_evenly((3, 1));
    let y = log_range(
        cells.iter().flat_map(|c| panels.iter().filter_map(|(_, f)| f(c))).chain([0.8, 1.25]),
        0.01,
    );
    let groups = networks.len().max(1);
    let formatter = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 {
            networks.get(i.max(0.0) as usize).map(|n| n.to_string()).unwrap_or_default()
        } else {
            String::new()
        }
    };
    let width = 0.84 / speeds.len().max(1) as f64;
    for (area, (title, pick)) in areas.iter().zip(panels) {
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{model}: the planner's choice, measured speedup {title}"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..groups as f64 - 0.5, y.clone().log_scale())
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_labels(groups)
            .x_label_formatter(&formatter)
            .disable_x_mesh()
            .y_desc("speedup (x)")
            .draw()
            .map_err(|e| err(&e))?;
        for (k, label) in speeds.iter().enumerate() {
            let c = color(k);
            let bars = networks.iter().enumerate().filter_map(|(g, net)| {
                let cell = cells.iter().find(|x| {
                    x.network == *net && sw.points.get(k).is_some_and(|p| p.speed.slowdown == x.slowdown)
                })?;
                let v = pick(cell)?;
                let x0 = g as f64 - 0.42 + k as f64 * width;
                Some(Rectangle::new([(x0, 1.0), (x0 + width * 0.9, v)], c.filled()))
            });
            chart
                .draw_series(bars)
                .map_err(|e| err(&e))?
                .label(label.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        chart
            .draw_series(LineSeries::new([(-0.5, 1.0), (groups as f64 - 0.5, 1.0)], BLACK.stroke_width(1)))
            .map_err(|e| err(&e))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}

fn latency_per_cut(path: &PathBuf, r: &Results, model: &str) -> Result<(), BenchError> {
    let Some(m) = r.models.iter().find(|m| m.model == model) else { return Ok(()) };
    let err = fail(path);
    let root = SVGBackend::new(path, (1000, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let all = m.networks.iter().flat_map(|n| n.cuts.iter().filter_map(|c| c.latency_or_bound_ms()));
    let y = log_range(all, 0.1);
    let x_max = m.cuts.saturating_sub(1).max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{model}: measured latency per cut (circle: the planner's latency choice; x: capped, lower bound)"), ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..x_max + 0.5, y.log_scale())
        .map_err(|e| err(&e))?;
    chart.configure_mesh().x_desc("cut").y_desc("end-to-end latency (ms)").draw().map_err(|e| err(&e))?;
    for (i, n) in m.networks.iter().enumerate() {
        let c = color(i);
        let points: Vec<(f64, f64)> =
            n.cuts.iter().filter_map(|x| x.latency_ms.map(|l| (x.cut as f64, l))).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(n.network.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 2, c.filled()))).map_err(|e| err(&e))?;
        let capped: Vec<(f64, f64)> = n
            .cuts
            .iter()
            .filter(|x| x.latency_ms.is_none())
            .filter_map(|x| x.latency_lower_bound_ms.map(|l| (x.cut as f64, l)))
            .collect();
        chart
            .draw_series(capped.iter().map(|p| Cross::new(*p, 4, c.stroke_width(1))))
            .map_err(|e| err(&e))?;
        let chosen = &n.strategies.latency_optimal;
        if let Some(l) = chosen.latency_ms.or(chosen.latency_lower_bound_ms) {
            chart
                .draw_series([Circle::new((chosen.cut as f64, l), 7, c.stroke_width(2))])
                .map_err(|e| err(&e))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

/// (label, value, lower bound?) per model and network.
fn pairs(r: &Results) -> Vec<String> {
    r.models
        .iter()
        .flat_map(|m| m.networks.iter().map(move |n| format!("{}/{}", short(&m.model), n.network)))
        .collect()
}

fn short(model: &str) -> String {
    match model {
        "face_embedder" => "face".into(),
        "mobilenetv2" => "mnv2".into(),
        m => m.chars().take(8).collect(),
    }
}

fn speedup(path: &PathBuf, r: &Results) -> Result<(), BenchError> {
    let err = fail(path);
    let labels = pairs(r);
    let nets: Vec<_> = r.models.iter().flat_map(|m| m.networks.iter()).collect();
    let series = [
        ("vs edge-only", nets.iter().map(|n| n.speedup_vs_edge_only).collect::<Vec<_>>()),
        ("vs local-only", nets.iter().map(|n| n.speedup_vs_local_only).collect::<Vec<_>>()),
    ];
    let root = SVGBackend::new(path, (1100, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let y = log_range(series.iter().flat_map(|(_, v)| v.iter().flatten().copied()).chain([0.8, 1.25]), 0.01);
    let n = labels.len().max(1);
    let formatter = |x: &f64| labels.get(x.round().max(0.0) as usize).cloned().unwrap_or_default();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Latency-optimal plan: measured speedup (bars from 1x; edge-only capped = lower bound)",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, y.log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&formatter)
        .x_label_style(("sans-serif", 10))
        .y_desc("speedup (x)")
        .draw()
        .map_err(|e| err(&e))?;
    for (k, (name, values)) in series.iter().enumerate() {
        let c = color(k);
        let offset = if k == 0 { -0.38 } else { 0.02 };
        chart
            .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                v.map(|v| {
                    Rectangle::new([(i as f64 + offset, 1.0), (i as f64 + offset + 0.36, v)], c.filled())
                })
            }))
            .map_err(|e| err(&e))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

fn regret(path: &PathBuf, r: &Results) -> Result<(), BenchError> {
    let err = fail(path);
    let labels = pairs(r);
    let values: Vec<Option<f64>> =
        r.models.iter().flat_map(|m| m.networks.iter().map(|n| n.regret)).collect();
    let root = SVGBackend::new(path, (1100, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let top = values.iter().flatten().fold(REGRET_TARGET_WORST + 0.05, |a, b| a.max(b + 0.05));
    let n = labels.len().max(1);
    let formatter = |x: &f64| labels.get(x.round().max(0.0) as usize).cloned().unwrap_or_default();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Planner regret: chosen cut's measured latency / the oracle's (targets: median 1.05, worst 1.15)",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0.98f64..top)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&formatter)
        .x_label_style(("sans-serif", 10))
        .y_desc("regret")
        .draw()
        .map_err(|e| err(&e))?;
    for (target, c) in [(REGRET_TARGET_MEDIAN, color(2)), (REGRET_TARGET_WORST, color(1))] {
        chart
            .draw_series(LineSeries::new([(-0.5, target), (n as f64 - 0.5, target)], c.stroke_width(1)))
            .map_err(|e| err(&e))?
            .label(format!("{target}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
    }
    chart
        .draw_series(
            values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| Circle::new((i as f64, v), 5, color(0).filled()))),
        )
        .map_err(|e| err(&e))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

fn trace(path: &PathBuf, r: &Results) -> Result<(), BenchError> {
    let Some(t) = &r.trace else { return Ok(()) };
    let err = fail(path);
    let root = SVGBackend::new(path, (1100, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let areas = root.split_evenly((2, 1));
    let t_max = t.duration_ms / 1e3;
    let uplink_of = |level: usize| {
        r.setup
            .networks
            .iter()
            .find(|n| t.levels.get(level) == Some(&n.name))
            .map_or(f64::NAN, |n| n.uplink_mbps)
    };

    // top: true and estimated uplink
    let mut steps: Vec<(f64, f64)> = vec![];
    for (i, seg) in t.trace.iter().enumerate() {
        let end = t.trace.get(i + 1).map_or(t.duration_ms, |n| n.start_ms);
        let up = uplink_of(seg.level);
        steps.push((seg.start_ms / 1e3, up));
        steps.push((end / 1e3, up));
    }
    let estimates: Vec<(f64, f64)> = t
        .online_requests
        .iter()
        .map(|q| (q.t_start_ms / 1e3, q.estimated_uplink_mbps))
        .filter(|p| p.1 > 0.0)
        .collect();
    let y = log_range(steps.iter().chain(&estimates).map(|p| p.1), 0.01);
    let mut top = ChartBuilder::on(&areas[0])
        .caption(
            format!("{}: uplink, true (line) and the session's estimate (points)", t.model),
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..t_max, y.log_scale())
        .map_err(|e| err(&e))?;
    top.configure_mesh().x_desc("time (s)").y_desc("uplink (Mbps)").draw().map_err(|e| err(&e))?;
    top.draw_series(LineSeries::new(steps, BLACK.stroke_width(2))).map_err(|e| err(&e))?;
    top.draw_series(estimates.iter().map(|p| Circle::new(*p, 3, color(0).filled()))).map_err(|e| err(&e))?;

    // bottom: latency per request
    let lat = t.online_requests.iter().chain(&t.oracle_requests).map(|q| q.total_ms).chain([t.deadline_ms]);
    let y = log_range(lat, 0.1);
    let mut bottom = ChartBuilder::on(&areas[1])
        .caption("latency per request: online session vs the oracle that knows the trace; the line is the deadline", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..t_max, y.log_scale())
        .map_err(|e| err(&e))?;
    bottom.configure_mesh().x_desc("time (s)").y_desc("latency (ms)").draw().map_err(|e| err(&e))?;
    for (k, (name, reqs)) in
        [("online", &t.online_requests), ("oracle", &t.oracle_requests)].into_iter().enumerate()
    {
        let c = color(k);
        let pts: Vec<(f64, f64)> = reqs.iter().map(|q| (q.t_start_ms / 1e3, q.total_ms)).collect();
        bottom
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(1)))
            .map_err(|e| err(&e))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        bottom.draw_series(pts.iter().map(|p| Circle::new(*p, 2, c.filled()))).map_err(|e| err(&e))?;
    }
    bottom
        .draw_series(LineSeries::new(
            [(0.0, t.deadline_ms), (t_max, t.deadline_ms)],
            color(1).stroke_width(1),
        ))
        .map_err(|e| err(&e))?;
    bottom
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}
