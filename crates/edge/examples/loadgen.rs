//! Load benchmark (not a test): many concurrent clients against a `tandem edge` process on
//! loopback; prints throughput, latency percentiles, errors and the server's peak RSS.
//!
//! ```text
//! cargo build --release -p tandem-edge --example loadgen
//! target/release/examples/loadgen --model models/tiny_resnet.onnx --cut 0 --clients 64 --seconds 30
//! ```
//!
//! Options: `--model FILE` (required), `--cut N` (default 0: the whole model), `--clients N`
//! (64), `--seconds S` (30), `--encoding fp32|fp16|int8` (fp32), `--max-concurrent N` (server
//! default), `--server-bin PATH` to run `PATH edge ...` as the server (default: this program
//! re-run as a server: the same `EdgeServerBuilder::serve_until_signal` that `tandem edge`
//! runs), or `--url URL --pid PID` to drive a server that is already running.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_model::encoding::{self, Encoding};
use tandem_model::{check, npy, Executor, LoadOptions, Model};
use tandem_protocol::wire::{self, RequestOptions, HEADER_CONTENT_LENGTH};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    model: String,
    cut: usize,
    clients: usize,
    seconds: f64,
    encoding: Encoding,
    server_bin: Option<String>,
    max_concurrent: Option<usize>,
    url: Option<String>,
    pid: Option<u32>,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut args = Args {
        model: String::new(),
        cut: 0,
        clients: 64,
        seconds: 30.0,
        encoding: Encoding::Fp32,
        server_bin: None,
        max_concurrent: None,
        url: None,
        pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => args.model = value()?,
            "--cut" => args.cut = value()?.parse()?,
            "--clients" => args.clients = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--encoding" => {
                let v = value()?;
                args.encoding = Encoding::from_wire_name(&v).ok_or(format!("unknown encoding {v}"))?;
            }
            "--server-bin" => args.server_bin = Some(value()?),
            "--max-concurrent" => args.max_concurrent = Some(value()?.parse()?),
            "--url" => args.url = Some(value()?),
            "--pid" => args.pid = Some(value()?.parse()?),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    if args.model.is_empty() {
        return Err("--model FILE is required".into());
    }
    Ok(args)
}

