#!/usr/bin/env bash
# Measure that `cleanup` and `abort` stay under `--api-rate`, on the simulator.
#
# 1. A fleet is upgraded at high simulated speed (world A: approved, so cleanup has deployment
#    objects and old instances to delete; world B: stopped at the approval gate, for abort).
# 2. The world's clock is re-anchored to a slow speed (20 simulated s per wall s), so the
#    wall time rdsfleet spends working does not stretch simulated time, and moved past the
#    72 h retention.
# 3. cleanup / abort run with --api-rate RATE; the simulator's trail (every call it received,
#    with its simulated time) gives the calls per region: average rate, most calls in any 1 s
#    and in any 10 s window.
#
# Usage: scripts/lifecycle_api_rate.sh [RATE] [DATABASES]   (default 2 and 60)
set -euo pipefail
rate="${1:-2}"; n="${2:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${RDSFLEET_BIN:-$root/target/debug/rdsfleet}"
[ -x "$bin" ] || (cd "$root" && cargo build --quiet)
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"

reanchor() { # world speed hours-ahead
  python3 - "$1" "$2" "$3" <<'PY'
import sqlite3, sys, time
path, speed, ahead = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
c = sqlite3.connect(path)
m = dict(c.execute("SELECT key, value FROM meta"))
wall = int(time.time() * 1000)
sim = int(m["sim_epoch"]) + int((wall - int(m["wall_epoch"])) * float(m["speed"]))
sim += int(ahead * 3_600_000)
for k, v in (("sim_epoch", sim), ("wall_epoch", wall), ("speed", speed)):
    c.execute("UPDATE meta SET value = ? WHERE key = ?", (str(v), k))
c.commit()
PY
}

measure() { # world first-trail-index label
  RDSFLEET_SIM_WORLD="$1" "$bin" sim trail --all --json > trail.json
  python3 - "$2" "$3" "$rate" <<'PY'
import json, sys
from collections import Counter
n0, label, rate = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
t = json.load(open("trail.json"))[n0:]
print(f"{label} --api-rate {rate}: {len(t)} calls {dict(Counter(x['action'] for x in t))}")
regions = {}
for x in t:
    regions.setdefault(x["region"], []).append(x["at"])
for r, ats in sorted(regions.items()):
    ats.sort()
    span = (ats[-1] - ats[0]) / 1000
    peak = lambda w: max(sum(1 for b in ats if a <= b < a + w) for a in ats)
    avg = (len(ats) - 1) / span if span else 0.0
    print(f"  {r}: {len(ats)} calls over {span:.0f} s: average {avg:.2f}/s, at most {peak(1000)} in any 1 s, {peak(10000)} in any 10 s")
PY
}

trail_len() { RDSFLEET_SIM_WORLD="$1" "$bin" sim trail --all --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

for w in a b; do
  export RDSFLEET_SIM_WORLD="$work/$w.sqlite"
  "$bin" sim init --databases "$n" --seed 4 --speed 20000 --clean --instance-quota 1000 >/dev/null
  "$bin" plan --backend sim --target mysql=8.0 --target postgres=16 -o "$w.json" >/dev/null 2>&1
done
RDSFLEET_SIM_WORLD="$work/a.sqlite" "$bin" apply a.json --backend sim --state a.state --concurrency "$n" --approve-switchover --no-progress >/dev/null 2>&1
RDSFLEET_SIM_WORLD="$work/b.sqlite" "$bin" apply b.json --backend sim --state b.state --concurrency "$n" --no-progress >/dev/null 2>&1 || true

reanchor "$work/a.sqlite" 20 73
start=$(trail_len "$work/a.sqlite")
RDSFLEET_SIM_WORLD="$work/a.sqlite" "$bin" cleanup --backend sim --state a.state --api-rate "$rate" >/dev/null
measure "$work/a.sqlite" "$start" cleanup

reanchor "$work/b.sqlite" 20 0
start=$(trail_len "$work/b.sqlite")
RDSFLEET_SIM_WORLD="$work/b.sqlite" "$bin" abort --backend sim --state b.state --api-rate "$rate" >/dev/null
measure "$work/b.sqlite" "$start" abort
