#!/usr/bin/env bash
# Measures three tiers against two (issue 19) on this machine: a cloud (`tandem edge`, the
# whole CPU), a weak edge in front of it (`tandem edge --cloud`, a cgroup v1 CPU quota), the
# same weak edge without a cloud (two tiers), and a weak phone (`tandem infer`, a smaller
# quota), all on loopback. For each plan it runs `tandem infer --json` RUNS times and prints
# the median `total_ms`, with the plan and where the work ran. Needs root (cgroup v1 `cpu`
# controller at /sys/fs/cgroup/cpu).
#
#   bash scripts/three-tiers.sh [MODEL] [RUNS]        # default models/mobilenetv2.onnx, 5
#
# Env: TANDEM_BIN (default target/debug/tandem), EDGE_QUOTA / PHONE_QUOTA (CPU share in
# percent, default 25 / 10), PORT (default 18600: the cloud on PORT+1, the edge on PORT+2,
# the edge without a cloud on PORT+3).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
model="${1:-models/mobilenetv2.onnx}"
runs="${2:-5}"
bin="${TANDEM_BIN:-target/debug/tandem}"
edge_quota="${EDGE_QUOTA:-25}"
phone_quota="${PHONE_QUOTA:-10}"
port="${PORT:-18600}"
cloud_url="http://127.0.0.1:$((port + 1))"
edge_url="http://127.0.0.1:$((port + 2))"
plain_url="http://127.0.0.1:$((port + 3))"
cg=/sys/fs/cgroup/cpu
[ -x "$bin" ] || cargo build --workspace

limit() { # NAME PERCENT: a cgroup with that share of one CPU
    mkdir -p "$cg/$1"
    echo 100000 >"$cg/$1/cpu.cfs_period_us"
    echo $(($2 * 1000)) >"$cg/$1/cpu.cfs_quota_us"
}
limit tandem-3t-edge "$edge_quota"
limit tandem-3t-plain "$edge_quota"
limit tandem-3t-phone "$phone_quota"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT
"$bin" edge --model "$model" --listen "127.0.0.1:$((port + 1))" --profile-budget-s 120 &
pids+=($!)
sh -c "echo \$\$ >$cg/tandem-3t-edge/tasks; exec $bin edge --model $model --listen 127.0.0.1:$((port + 2)) \
    --cloud $cloud_url --cloud-refresh-s 5 --profile-budget-s 120" &
pids+=($!)
sh -c "echo \$\$ >$cg/tandem-3t-plain/tasks; exec $bin edge --model $model --listen 127.0.0.1:$((port + 3)) \
    --profile-budget-s 120" &
pids+=($!)

name="$(basename "$model" .onnx)"
echo "waiting for both profiles and the advertised cloud (up to 10 min)..."
for _ in $(seq 600); do
    if curl -sf "$edge_url/v2/models/$name/profile" | python3 -c '
import json, sys
p = json.load(sys.stdin)
c = p.get("cloud") or {}
ok = p["status"] != "running" and c.get("profile", {}).get("status") not in (None, "running")
sys.exit(0 if ok else 1)' 2>/dev/null; then
        break
    fi
    sleep 1
done

infer() { # EDGE_URL extra flags...: prints "total_ms offloaded cut cloud_cut cloud_fallback"
    local url="$1"
    shift
    sh -c "echo \$\$ >$cg/tandem-3t-phone/tasks; exec $bin infer $model --edge $url --network wifi --json $*" |
        python3 -c '
import json, sys
r = json.load(sys.stdin)
print(r["total_ms"], r["offloaded"], r["plan"]["cut"], r["plan"]["cloud_cut"], r.get("cloud_fallback_reason"))'
}

measure() { # LABEL EDGE_URL flags...
    local label="$1"
    shift
    infer "$@" >/dev/null # warm the edge's and the cloud's part caches
    local lines
    lines="$(for _ in $(seq "$runs"); do infer "$@"; done)"
    echo "$lines" | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin if l.strip()]
ms = [float(r[0]) for r in rows]
last = rows[-1]
print(f"| {sys.argv[1]} | cut {last[2]}, cloud cut {last[3]} | offloaded {last[1]} | {statistics.median(ms):.1f} | {len(ms)} |")' "$label"
}

echo "| plan | cuts | where | median total_ms | runs |"
echo "|---|---|---|---|---|"
last="$("$bin" cuts "$model" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)) - 1)')"
measure "local only (phone)" "$plain_url" --cut "$last"
measure "two tiers: edge only" "$plain_url" --cut 0
measure "two tiers: planner's choice" "$plain_url"
for k in 1 $((last / 4)) $((last / 2)); do
    measure "three tiers: edge runs cuts 0..$k, cloud the rest" "$edge_url" --cut 0 --cloud-cut "$k"
done
measure "three tiers allowed: planner's choice" "$edge_url"
