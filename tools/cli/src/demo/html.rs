//! `report.html`: the chart of predicted and measured latency per cut per network, and the
//! tables of decisions, refusals and measured cuts. Self-contained: an inline SVG, no script.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use plotters::coord::combinators::LogCoord;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::report::{kb, DemoReport};
use super::scenario::NETWORKS;

const COLORS: [(u8, u8, u8); 4] = [(214, 39, 40), (255, 127, 14), (31, 119, 180), (100, 100, 100)];

/// The chart's coordinates: cut on x, latency (log scale) on y.
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, LogCoord<f64>>>;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn chart_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("chart: {e}")
}

/// The chart: predicted (line) and measured (dots) latency per cut, one group per network.
/// Each network's elements are wrapped in `<g id="series-SLUG" class="series"
/// data-network="LABEL">` (plotters cannot tag elements, so invisible marker texts are drawn
/// around each series and replaced afterwards).
fn chart_svg(report: &DemoReport) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let values = report
            .curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.1))
            .chain(report.cuts.iter().flat_map(|c| [c.predicted_ms, c.measured_ms]))
            .filter(|v| v.is_finite() && *v > 0.0);
        let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (lo, hi) = if lo > hi { (1.0, 10.0) } else { (lo / 1.5, hi * 1.5) };
        let mut chart = ChartBuilder::on(&root)
            .caption("Predicted (line) and measured (dots) latency per cut", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-1f64..report.last_cut as f64 + 1.0, (lo..hi).log_scale())
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .x_desc("cut (0 = raw input on the edge; last = all on the phone)")
            .y_desc("latency (ms)")
            .light_line_style(RGBColor(238, 238, 238))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(chart_error)?;
        for (i, net) in report.networks.iter().enumerate() {
            let (r, g, b) = COLORS[i % COLORS.len()];
            draw_network(&mut chart, report, net, RGBColor(r, g, b), (0.0, lo))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    let mut out = svg;
    for net in &report.networks {
        let slug = slug_of(report, net);
        out = replace_text_element(
            &out,
            &format!("@@begin:{slug}@@"),
            &format!("<g id=\"series-{slug}\" class=\"series\" data-network=\"{}\">", escape(net)),
        )?;
        out = replace_text_element(&out, &format!("@@end:{slug}@@"), "</g>")?;
    }
    Ok(out)
}

/// One network's series: its predicted curve (a ring when it has one point) and its measured
/// dots, between two invisible marker texts at `marker_at`.
fn draw_network(
    chart: &mut Chart,
    report: &DemoReport,
    net: &str,
    color: RGBColor,
    marker_at: (f64, f64),
) -> Result<()> {
    let slug = slug_of(report, net);
    let marker = |edge: &str| Text::new(format!("@@{edge}:{slug}@@"), marker_at, ("sans-serif", 1));
    chart.draw_series(std::iter::once(marker("begin"))).map_err(chart_error)?;
    if let Some(curve) = report.curves.iter().find(|c| c.network == net) {
        let line: Vec<(f64, f64)> = curve.points.iter().map(|(c, v)| (*c as f64, *v)).collect();
        if let [single] = line[..] {
            // A one-point "line" (offline: only the local cut) is drawn as a ring.
            chart
                .draw_series(std::iter::once(Circle::new(single, 8, color.stroke_width(2))))
                .map_err(chart_error)?;
        }
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))
            .map_err(chart_error)?
            .label(net)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3)));
    }
    let dots: Vec<(f64, f64)> = report
        .cuts
        .iter()
        .filter(|c| c.network == net && c.measured_ms > 0.0)
        .map(|c| (c.cut as f64, c.measured_ms))
        .collect();
    chart.draw_series(dots.into_iter().map(|p| Circle::new(p, 4, color.filled()))).map_err(chart_error)?;
    chart.draw_series(std::iter::once(marker("end"))).map_err(chart_error)?;
    Ok(())
}

/// A network's slug: its curve's, else made from its label.
fn slug_of(report: &DemoReport, net: &str) -> String {
    report.curves.iter().find(|c| c.network == net).map_or_else(|| slugify(net), |c| c.slug.clone())
}

