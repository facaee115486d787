#!/usr/bin/env python3
"""Summarizes Benchmarks/run.sh results (JSON lines) as a Markdown table: medians with min/max,
and Chronicle's throughput as a share of the raw SQLite C programs' (the store-shaped reference
`sqlite-c`, and when run the minimal schema `sqlite-c-min`, time-ordered ids `sqlite-c-time`, the
Python peer `eventsourcing` and `chronicle-baseline`, a build of another commit),
one row per scenario, sync mode and condition (quiet, or contended by busy-loop processes)."""
import json
import statistics
import sys
from collections import defaultdict

TARGETS = {"S1": 0.90, "S2": 0.90, "S3": 0.90, "S4a": 0.50, "S4b": 0.50, "S5": 0.70}
ORDER = ["S1", "S1c", "S2", "S3", "S4a", "S4b", "S5", "S5r", "S5r-pg", "S6", "LAT", "RSS"]


def fmt(value, digits=1):
    return f"{value:,.{digits}f}"


def main(path):
    runs = defaultdict(list)
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                if "prefill" in r:  # S1 --prefill N: a row of its own per store size
                    r["scenario"] = f"{r['scenario']} prefill {r['prefill']:,}"
                runs[(r["scenario"], r["sync"], r.get("condition", "quiet"), r["impl"])].append(r)

    def ok(rs):
        return [r for r in rs if not r.get("failed")]

    def median(rs, key):
        values = [r[key] for r in ok(rs) if key in r]
        return statistics.median(values) if values else None

    def spread(rs, key, digits=1):
        values = [r[key] for r in ok(rs) if key in r]
        if not values:
            return "—"
        return f"{fmt(statistics.median(values), digits)} ({fmt(min(values), digits)}–{fmt(max(values), digits)})"

    def verified(rs):
        if any(r.get("failed") for r in rs):
            return "FAILED"
        return "yes" if all(r.get("verified") for r in rs) else "NO"

    variants = [impl for impl in ("sqlite-c-min", "sqlite-c-time", "eventsourcing", "chronicle-baseline") if any(k[3] == impl for k in runs)]
    print("| scenario | sync | condition | events | sqlite-c events/s median (min–max) | chronicle events/s median (min–max) "
          "| chronicle / C | target | " + "".join(f"{v} events/s | chronicle / {v} | " for v in variants)
          + "C ms/op | chronicle ms/op | CPU µs/event C / chronicle (C÷chr) | load1 | verified (C/chr) |")
    print("|---|---|---|---|---|---|---|---|" + "---|---|" * len(variants) + "---|---|---|---|---|")
    conditions = ["quiet", "contended"]
    keys = sorted({(s, y, c) for (s, y, c, _) in runs},
                  key=lambda k: (k[1] != "NORMAL", ORDER.index(k[0].split(" ")[0]) if k[0].split(" ")[0] in ORDER else 99,
                                 int(k[0].rsplit(" ", 1)[1].replace(",", "")) if " prefill " in k[0] else -1,
                                 conditions.index(k[2]) if k[2] in conditions else 9))
    for scenario, sync, condition in keys:
        c = runs.get((scenario, sync, condition, "sqlite-c"), [])
        s = runs.get((scenario, sync, condition, "chronicle"), [])
        others = [runs.get((scenario, sync, condition, v), []) for v in variants]
        events = (ok(s) or ok(c) or s or c or [r for rs in others for r in rs])[0]["events"]
        ratio, target = "—", "—"
        cm, sm = median(c, "events_per_s"), median(s, "events_per_s")
        if cm and sm:
            ratio = f"{100 * sm / cm:.0f}%"
        if scenario in TARGETS:
            target = f"≥ {TARGETS[scenario] * 100:.0f}%"
        if scenario == "S1c" and median(rs, "transactions") is not None:
            s1 = median(runs.get(("S1", sync, condition, "chronicle"), []), "events_per_s")
            if s1 and sm:
                ratio = f"{sm / s1:.1f}× chronicle S1"
            target = "≥ 3× S1"
        variant_cells = ""
        for rs in others:
            vm = median(rs, "events_per_s")
            variant_cells += f"{spread(rs, 'events_per_s') if rs else 'n/a'} | {f'{100 * sm / vm:.0f}%' if vm and sm else '—'} | "
        cpu = "—"
        cc, sc = median(c, "cpu_s"), median(s, "cpu_s")
        if cc and sc:
            cpu = f"{cc * 1e6 / events:.1f} / {sc * 1e6 / events:.1f} ({100 * cc / sc:.0f}%)"
        elif sc:
            cpu = f"— / {sc * 1e6 / events:.1f}"
        loads = [r["load1"] for r in c + s if "load1" in r]
        load = f"{min(loads):.1f}–{max(loads):.1f}" if loads else "—"
        print(f"| {scenario} | {sync} | {condition} | {events:,} | {spread(c, 'events_per_s') if c else 'n/a'} | "
              f"{spread(s, 'events_per_s') if s else 'n/a'} | {ratio} | {target} | {variant_cells}"
              f"{spread(c, 'ms_per_op', 4) if c else 'n/a'} | {spread(s, 'ms_per_op', 4) if s else 'n/a'} | {cpu} | {load} | "
              f"{verified(c) if c else '—'}/{verified(s) if s else '—'} |")

    print()
    for (scenario, sync, condition, impl), rs in sorted(runs.items()):
        rs = ok(rs)
        if not rs:
            continue
        notes = []
        if scenario == "S3" and median(rs, "bytes_per_event") is not None:
            notes.append(f"bytes/event after checkpoint {median(rs, 'bytes_per_event'):.1f}, "
                         f"db+wal as left {median(rs, 'bytes_db_plus_wal') / 1e6:.1f} MB")
        if scenario in ("S4a", "S4b"):
            notes.append(f"aggregates/s {fmt(median(rs, 'aggregates_per_s'))}")
            if median(rs, "store_read_s") is not None:
                notes.append(f"in store.readStream {median(rs, 'store_read_s'):.3f} s, decode+fold {median(rs, 'decode_fold_s'):.3f} s")
        if scenario == "S5" and median(rs, "store_read_s") is not None:
            notes.append(f"in store.readAll {median(rs, 'store_read_s'):.3f} s, decode {median(rs, 'decode_s'):.3f} s, "
                         f"rest = read-model transactions")
        if scenario == "S6":
            notes.append(f"conflicts {[r['conflicts'] for r in rs]}, attempts {[r['attempts'] for r in rs]}, "
                         f"lock errors {[r['lock_errors'] for r in rs]} ({rs[0].get('writer_kind')})")
        if scenario == "S1c" and median(rs, "transactions") is not None:
            notes.append(f"appends/transaction {[r.get('appends_per_transaction') for r in rs]}, "
                         f"largest batch {[r.get('largest_batch') for r in rs]}")
        if scenario == "LAT":
            notes.append(f"append→visible via {rs[0].get('visible_via')}: p50 {median(rs, 'visible_p50_ms'):.3f} ms, "
                         f"p99 {median(rs, 'visible_p99_ms'):.3f} ms; append→appendNotifier p50 "
                         f"{median(rs, 'notified_p50_ms'):.3f} ms, p99 {median(rs, 'notified_p99_ms'):.3f} ms; "
                         f"append call p50 {median(rs, 'append_p50_ms'):.3f} ms, p99 {median(rs, 'append_p99_ms'):.3f} ms")
        if scenario == "RSS":
            notes.append(f"peak RSS during replay {median(rs, 'peak_rss_mib'):.1f} MiB "
                         f"(RSS before replay {median(rs, 'rss_before_mib'):.1f} MiB, peak reset {rs[0].get('peak_reset')})")
        if "prefill" in rs[0]:
            notes.append(f"store held {rs[0]['prefill']:,} events in {rs[0].get('prefill_streams')} other streams before the timed appends "
                         f"(untimed prefill {median(rs, 'prefill_s'):.1f} s, db+wal {median(rs, 'prefill_bytes_db_plus_wal') / 1e6:,.0f} MB)")
        if "payload_bytes_avg" in rs[0] and scenario.split(" ")[0] in ("S1", "S3"):
            notes.append(f"payload {rs[0]['payload_bytes_avg']} B avg")
        if notes:
            print(f"- {scenario} {sync} {condition} {impl}: " + "; ".join(notes))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench-out/results.jsonl")