/// A memory figure of a process from /proc/PID/status, in MiB: `VmHWM` (peak resident set)
/// or `VmRSS` (resident now).
fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn start_server(args: &Args) -> Result<(Child, String), BoxError> {
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let (bin, mut cmd) = match &args.server_bin {
        Some(b) => {
            let mut cmd = Command::new(b);
            cmd.args(["edge", "--model", &args.model, "--listen", &listen, "--profile-budget-s", "0"]);
            (std::path::PathBuf::from(b), cmd)
        }
        None => {
            let me = std::env::current_exe()?;
            let mut cmd = Command::new(&me);
            cmd.args(["--serve", &args.model, "--listen", &listen]);
            (me, cmd)
        }
    };
    if let Some(n) = args.max_concurrent {
        cmd.args(["--max-concurrent", &n.to_string()]);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    Ok((child, format!("http://{listen}")))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Server mode (`--serve MODEL --listen ADDR [--max-concurrent N]`): what `tandem edge`
/// runs, with the profiler off.
fn serve(mut args: impl Iterator<Item = String>) -> Result<(), BoxError> {
    let model = args.next().ok_or("--serve needs a model file")?;
    let mut builder = tandem_edge::EdgeServer::builder().model_file(model).profile_budget(Duration::ZERO);
    let mut listen = "127.0.0.1:8000".to_string();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = value,
            "--max-concurrent" => builder = builder.max_concurrent(value.parse()?),
            other => return Err(format!("unknown server option {other}").into()),
        }
    }
    builder.serve_until_signal(&listen, |_| {})?;
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let mut argv = std::env::args().skip(1).peekable();
    if argv.peek().map(String::as_str) == Some("--serve") {
        argv.next();
        return serve(argv);
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(drive())
}

async fn drive() -> Result<(), BoxError> {
    let args = parse_args()?;
    let model = Arc::new(Model::load(&args.model, &LoadOptions::default())?);
    let name = std::path::Path::new(&args.model)
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or("model file name")?
        .to_string();
    let exec = Executor::new(model.clone());
    // The model's real test input when the repository has one.
    let testdata =
        std::path::Path::new(&args.model).with_file_name("testdata").join(format!("{name}_input.npy"));
    let input = match npy::read_npy(&testdata, &model.inputs()[0].name) {
        Ok(t) if model.inputs().len() == 1 => vec![t],
        _ => check::seeded_inputs(model.inputs()),
    };
    let crossing = exec.run_before(args.cut, &input)?;
    let encoded =
        crossing.iter().map(|t| encoding::encode(t, args.encoding)).collect::<Result<Vec<_>, _>>()?;
    let options =
        RequestOptions { model_hash: Some(model.hash().into()), binary_outputs: true, ..Default::default() };
    let body = wire::encode_infer_request(&encoded, &options);
    let header_len = body.header_len.ok_or("binary request")?;
    let payload = bytes::Bytes::from(body.body);

    let (mut child, url, pid) = match (&args.url, args.pid) {
        (Some(url), pid) => (None, url.clone(), pid),
        (None, _) => {
            let (child, url) = start_server(&args)?;
            let pid = child.id();
            (Some(child), url, Some(pid))
        }
    };
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.clients).build()?;
    let ready_deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ok = client.get(format!("{url}/v2/health/ready")).send().await.map(|r| r.status().is_success());
        if matches!(ok, Ok(true)) {
            break;
        }
        if Instant::now() > ready_deadline {
            return Err("the server did not become ready".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let infer_url = format!("{url}/v2/models/{name}/infer");
    let send = {
        let client = client.clone();
        let infer_url = infer_url.clone();
        let payload = payload.clone();
        move || {
            client
                .post(&infer_url)
                .header("content-type", "application/octet-stream")
                .header(HEADER_CONTENT_LENGTH, header_len)
                .body(payload.clone())
                .send()
        }
    };
    // Warm-up: builds the part, opens connections.
    let warm = send().await?;
    if !warm.status().is_success() {
        return Err(format!("warm-up request failed: {} {}", warm.status(), warm.text().await?).into());
    }
    // The peak so far is the model load and the part build, before any load.
    let rss_warm = pid.and_then(|p| status_mib(p, "VmHWM:"));

    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.seconds);
    let tasks: Vec<_> = (0..args.clients)
        .map(|_| {
            let send = send.clone();
            tokio::spawn(async move {
                let mut latencies = vec![];
                let mut errors: BTreeMap<String, u64> = BTreeMap::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match send().await {
                        Ok(r) if r.status().is_success() => match r.bytes().await {
                            Ok(_) => latencies.push(t.elapsed().as_secs_f64() * 1e3),
                            Err(e) => *errors.entry(format!("body: {e}")).or_default() += 1,
                        },
                        Ok(r) => *errors.entry(r.status().to_string()).or_default() += 1,
                        Err(e) => *errors.entry(format!("transport: {e}")).or_default() += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = vec![];
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        for (k, n) in e {
            *errors.entry(k).or_default() += n;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let rss = pid.and_then(|p| status_mib(p, "VmHWM:"));
    let rss_now = pid.and_then(|p| status_mib(p, "VmRSS:"));
    latencies.sort_by(f64::total_cmp);
    let total_errors: u64 = errors.values().sum();
    let cut = model.cut(args.cut)?;
    println!(
        "model {name} cut {} ({} tensors, {} bytes as {}), {} clients, {:.1} s",
        args.cut,
        cut.tensors.len(),
        payload.len() - header_len,
        args.encoding,
        args.clients,
        elapsed
    );
    println!("requests   {} ok, {} errors {:?}", latencies.len(), total_errors, errors);
    println!("throughput {:.1} req/s", latencies.len() as f64 / elapsed);
    println!(
        "latency    p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    match rss {
        Some(mib) => println!(
            "server     peak RSS {mib:.1} MiB over the run (VmHWM; {:.1} MiB after startup and warm-up), {:.1} MiB at the end",
            rss_warm.unwrap_or(f64::NAN),
            rss_now.unwrap_or(f64::NAN)
        ),
        None => println!("server     peak RSS unknown (give --pid with --url)"),
    }
    println!(
        "| {name} | {} | {} | {:.0} | {:.1} | {:.2} | {:.2} | {total_errors} | {} |",
        args.cut,
        args.clients,
        elapsed,
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        rss.map(|m| format!("{m:.0}")).unwrap_or_else(|| "?".into()),
    );
    if let Some(child) = child.as_mut() {
        // SIGTERM: the server shuts down gracefully.
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let status = child.wait()?;
        if !status.success() {
            eprintln!("server exited with {status}");
        }
    }
    Ok(())
}