fn slugify(label: &str) -> String {
    label.to_ascii_lowercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

/// Replaces the whole `<text ...>marker</text>` element holding `marker` with `with`.
fn replace_text_element(svg: &str, marker: &str, with: &str) -> Result<String> {
    let at = svg.find(marker).with_context(|| format!("chart: marker {marker} not drawn"))?;
    let start = svg[..at].rfind("<text").with_context(|| format!("chart: no <text> around {marker}"))?;
    let end = at
        + svg[at..].find("</text>").with_context(|| format!("chart: unclosed <text> around {marker}"))?
        + "</text>".len();
    Ok(format!("{}{}{}", &svg[..start], with, &svg[end..]))
}

/// The whole page.
pub(super) fn render_html(report: &DemoReport) -> Result<String> {
    let svg = chart_svg(report)?;
    let mut h = head(report, &svg);
    scenarios_table(&mut h, report);
    decisions_table(&mut h, report);
    refusals_table(&mut h, report);
    cuts_table(&mut h, report);
    let _ = write!(
        h,
        "</table>\n<p class=\"small\">Made by <code>tandem demo{}</code> in {:.1} s.</p>\n</body></html>\n",
        if report.quick { " --quick" } else { "" },
        report.elapsed_s
    );
    Ok(h)
}

/// The page up to the chart: style, summary, the networks' links, the chart.
fn head(report: &DemoReport, svg: &str) -> String {
    let mut setup = String::from("<table id=\"networks\"><tr><th>network</th><th>emulated link</th></tr>\n");
    for net in NETWORKS.iter().chain([&super::scenario::FAST_WIFI]) {
        let _ =
            writeln!(setup, "<tr><td>{}</td><td>{}</td></tr>", escape(net.label), escape(&net.describe()));
    }
    setup.push_str("</table>\n<table id=\"device-classes\"><tr><th>device class</th><th>slowdown vs this machine's tract</th><th>from</th></tr>\n");
    for c in tandem_bench::device_class::DEVICE_CLASSES {
        let _ = writeln!(
            setup,
            "<tr><td>{}</td><td class=\"num\">{}x</td><td class=\"small\">{}</td></tr>",
            escape(c.name),
            c.slowdown,
            escape(c.source)
        );
    }
    setup.push_str("</table>\n<p class=\"small\">Each network's first request is a warm-up (it builds the parts its plan needs) and is not in the tables. Phone times, latencies and compute energy include the emulated slowdown; radio energy follows the session's energy model.</p>\n");
    let mut h = String::new();
    let right = report.decisions.iter().filter(|d| d.correct).count();
    let _ = write!(
        h,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tandem FaceID demo</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 14px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; }}
td.num {{ text-align: right; }}
tr.wrong td {{ background: #fdd; }}
.small {{ color: #666; font-size: 12px; }}
</style></head><body>
<h1>Tandem FaceID demo</h1>
<p id="summary">{right}/{} match decisions correct over {} networks; enrolled from {}; privacy floor: cut {} (no report below it).
Phone: {}; the edge is this machine, serving with {} ({}).{}</p>
<h2>Setup</h2>
{setup}
<h2>Latency per cut, per scenario</h2>
<figure id="latency-chart">{svg}</figure>
<p class="small">Lines: the planner's predicted end-to-end latency at every cut the policy allows. Dots: measured
(the cut the planner chose for each photo, and a few forced cuts). Offline only the last cut (all on the phone) can run.</p>
"#,
        report.decisions.len(),
        report.networks.len(),
        escape(&report.enrolled.join(", ")),
        report.privacy_floor_cut,
        escape(&match (report.phone_slowdown, &report.device_class) {
            (Some(x), _) => format!("{x}x slower than this machine's tract in every scenario"),
            (None, Some(c)) => format!("the {c} class in every scenario"),
            (None, None) => "each scenario's device class (a slowdown of this machine's tract)".into(),
        }),
        escape(&report.edge_engine.name),
        escape(&report.edge_engine.reason),
        if report.quick { " Quick run." } else { "" },
    );
    h
}

/// The scenario table: conditions, plans by kind, the chosen plan against the best measured.
fn scenarios_table(h: &mut String, report: &DemoReport) {
    h.push_str("<h2>Scenarios</h2>\n<table id=\"scenarios\"><tr><th>scenario</th><th>phone</th><th>network</th><th>battery / thermal</th><th>objective</th><th>local</th><th>split</th><th>edge</th><th>chosen (measured)</th><th>best other (measured)</th><th>chosen / best</th><th>why (planner)</th><th>expected</th></tr>\n");
    for r in &report.scenarios {
        let way = |m: &super::report::Measured| {
            format!(
                "{} {} cut {} {}: {:.0} ms, {:.0} mJ (modeled)",
                m.label, m.kind, m.cut, m.encoding, m.measured_ms, m.energy_mj
            )
        };
        let _ = writeln!(
            h,
            "<tr class=\"{}\" data-scenario=\"{}\"><td>{}</td><td>{} ({}x)</td><td>{}</td><td>{:.0}%{}, {}</td><td>{:?}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.2}</td><td class=\"small\">{}</td><td class=\"small\">{}</td></tr>",
            if r.within_limit { "ok" } else { "wrong" },
            escape(&r.slug),
            escape(&r.label),
            escape(&r.device_class),
            r.phone_slowdown,
            escape(&r.network),
            r.battery * 100.0,
            if r.low_power { " low power" } else { "" },
            escape(&r.thermal),
            r.objective,
            r.plans.local,
            r.plans.split,
            r.plans.edge,
            escape(&way(&r.chosen)),
            escape(&r.best_alternative.as_ref().map(way).unwrap_or_else(|| "-".into())),
            r.ratio_to_best,
            escape(&r.reason),
            escape(&r.expect),
        );
    }
    let _ = writeln!(
        h,
        "</table>\n<p class=\"small\">Plans by kind over each scenario's photos: <b>local</b> (all on the phone), <b>split</b> (offloaded after a cut deeper than the privacy floor), <b>edge</b> (offloaded at the privacy floor: the phone runs only what the floor keeps on it). Each scenario's chosen plan (its cut and encoding, forced) and the alternatives (all on the phone, and forced cuts) are measured in interleaved rounds after a warm-up, each scored on its fastest run (load from other programs only adds time); the demo fails if a chosen plan scores more than {}x the best (latency in ms; balanced: latency/L0 + w_energy energy/E0 + w_thermal phone/L0, with the measured local run as L0 and E0).</p>",
        report.limit_ratio
    );
}

fn decisions_table(h: &mut String, report: &DemoReport) {
    h.push_str("<h2>Decisions</h2>\n<table id=\"decisions\"><tr><th>scenario</th><th>network</th><th>photo</th><th>plan</th><th>predicted</th><th>measured</th><th>bytes up</th><th>phone energy (modeled)</th><th>distance</th><th>decision</th><th>correct</th><th>why</th></tr>\n");
    for d in &report.decisions {
        let plan = match (&d.after_node, d.offloaded, &d.fallback) {
            (Some(n), true, _) => format!("{}: cut {} (after {n}), {}", d.kind, d.cut, d.encoding),
            (_, _, Some(f)) => format!("local ({f})"),
            _ => "local".into(),
        };
        let _ = writeln!(
            h,
            "<tr class=\"{}\" data-network=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.0} ms</td><td class=\"num\">{:.0} ms</td><td class=\"num\">{}</td><td class=\"num\">{:.0} mJ</td><td class=\"num\">{:.3}</td><td>{}</td><td>{}</td><td class=\"small\">{}</td></tr>",
            if d.correct { "ok" } else { "wrong" },
            escape(&d.network),
            escape(&d.scenario),
            escape(&d.network),
            escape(&d.photo),
            escape(&plan),
            d.predicted_ms,
            d.measured_ms,
            kb(d.bytes_up),
            d.energy_mj,
            d.distance,
            if d.is_match { "match" } else { "no match" },
            if d.correct { "yes" } else { "NO" },
            escape(&d.reason),
        );
    }
}

fn refusals_table(h: &mut String, report: &DemoReport) {
    h.push_str("</table>\n<h2>Photos refused</h2>\n<table id=\"bad-inputs\"><tr><th>photo</th><th>message</th><th>as expected</th></tr>\n");
    for b in &report.bad_inputs {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&b.photo),
            escape(&b.message),
            if b.correct { "yes" } else { "NO" }
        );
    }
    let _ = writeln!(
        h,
        "<tr><td>(verify before enrolling)</td><td>{}</td><td>yes</td></tr>\n<tr><td>(force cut 0)</td><td>{}</td><td>yes</td></tr>\n</table>",
        escape(&report.not_enrolled_message),
        escape(&report.privacy_refusal)
    );
}

fn cuts_table(h: &mut String, report: &DemoReport) {
    h.push_str("<h2>Measured cuts</h2>\n<table id=\"cuts\"><tr><th>network</th><th>cut</th><th>forced</th><th>offloaded</th><th>predicted</th><th>measured</th><th>bytes up</th></tr>\n");
    for c in &report.cuts {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.0} ms</td><td class=\"num\">{:.0} ms</td><td class=\"num\">{}</td></tr>",
            escape(&c.network),
            c.cut,
            if c.forced { "yes" } else { "no (chosen)" },
            if c.offloaded { "yes" } else { "no" },
            c.predicted_ms,
            c.measured_ms,
            kb(c.bytes_up)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_elements_are_replaced_whole() {
        let svg = r#"<svg><text x="1" y="2">@@begin:3g@@</text><circle/><text x="1">@@end:3g@@</text></svg>"#;
        let s = replace_text_element(svg, "@@begin:3g@@", "<g id=\"series-3g\">").expect("found");
        let s = replace_text_element(&s, "@@end:3g@@", "</g>").expect("found");
        assert_eq!(s, r#"<svg><g id="series-3g"><circle/></g></svg>"#);
        assert!(replace_text_element(svg, "@@begin:lte@@", "").is_err());
    }

    #[test]
    fn labels_are_escaped_and_slugged() {
        assert_eq!(escape(r#"<a & "b">"#), "&lt;a &amp; &quot;b&quot;&gt;");
        assert_eq!(slugify("Wi-Fi"), "wifi");
    }
}
