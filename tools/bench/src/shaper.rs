//! `--shaper kernel`: the rates are enforced by the kernel instead of the link emulator.
//!
//! The edge runs in a network namespace of its own, joined to the host by a veth pair; a
//! token bucket (`tc qdisc ... tbf`) on each end limits the rate: the host end's egress is
//! the uplink (phone to edge), the namespace end's egress the downlink. `tbf` splits
//! segmentation-offloaded packets, so no offload settings are needed. This kernel has no
//! `netem`, so the round trip is still added by the link emulator, which then forwards
//! unshaped to the namespace. Needs root; everything is removed on drop (deleting the
//! namespace deletes the veth pair).

use std::process::Command;

use crate::error::BenchError;

/// A network namespace for the edge behind a rate-limited veth pair.
#[derive(Debug)]
pub struct KernelShaper {
    netns: String,
    host_if: String,
    ns_if: String,
    ns_ip: String,
}

fn run(args: &[&str]) -> Result<(), BenchError> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| BenchError::Shaper(format!("running `{}`: {e}", args.join(" "))))?;
    if !out.status.success() {
        return Err(BenchError::Shaper(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// `tbf` arguments for `mbps`: the rate in kbit/s, a bucket of 5 ms at that rate (at least
/// two full frames) and room for 2 s of queue.
pub fn tbf_args(mbps: f64) -> Vec<String> {
    let kbit = (mbps * 1000.0).round().max(8.0) as u64;
    let burst_bytes = ((kbit as f64 * 1000.0 / 8.0) * 0.005).max(3028.0).round() as u64;
    vec![
        "tbf".into(),
        "rate".into(),
        format!("{kbit}kbit"),
        "burst".into(),
        burst_bytes.to_string(),
        "latency".into(),
        "2000ms".into(),
    ]
}

impl KernelShaper {
    /// Creates the namespace and the veth pair, named after `tag` (the benchmark's pid).
    pub fn create(tag: u32) -> Result<KernelShaper, BenchError> {
        let netns = format!("tandem-bench-{tag}");
        let host_if = format!("tbh{}", tag % 1_000_000);
        let ns_if = format!("tbe{}", tag % 1_000_000);
        let subnet = tag % 250 + 1;
        let host_ip = format!("10.231.{subnet}.1");
        let ns_ip = format!("10.231.{subnet}.2");
        run(&["ip", "netns", "add", &netns])?;
        let shaper = KernelShaper { netns, host_if, ns_if, ns_ip };
        let ns = shaper.netns.as_str();
        run(&["ip", "link", "add", &shaper.host_if, "type", "veth", "peer", "name", &shaper.ns_if])?;
        run(&["ip", "link", "set", &shaper.ns_if, "netns", ns])?;
        run(&["ip", "addr", "add", &format!("{host_ip}/30"), "dev", &shaper.host_if])?;
        run(&["ip", "link", "set", &shaper.host_if, "up"])?;
        run(&[
            "ip",
            "netns",
            "exec",
            ns,
            "ip",
            "addr",
            "add",
            &format!("{}/30", shaper.ns_ip),
            "dev",
            &shaper.ns_if,
        ])?;
        run(&["ip", "netns", "exec", ns, "ip", "link", "set", &shaper.ns_if, "up"])?;
        run(&["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"])?;
        Ok(shaper)
    }

    /// The namespace's name (to start the edge in it).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Where the edge listens inside the namespace (port 0: any).
    pub fn edge_listen(&self) -> String {
        format!("{}:0", self.ns_ip)
    }

    /// Sets the rates, Mbps.
    pub fn set_rates(&self, uplink_mbps: f64, downlink_mbps: f64) -> Result<(), BenchError> {
        let up = tbf_args(uplink_mbps);
        let mut args = vec!["tc", "qdisc", "replace", "dev", self.host_if.as_str(), "root"];
        args.extend(up.iter().map(String::as_str));
        run(&args)?;
        let down = tbf_args(downlink_mbps);
        let mut args = vec![
            "ip",
            "netns",
            "exec",
            self.netns.as_str(),
            "tc",
            "qdisc",
            "replace",
            "dev",
            self.ns_if.as_str(),
            "root",
        ];
        args.extend(down.iter().map(String::as_str));
        run(&args)
    }
}

impl Drop for KernelShaper {
    fn drop(&mut self) {
        if let Err(e) = run(&["ip", "netns", "del", &self.netns]) {
            log::warn!("removing the kernel shaper: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_buckets_hold_two_frames_at_least() {
        assert_eq!(tbf_args(0.13)[2], "130kbit");
        assert_eq!(tbf_args(0.13)[4], "3028");
        // 18.88 Mbps: 5 ms is 11800 bytes
        assert_eq!(tbf_args(18.88)[4], "11800");
    }
}
