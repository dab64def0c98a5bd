//! `results.md`: the results as Markdown tables.

use std::fmt::Write;

use crate::results::{
    Results, Setup, StrategyResult, Summary, TraceResult, NEUROSURGEON_ENERGY_REDUCTION,
    NEUROSURGEON_SPEEDUP, REGRET_ESTIMATED_TARGET_MEDIAN, REGRET_ESTIMATED_TARGET_WORST,
    REGRET_TARGET_MEDIAN, REGRET_TARGET_WORST,
};
use crate::trace::TraceStats;

fn ms(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
        None => "-".into(),
    }
}

fn latency(s: &StrategyResult) -> String {
    match (s.latency_ms, s.latency_lower_bound_ms) {
        (Some(l), _) if s.runs == 1 => format!("{} (1 run)", ms(Some(l))),
        (Some(l), _) => ms(Some(l)),
        (None, Some(lb)) => format!("> {}", ms(Some(lb))),
        _ => "-".into(),
    }
}

fn ratio(v: Option<f64>, lower_bound: bool) -> String {
    match v {
        Some(x) if lower_bound => format!("≥ {x:.2}x"),
        Some(x) => format!("{x:.2}x"),
        None => "-".into(),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{:.1}%", x * 100.0))
}

fn trace_row(out: &mut String, name: &str, t: &TraceStats) {
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        t.requests,
        ms(Some(t.mean_latency_ms)),
        ms(Some(t.p50_latency_ms)),
        ms(Some(t.p95_latency_ms)),
        pct(Some(t.deadline_miss_rate)),
        pct(Some(t.offloaded_rate)),
        t.fallbacks,
        pct(Some(t.oracle_cut_agreement)),
        t.uplink_error_log2_median.map_or("-".into(), |e| format!("{:.2}x", 2f64.powf(e))),
    );
}

/// Renders `results` as Markdown.
pub fn render(r: &Results) -> String {
    let mut out = String::new();
    setup(&mut out, &r.setup);
    summary(&mut out, &r.summary);
    latency_table(&mut out, r);
    energy_table(&mut out, r);
    prediction_table(&mut out, r);
    if let Some(c) = &r.subset_coverage {
        coverage_section(&mut out, c);
    }
    if let Some(t) = &r.trace {
        trace_section(&mut out, t);
    }
    if let Some(t) = &r.three_tiers {
        crate::three_tiers::render(&mut out, t);
    }
    if let Some(sw) = &r.speed_sweep {
        crate::speed_sweep::render(&mut out, sw);
    }
    if !r.skipped_models.is_empty() {
        let _ = writeln!(out, "\n## Skipped models\n");
        for sk in &r.skipped_models {
            let _ = writeln!(out, "- {}: {}", sk.model, sk.reason);
        }
    }
    out
}

/// The title and how the run was set up.
fn setup(out: &mut String, s: &Setup) {
    let _ = writeln!(out, "# Tandem benchmark: the papers' evaluation, measured\n");
    let _ = writeln!(
        out,
        "Phone {}x slower than the edge ({}: {}); links by {}; latencies are medians of {} run(s) per cut, except where a \
         cell says `(1 run)` (a cut whose link time alone exceeds the normal cap runs once; a capped run ends its cut); \
         cuts: {}; {} CPUs, load average {:.1} at the start and {:.1} at the end; {:.0} s. Latencies are measured; \
         energies are modeled (the phone's energy model applied to the measured times), never measured.\n",
        s.slowdown,
        s.throttle,
        s.throttle_detail,
        s.shaper,
        s.runs,
        s.cuts,
        s.cpus,
        s.load_average[0],
        s.load_average[1],
        s.duration_s
    );
    let _ = writeln!(out, "Command: `{}`\n", s.command);
    let _ = writeln!(out, "Networks (uplink / downlink Mbps, RTT ms):");
    for n in &s.networks {
        let _ = writeln!(
            out,
            "- {}: {} / {} Mbps, {} ms ({} radio)",
            n.name, n.uplink_mbps, n.downlink_mbps, n.rtt_ms, n.kind
        );
    }
    let _ = writeln!(out, "\nRegret: {}.\n\nCap: {}.\n", s.regret_definition, s.cap_rule);
    if s.cuts == "subset" {
        let _ = writeln!(out, "Oracle subset: {}.\n", s.subset_rule);
    }
}

