#!/usr/bin/env python3
"""Turns a benchmark run's raw.csv into report.md (printed to stdout as well) and chart.svg.

Usage: report.py RESULTS_DIR   (the directory benches/run.sh wrote: raw.csv, meta.env, machine.txt)

Standard library only. The table has one line per (data set, measure): the median over the repeats
for every index kind, then the ratios alex/<other kind> when alex was measured. Cells that are not
numbers carry the reason instead ("-" not supported, "plan not used", "n/a: ...", "error").
"""
import csv
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

CANDIDATE = "alex"

# (measure id in raw.csv, label, which direction is better)
PER_DIST_MEASURES = [
    ("build_default_ms", "CREATE INDEX at PostgreSQL's defaults: 2 maintenance workers, 64MB (ms)", "lower"),
    ("build_w0_ms", "CREATE INDEX, 0 workers forced, 64MB (ms)", "lower"),
    ("build_w2_ms", "CREATE INDEX, 2 workers forced, 64MB (ms)", "lower"),
    ("build_w4_ms", "CREATE INDEX, 4 workers forced, 64MB (ms)", "lower"),
    ("build_ms", "CREATE INDEX, no parallel workers, 1GB (ms)", "lower"),
    ("index_mb", "index size (MB)", "lower"),
    ("bytes_per_entry", "index size (bytes/entry)", "lower"),
    ("probe_index_ns", "probe join, index scan (ns/probe)", "lower"),
    ("probe_index_only_ns", "probe join, index-only scan (ns/probe)", "lower"),
    ("probe_tid_ns", "probe join by ctid, the floor (ns/probe)", "lower"),
    ("buffers_index", "buffers/probe, index scan", "lower"),
    ("buffers_index_only", "buffers/probe, index-only scan", "lower"),
    ("tps_point", "pgbench point lookup (tps)", "higher"),
    ("tps_range", "pgbench 100-row range scan (tps)", "higher"),
    ("tps_ycsb_c", "YCSB C: read only (tps)", "higher"),
    ("tps_ycsb_b", "YCSB B: 95% read, 5% update (tps)", "higher"),
    ("tps_ycsb_a", "YCSB A: 50% read, 50% update (tps)", "higher"),
    ("tps_ycsb_f", "YCSB F: 50% read, 50% read-modify-write (tps)", "higher"),
    ("tps_ycsb_e", "YCSB E: 95% short range, 5% insert (tps)", "higher"),
    ("tps_insert", "pgbench random insert (tps)", "higher"),
    ("tps_append", "pgbench ascending append (tps)", "higher"),
]
BUILTIN_MEASURES = [
    ("pgbench_tpcb_tps", "pgbench TPC-B-like (tps)", "higher"),
    ("pgbench_select_tps", "pgbench -S select-only (tps)", "higher"),
]


def fmt(x):
    if x is None:
        return ""
    a = abs(x)
    if a >= 100:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def read_meta(path):
    meta = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line:
                key, value = line.split("=", 1)
                meta[key.strip()] = value.strip()
    return meta


class Cell:
    """The repeats of one (data set, measure, kind)."""

    def __init__(self, rows):
        self.values = [float(r["value"]) for r in rows if r["value"] != ""]
        self.by_repeat = {r["repeat"]: float(r["value"]) for r in rows if r["value"] != ""}
        self.notes = [r["note"] for r in rows if r["note"]]
        self.n = len(rows)
        self.wrong = any(n.startswith("WRONG RESULT") for n in self.notes)

    @property
    def median(self):
        return statistics.median(self.values) if self.values else None

    @property
    def clean(self):
        """Every repeat gave a trustworthy number."""
        return self.n > 0 and len(self.values) == self.n and not self.wrong

    def spread(self):
        if not self.values:
            return self.text()
        return f"{fmt(min(self.values))} .. {fmt(max(self.values))}"

    def text(self):
        if self.n == 0:
            return ""
        if self.wrong:
            return "WRONG RESULT" + (f" ({fmt(self.median)})" if self.values else "")
        if self.clean:
            return fmt(self.median)
        common = max(set(self.notes), key=self.notes.count) if self.notes else "no value"
        if not self.values:
            return common
        return f"{fmt(self.median)} ({len(self.values)}/{self.n} repeats; others: {common})"


