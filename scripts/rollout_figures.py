#!/usr/bin/env python3
"""Figures of a simulated rollout, for the issue notes (issue 6: API budget, makespan).

Reads the simulator's full trail (`rdsfleet sim trail --json --all`) and the rollout's state
file (SQLite, written by `rdsfleet apply`), and prints:
  - API calls per region, throttled calls, outcomes;
  - the peak API rate per region: max calls in any 1 s of simulated time, and in any 10 s
    window divided by 10 (the simulator's bucket is 300 burst, 12/s sustained);
  - side effects per action, and any made twice (there must be none);
  - outcomes by database state;
  - the makespan (first engine call to last database event) against a lower bound:
    number of waves x the longest single-database path (admission -> done), because a wave
    starts only when the previous one has finished.

Usage:
  rdsfleet sim trail --json --all --sim-world W > trail.json
  scripts/rollout_figures.py trail.json STATE.sqlite [--since RFC3339]
`--since` keeps calls from that simulated time on (e.g. drop the planning describes).
"""

import argparse
import bisect
import collections
import json
import sqlite3
from datetime import datetime, timezone


def ms(rfc):
    return int(datetime.fromisoformat(rfc.replace("Z", "+00:00")).timestamp() * 1000)


def peak(times, window_ms):
    """Max number of calls in any half-open window of `window_ms` starting at a call."""
    times = sorted(times)
    best = 0
    for i, t in enumerate(times):
        j = bisect.bisect_left(times, t + window_ms)
        best = max(best, j - i)
    return best


def hours(x):
    return f"{x / 3_600_000:.2f} h"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trail")
    ap.add_argument("state")
    ap.add_argument("--since", help="RFC3339: ignore calls before this simulated time "
                    "(default: the state file's first event, i.e. the engine's calls only)")
    ap.add_argument("--concurrency", type=int, default=None,
                    help="databases in flight (for the throughput bound); default from the plan's policy")
    a = ap.parse_args()
    db = sqlite3.connect(a.state)

    with open(a.trail) as f:
        text = f.read().strip()
    # Either a JSON array or one JSON object per line.
    trail = json.loads(text) if text.startswith("[") else [json.loads(l) for l in text.splitlines() if l.strip()]
    since = ms(a.since) if a.since else db.execute("SELECT MIN(at) FROM events").fetchone()[0]
    if since is not None:
        trail = [t for t in trail if t["at"] >= since]

    per_region = collections.defaultdict(list)
    outcomes = collections.Counter()
    throttled = collections.Counter()
    for t in trail:
        per_region[t["region"]].append(t["at"])
        outcomes[t["outcome"]] += 1
        if t["outcome"] == "Throttling":
            throttled[t["region"]] += 1
    print(f"API calls: {len(trail)} ({sum(throttled.values())} throttled); outcomes {dict(outcomes)}")
    for region, times in sorted(per_region.items()):
        p1 = peak(times, 1000)
        p10 = peak(times, 10_000) / 10
        print(f"  {region}: {len(times)} calls, {throttled[region]} throttled, "
              f"peak {p1} calls in 1 s, peak {p10:.1f}/s over 10 s")

    # Side effects made more than once (a lost `5xx-after` response counts as made).
    for action in ("CreateDBSnapshot", "CreateBlueGreenDeployment",
                   "SwitchoverBlueGreenDeployment", "CreateDBParameterGroup"):
        made = collections.Counter(
            t["resource"] for t in trail
            if t["action"] == action
            and (t["outcome"] == "ok" or (t.get("params") or {}).get("sim_effect_applied")))
        rep = sorted(k for k, v in made.items() if v > 1)
        print(f"  {action}: {len(made)} made, repeated: {rep or 'none'}")
    states = collections.Counter(s for (s,) in db.execute("SELECT state FROM databases"))
    print(f"databases by state: {dict(states)}")

    # Per database: first admission ("db-running") and last "db-done" event, in simulated ms.
    ev = collections.defaultdict(dict)
    for db_id, kind, at in db.execute(
        "SELECT db_id, kind, at FROM events WHERE db_id IS NOT NULL ORDER BY id"
    ):
        if kind == "db-running":
            ev[db_id].setdefault("start", at)
        elif kind in ("db-done", "db-failed", "db-blocked"):
            ev[db_id]["end"] = at
            ev[db_id]["kind"] = kind
    paths = [e["end"] - e["start"] for e in ev.values() if "start" in e and e.get("kind") == "db-done"]
    row = db.execute("SELECT value FROM meta WHERE key = 'plan_json'").fetchone()
    plan = json.loads(row[0]) if row else None
    # Waves that had something to do (a plan without policy is one wave).
    waves = len({d.get("wave", 0) for d in plan["databases"] if d.get("steps")}) if plan else 1
    starts = [e["start"] for e in ev.values() if "start" in e]
    ends = [e["end"] for e in ev.values() if "end" in e]
    if paths and starts and ends:
        makespan = max(ends) - min(starts)
        longest = max(paths)
        bound = waves * longest
        print(f"makespan {hours(makespan)}; longest single-database path {hours(longest)} "
              f"(median {hours(sorted(paths)[len(paths) // 2])}); waves {waves}; "
              f"lower bound waves x longest = {hours(bound)}; ratio {makespan / bound:.2f}")
        if plan and plan.get("policy"):
            print_wave_bound(plan, ev, makespan)
        conc = a.concurrency
        if conc is None and plan:
            conc = (plan.get("policy") or {}).get("concurrency", {}).get("per_account")
        if conc:
            # Throughput bound: the work (sum of paths) spread over `conc` slots.
            tb = max(longest, sum(paths) / conc)
            print(f"throughput bound sum(paths)/{conc} = {hours(sum(paths) / conc)}; "
                  f"max(longest, that) = {hours(tb)}; ratio {makespan / tb:.2f}")


def print_wave_bound(plan, ev, makespan):
    """A tighter bound under a policy: waves run one after another; within a wave, at most
    min(wave concurrency, per_account) databases in flight, and per_region in any one region.
    Each wave takes at least max(its longest path, its work per available slot)."""
    pol = plan["policy"]["concurrency"]
    per_account = pol.get("per_account") or 10**9
    per_region = pol.get("per_region") or 10**9
    conc = {w["number"]: w.get("concurrency") or 10**9 for w in plan.get("waves", [])}
    waves = collections.defaultdict(list)
    for i, d in enumerate(plan["databases"]):
        e = ev.get(i)
        if e and "start" in e and e.get("kind") == "db-done" and d.get("strategy") != "with-source":
            waves[d["wave"]].append((d["region"], e["end"] - e["start"]))
    total = 0
    for w, items in sorted(waves.items()):
        slots = min(conc.get(w, 10**9), per_account)
        by_region = collections.defaultdict(float)
        for region, path in items:
            by_region[region] += path
        work = max(sum(p for _, p in items) / slots,
                   max(v / min(per_region, slots) for v in by_region.values()))
        bound = max(max(p for _, p in items), work)
        total += bound
        print(f"  wave {w}: {len(items)} databases done, bound {hours(bound)}")
    print(f"policy-aware bound (sum over waves of max(longest, work per slot)) = {hours(total)}; "
          f"ratio {makespan / total:.2f}")


if __name__ == "__main__":
    main()