/// The headline numbers against the targets and the papers', then per network.
fn summary(out: &mut String, m: &Summary) {
    let _ = writeln!(out, "## Summary\n");
    let _ = writeln!(out, "| what | this run | target / paper |\n|---|---|---|");
    let _ = writeln!(
        out,
        "| planner regret, median (n = {}) | {} | ≤ {REGRET_TARGET_MEDIAN} |",
        m.regret_count,
        m.regret_median.map_or("-".into(), |x| format!("{x:.3}"))
    );
    let _ = writeln!(
        out,
        "| planner regret, worst | {} | ≤ {REGRET_TARGET_WORST} |",
        m.regret_max.map_or("-".into(), |x| format!("{x:.3}"))
    );
    let _ = writeln!(
        out,
        "| planner regret with the online estimator's link (probes, offloads, OS hint), median (n = {}) | {} | ≤ {REGRET_ESTIMATED_TARGET_MEDIAN} |",
        m.regret_estimated_count,
        m.regret_estimated_median.map_or("-".into(), |x| format!("{x:.3}"))
    );
    let _ = writeln!(
        out,
        "| planner regret with the online estimator's link, worst | {} | ≤ {REGRET_ESTIMATED_TARGET_WORST} |",
        m.regret_estimated_max.map_or("-".into(), |x| format!("{x:.3}"))
    );
    let _ = writeln!(
        out,
        "| sweep-only regret, median / worst (biased up by noise) | {} / {} | |",
        m.regret_sweep_median.map_or("-".into(), |x| format!("{x:.3}")),
        m.regret_sweep_max.map_or("-".into(), |x| format!("{x:.3}"))
    );
    let _ = writeln!(
        out,
        "| latency-optimal speedup over edge-only (geomean) | {} | {NEUROSURGEON_SPEEDUP}x (Neurosurgeon, over cloud-only) |",
        ratio(m.speedup_vs_edge_only_geomean, m.speedup_vs_edge_only_includes_lower_bounds)
    );
    let _ = writeln!(
        out,
        "| latency-optimal speedup over local-only (geomean) | {} | |",
        ratio(m.speedup_vs_local_only_geomean, false)
    );
    let _ = writeln!(
        out,
        "| energy-optimal phone energy reduction over edge-only (mean), **modeled** from measured times | {} (modeled) | {:.1}% (Neurosurgeon, measured with a power meter) |\n",
        pct(m.energy_reduction_vs_edge_only_mean),
        NEUROSURGEON_ENERGY_REDUCTION * 100.0
    );

    let _ = writeln!(
        out,
        "Over 3G, LTE and Wi-Fi only (Neurosurgeon's networks): speedup over edge-only {}, modeled energy reduction {}.\n",
        ratio(m.speedup_vs_edge_only_geomean_3g_lte_wifi, false),
        pct(m.energy_reduction_vs_edge_only_mean_3g_lte_wifi)
    );
    let _ = writeln!(out, "| network | regret median | regret worst | speedup vs edge-only | vs local-only | modeled energy reduction vs edge-only |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for n in &m.by_network {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            n.network,
            n.regret_median.map_or("-".into(), |x| format!("{x:.3}")),
            n.regret_max.map_or("-".into(), |x| format!("{x:.3}")),
            ratio(n.speedup_vs_edge_only_geomean, n.speedup_vs_edge_only_includes_lower_bounds),
            ratio(n.speedup_vs_local_only_geomean, false),
            pct(n.energy_reduction_vs_edge_only_mean)
        );
    }
    let _ = writeln!(out);
}