def main():
    out = Path(sys.argv[1])
    meta = read_meta(out / "meta.env")
    with open(out / "raw.csv", newline="") as f:
        raw = list(csv.DictReader(f))

    groups = defaultdict(list)
    for r in raw:
        groups[(r["dist"], r["measure"], r["kind"])].append(r)
    kinds = meta.get("kinds", "").split() or sorted({r["kind"] for r in raw})
    dists = meta.get("dist", "").split() or sorted({r["dist"] for r in raw if r["dist"] != "pgbench"})
    alex_status = meta.get("alex_status", "available" if CANDIDATE in kinds else "not requested")
    baselines = [k for k in kinds if k != CANDIDATE] if CANDIDATE in kinds else []

    # The lines of the table: (data label, dist key, measure, label, better)
    lines = []
    for d in dists:
        for m, label, better in PER_DIST_MEASURES:
            if any((d, m, k) in groups for k in kinds):
                lines.append((d, d, m, label, better))
    for m, label, better in BUILTIN_MEASURES:
        if any(("pgbench", m, k) in groups for k in kinds):
            lines.append((f"pgbench -s {meta.get('scale', '?')}", "pgbench", m, label, better))

    header = ["data", "measure", "better"] + kinds + [f"{CANDIDATE}/{b}" for b in baselines]
    table = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 3)) + "|"]
    spread = ["| data | measure | " + " | ".join(kinds) + " |", "|---|---|" + "|".join(["---:"] * len(kinds)) + "|"]
    ratios = []  # (label, baseline, ratio, candidate is better)
    # Ratios within each repeat: both kinds measured back to back, so a slow spell of this shared
    # machine hits both sides of a ratio.
    paired = [f"| data | measure | " + " | ".join(f"{CANDIDATE}/{b}" for b in baselines) + " |",
              "|---|---|" + "|".join(["---"] * len(baselines)) + "|"]
    for data, d, m, label, better in lines:
        cells = {k: Cell(groups.get((d, m, k), [])) for k in kinds}
        row = [data, label, better] + [cells[k].text() for k in kinds]
        spread.append("| " + " | ".join([data, label] + [cells[k].spread() for k in kinds]) + " |")
        for b in baselines:
            c, base = cells[CANDIDATE], cells[b]
            if c.clean and base.clean and base.median:
                ratio = c.median / base.median
                good = ratio < 1 if better == "lower" else ratio > 1
                row.append(f"**{ratio:.2f}**" if good and abs(ratio - 1) >= 0.005 else f"{ratio:.2f}")
                if ratio > 0 and m != "index_mb":  # bytes/entry shows the same ratio
                    ratios.append((f"{data} · {label}", b, ratio, good))
            else:
                row.append("")
        paired_row = []
        for b in baselines:
            c, base = cells[CANDIDATE].by_repeat, cells[b].by_repeat
            rs = [c[r] / base[r] for r in sorted(c, key=int) if r in base and base[r]]
            paired_row.append(", ".join(f"{x:.2f}" for x in rs) + (f" (median {statistics.median(rs):.2f})" if len(rs) > 1 else ""))
        if any(paired_row):
            paired.append("| " + " | ".join([data, label] + paired_row) + " |")
        table.append("| " + " | ".join(row) + " |")

    status_line = f"alex: {alex_status}"
    alex_build = meta.get("alex_build", "")
    if alex_status == "available" and alex_build:
        status_line += f" ({alex_build})"
        if alex_build.startswith("debug"):
            status_line = "WARNING: alex was measured as a DEBUG build, its numbers mean little. " + status_line
    knobs = (f"ROWS={meta.get('rows')} DIST='{meta.get('dist')}' KINDS='{meta.get('requested_kinds')}' "
             f"CLIENTS={meta.get('clients')} DURATION={meta.get('duration')} REPEATS={meta.get('repeats')} "
             f"WORKLOAD_DIST='{meta.get('workload_dist')}' SCALE={meta.get('scale')}")

    # stdout: the table
    print()
    if alex_status != "available" or "DEBUG" in status_line:
        print(status_line)
        print()
    print("\n".join(table))
    print()
    if baselines:
        print(f"Medians over {meta.get('repeats')} repeat(s). Ratios are {CANDIDATE}/other; "
              "bold = alex is better (see the 'better' column).")
    print()

    machine = (out / "machine.txt").read_text() if (out / "machine.txt").exists() else ""
    md = [
        "# OmenDB index benchmark",
        "",
        f"`{knobs}`  ",
        f"{meta.get('nprobes')} probes per data set; pgbench workloads on: {meta.get('workload_dist') or 'none'} "
        f"({meta.get('workloads')}); shared_buffers {meta.get('shared_buffers')}.",
        "",
        f"**{status_line}**" if alex_status != "available" or "DEBUG" in status_line else status_line,
        "",
        f"Medians over {meta.get('repeats')} repeat(s). 'better' says whether lower or higher numbers are better. "
        f"Ratios are {CANDIDATE}/other, bold where {CANDIDATE} is better. A cell without a number says why: "
        "'-' the index kind cannot do it, 'plan not used' the planner did not use the index as intended, "
        "'n/a: ...' no index of that kind could be built, 'error' see logs/. See benches/README.md.",
        "",
        *table,
        "",
        "## Spread (min .. max over the repeats)",
        "",
        *spread,
        "",
        f"## Ratios per repeat ({CANDIDATE} and the other kind measured back to back in each)",
        "",
        *paired,
        "",
        "## Machine",
        "",
        "```",
        machine.rstrip(),
        "```",
        "",
        "Every repeat's number is in raw.csv; pgbench output and errors are in logs/.",
        "",
    ]
    (out / "report.md").write_text("\n".join(md))
    (out / "chart.svg").write_text(chart(ratios, meta, alex_status))


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def chart(ratios, meta, alex_status):
    """Horizontal bars from the 1.0 line to each ratio, on a log scale; green where alex is better."""
    width, label_w, bar_w, row_h, top = 1100, 520, 500, 20, 60
    if not ratios:
        msg = f"alex: {alex_status}" if alex_status != "available" else "no ratios to chart"
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="80" font-family="sans-serif">'
                f'<text x="20" y="45" font-size="16">{esc(msg)}</text></svg>\n')
    span = max(math.log(4), max(abs(math.log(r)) for _, _, r, _ in ratios) * 1.25)
    x0 = label_w + bar_w / 2

    def x(r):
        return x0 + math.log(r) / span * (bar_w / 2)

    height = top + len(ratios) * row_h + 50
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="20" y="24" font-size="16">{CANDIDATE} / other index kind, medians over {meta.get("repeats")} '
         f'repeat(s), ROWS={meta.get("rows")} (log scale)</text>',
         f'<text x="20" y="44" fill="#555">green: {CANDIDATE} better, red: {CANDIDATE} worse '
         f'(whichever direction is better for the measure), grey: within 2%</text>']
    # grid lines at powers of two
    p = 1
    while 2 ** p <= math.exp(span):
        p += 1
    bottom = top + len(ratios) * row_h
    for e in range(-(p - 1), p):
        r = 2.0 ** e
        gx = x(r)
        s.append(f'<line x1="{gx:.1f}" y1="{top - 4}" x2="{gx:.1f}" y2="{bottom}" stroke="#ddd"/>')
        lab = f"{r:g}" if r >= 1 else f"1/{2 ** -e}"
        s.append(f'<text x="{gx:.1f}" y="{bottom + 16}" text-anchor="middle" fill="#555">{lab}</text>')
    for i, (label, base, r, good) in enumerate(ratios):
        y = top + i * row_h
        color = "#9e9e9e" if abs(math.log(r)) < math.log(1.02) else "#2e7d32" if good else "#c62828"
        x1, x2 = sorted((x0, x(r)))
        s.append(f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end">{esc(label)} vs {esc(base)}</text>')
        s.append(f'<rect x="{x1:.1f}" y="{y + 3}" width="{max(x2 - x1, 1):.1f}" height="{row_h - 6}" fill="{color}"/>')
        tx, anchor = (x2 + 4, "start") if r >= 1 else (x1 - 4, "end")
        s.append(f'<text x="{tx:.1f}" y="{y + 14}" text-anchor="{anchor}">{r:.2f}</text>')
    s.append(f'<line x1="{x0}" y1="{top - 8}" x2="{x0}" y2="{bottom + 4}" stroke="black" stroke-width="1.5"/>')
    s.append("</svg>\n")
    return "\n".join(s)


if __name__ == "__main__":
    main()