/// Latency per strategy, per model and network.
fn latency_table(out: &mut String, r: &Results) {
    let _ = writeln!(out, "## Latency per strategy, ms (chosen cut in parentheses)\n");
    let _ = writeln!(
        out,
        "| model | network | local-only | edge-only | latency-opt | energy-opt | balanced | oracle | regret | vs edge-only | vs local-only | regret, estimated link (its cut) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for model in &r.models {
        for n in &model.networks {
            let st = &n.strategies;
            let with_cut = |x: &StrategyResult| format!("{} ({})", latency(x), x.cut);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                model.model,
                n.network,
                latency(&st.local_only),
                latency(&st.edge_only),
                with_cut(&st.latency_optimal),
                with_cut(&st.energy_optimal),
                with_cut(&st.balanced),
                with_cut(&st.oracle),
                match (n.regret, n.regret_is_lower_bound, &n.confirmation) {
                    (Some(x), false, Some(_)) => {
                        format!("{x:.3} (sweep {:.3})", n.regret_sweep.unwrap_or(f64::NAN))
                    }
                    (Some(x), false, None) => format!("{x:.3}"),
                    (Some(x), true, _) => format!("≥ {x:.3}"),
                    _ => "-".into(),
                },
                ratio(n.speedup_vs_edge_only, n.speedup_vs_edge_only_is_lower_bound),
                ratio(n.speedup_vs_local_only, false),
                match (n.regret_estimated, &n.estimated) {
                    (Some(x), Some(e)) => format!(
                        "{}{x:.3} ({})",
                        if n.regret_estimated_is_lower_bound { "≥ " } else { "" },
                        e.plan.cut
                    ),
                    _ => "-".into(),
                },
            );
        }
    }
    estimator_table(out, r);
}

/// What the online estimator believed on each network when it planned.
fn estimator_table(out: &mut String, r: &Results) {
    if !r.models.iter().flat_map(|m| &m.networks).any(|n| n.estimated.is_some()) {
        return;
    }
    let _ = writeln!(out, "\n## The online estimator's link when it planned\n");
    let _ = writeln!(
        out,
        "| model | network | true uplink / RTT | estimated uplink / RTT | samples | requests (offloaded) | its cut | planner's cut (true link) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for model in &r.models {
        for n in &model.networks {
            let Some(e) = &n.estimated else { continue };
            let truth = r.setup.networks.iter().find(|x| x.name == n.network);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2} Mbps / {:.0} ms | {} | {} ({}) | {} | {} |",
                model.model,
                n.network,
                truth.map_or("-".into(), |t| format!("{} Mbps / {} ms", t.uplink_mbps, t.rtt_ms)),
                e.link.uplink_mbps,
                e.link.rtt_ms,
                e.link.samples,
                e.requests,
                e.offloads,
                e.plan.cut,
                n.strategies.latency_optimal.cut
            );
        }
    }
}

/// Modeled phone energy per strategy, per model and network.
fn energy_table(out: &mut String, r: &Results) {
    let _ = writeln!(out, "\n## Modeled phone energy per strategy, mJ\n");
    let _ = writeln!(out, "| model | network | local-only | edge-only | latency-opt | energy-opt | balanced | energy oracle | modeled reduction vs edge-only | vs local-only |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for model in &r.models {
        for n in &model.networks {
            let st = &n.strategies;
            let e = |x: &StrategyResult| ms(x.energy_mj);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} ({}) | {} | {} |",
                model.model,
                n.network,
                e(&st.local_only),
                e(&st.edge_only),
                e(&st.latency_optimal),
                e(&st.energy_optimal),
                e(&st.balanced),
                e(&st.energy_oracle),
                st.energy_oracle.cut,
                pct(n.energy_reduction_vs_edge_only),
                pct(n.energy_reduction_vs_local_only),
            );
        }
    }
}

/// The planner's predicted latency against the measured one, at its cut and the oracle's.
fn prediction_table(out: &mut String, r: &Results) {
    let _ = writeln!(out, "\n## Prediction vs measurement at the chosen cut (latency objective)\n");
    let _ = writeln!(out, "| model | network | cut | predicted ms | measured ms | oracle cut | oracle predicted ms | oracle measured ms |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for model in &r.models {
        for n in &model.networks {
            let c = &n.strategies.latency_optimal;
            let o = &n.strategies.oracle;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                model.model,
                n.network,
                c.cut,
                ms(c.predicted_latency_ms),
                latency(c),
                o.cut,
                ms(o.predicted_latency_ms),
                latency(o)
            );
        }
    }
}

/// The subset rule checked against the full run.
fn coverage_section(out: &mut String, c: &crate::subset::SubsetCoverage) {
    let _ = writeln!(out, "\n## The oracle subset rule checked against every cut\n");
    let _ = writeln!(
        out,
        "Every cut was measured (`--cuts all`). Had only the subset been measured, its fastest cut would have been the \
         fastest of all in {} of {} cells ({}); worst ratio of its latency to the fastest: {}.\n",
        c.same_best,
        c.cells,
        pct(c.same_best_share),
        c.worst_ratio.map_or("-".into(), |x| format!("{x:.3}"))
    );
    let _ =
        writeln!(out, "| model | network | subset cuts / all | subset's fastest | fastest of all | ratio |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for x in &c.per_cell {
        let _ = writeln!(
            out,
            "| {} | {} | {} / {} | {} | {} | {:.3} |",
            x.model, x.network, x.subset_cuts, x.cuts, x.subset_best_cut, x.full_best_cut, x.ratio
        );
    }
}

/// The trace-driven run: the online session against the oracle.
fn trace_section(out: &mut String, t: &TraceResult) {
    let _ = writeln!(out, "\n## Trace-driven run: {}\n", t.model);
    let _ = writeln!(
        out,
        "{:.0} s per run, bandwidth level changing every {:.1} s (seeded Markov chain over {}), a request every {:.0} \
         ms, deadline {:.0} ms; the phone reports `{}` throughout. Oracle cuts per level (the sweep's fastest measured cut): {:?}.\n",
        t.duration_ms / 1e3,
        t.segment_ms / 1e3,
        t.levels.join(", "),
        t.period_ms,
        t.deadline_ms,
        t.reported_network,
        t.oracle_cut_per_level
    );
    let _ = writeln!(
        out,
        "| run | requests | mean ms | p50 ms | p95 ms | deadline misses | offloaded | fallbacks | oracle's cut | uplink estimate error (median factor) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    trace_row(out, "online (estimator + re-planning)", &t.online);
    trace_row(out, "oracle (knows the trace)", &t.oracle);
    let _ = writeln!(out, "\nOnline mean latency / oracle: {}.", ratio(t.mean_latency_ratio, false));
    let total: usize = t.visits.iter().sum();
    let visits: Vec<String> = t
        .levels
        .iter()
        .zip(&t.visits)
        .map(|(l, n)| format!("{l} {n} ({})", pct((total > 0).then(|| *n as f64 / total as f64))))
        .collect();
    let _ = writeln!(
        out,
        "\nSegments per network: {} of {total}. The oracle (forced cuts, never given up on; the deadline only \
         scored) offloaded successfully in {} segment(s); the online session offloaded successfully in {} of those.",
        visits.join(", "),
        t.oracle_offload_segments,
        t.online_offloaded_in_oracle_offload_segments
    );
    trace_segments(out, t);
}

/// The trace run per segment: where the oracle offloaded, and whether the online session did.
fn trace_segments(out: &mut String, t: &TraceResult) {
    let s = &t.offload_segments;
    if s.segments.is_empty() {
        return;
    }
    let explorations: usize = s.segments.iter().map(|x| x.online_explorations).sum();
    let _ = writeln!(
        out,
        "\nPer segment ({}; {explorations} exploratory online request(s) in all):\n",
        s.summary
    );
    let _ = writeln!(
        out,
        "| segment | from s | network | oracle offloaded | online offloaded | online requests | online offloads | online explorations |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let yes = |b: bool| if b { "yes" } else { "no" };
    for x in &s.segments {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {} | {} | {} | {} | {} | {} |",
            x.segment,
            x.start_ms / 1e3,
            t.levels.get(x.level).map_or("?", |l| l.as_str()),
            yes(x.oracle_offloaded),
            yes(x.online_offloaded),
            x.online_requests,
            x.online_offloads,
            x.online_explorations
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{ModelResult, NetworkResult};

    #[test]
    fn tables_show_lower_bounds_and_every_model_network_pair() {
        let mut n = NetworkResult { network: "3g".into(), regret: Some(1.0), ..Default::default() };
        n.strategies.edge_only.latency_lower_bound_ms = Some(4500.0);
        n.strategies.local_only.latency_ms = Some(120.4);
        let r = Results {
            models: vec![ModelResult { model: "m".into(), networks: vec![n], ..Default::default() }],
            ..Default::default()
        };
        let md = render(&r);
        assert!(md.contains("| m | 3g | 120 | > 4500 |"), "{md}");
        assert!(md.contains("| 1.000 |"));
    }
}
