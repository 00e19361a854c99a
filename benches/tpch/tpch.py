"""TPC-H data, queries and the DuckDB reference line for make bench-tpch and pg_test/tpch.sh.

Runs in the project's venv (duckdb and duckdb-extension-tpch from PyPI, pinned in lib.sh):
  tpch.py generate SF DIR       DIR/<table>.csv (|-separated CSV), DIR/queries/qNN.sql (the 22
                                queries as DuckDB's tpch extension states them, which PostgreSQL
                                runs unchanged) and DIR/tpch.duckdb (the same data for the reference)
  tpch.py duckdb DIR REPEATS THREADS OUT.csv
                                the 22 queries in DuckDB: one warm-up, then REPEATS timed runs
  tpch.py report RESULTS.csv OUT_DIR TITLE
                                per-query tables appended to OUT_DIR/report.md, and speedup.svg
"""
import csv
import glob
import math
import os
import statistics
import sys
import time

TABLES = ["region", "nation", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]


def connect(path=":memory:"):
    import duckdb
    import duckdb_extension_tpch

    root = os.path.dirname(duckdb_extension_tpch.__file__)
    ext = glob.glob(os.path.join(root, "**", "tpch.duckdb_extension"), recursive=True)[0]
    con = duckdb.connect(path)
    con.execute(f"LOAD '{ext}'")
    return con


def generate(sf, out):
    os.makedirs(os.path.join(out, "queries"), exist_ok=True)
    db = os.path.join(out, "tpch.duckdb")
    if os.path.exists(db):
        os.remove(db)
    con = connect(db)
    con.execute(f"CALL dbgen(sf={float(sf)})")
    for table in TABLES:
        path = os.path.join(out, table + ".csv")
        con.execute(f"COPY {table} TO '{path}' (HEADER false, DELIMITER '|')")
    for number, query in con.execute("SELECT query_nr, query FROM tpch_queries()").fetchall():
        with open(os.path.join(out, "queries", f"q{number:02d}.sql"), "w") as f:
            f.write(query.strip() + "\n")
    con.close()


def run_duckdb(data, repeats, threads, out):
    con = connect(os.path.join(data, "tpch.duckdb"))
    con.execute(f"SET threads = {int(threads)}")
    rows = []
    for path in sorted(glob.glob(os.path.join(data, "queries", "q*.sql"))):
        query = open(path).read()
        result = con.execute(query).fetchall()
        times = []
        for _ in range(int(repeats)):
            start = time.perf_counter()
            con.execute(query).fetchall()
            times.append((time.perf_counter() - start) * 1000)
        rows.append([os.path.basename(path)[:-4], f"duckdb-{threads}", "%.3f" % statistics.median(times),
                     "%.3f" % min(times), "%.3f" % max(times), len(result), "ok"])
    with open(out, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def geomean(values):
    values = [v for v in values if v and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def load_results(path):
    """{(query, engine): row dict} from the CSV the benchmark appends to."""
    runs = {}
    with open(path) as f:
        for query, engine, median, low, high, rows, status in csv.reader(f):
            runs[query, engine] = dict(median=float(median) if median else None, low=low, high=high,
                                       rows=rows, status=status)
    return runs


def report(results, out_dir, title):
    runs = load_results(results)
    queries = sorted({q for q, _ in runs})
    engines = {e for _, e in runs}
    duck_all = sorted((e for e in engines if e.startswith("duckdb-") and e != "duckdb-1"), key=len)
    sections = [("serial", "max_parallel_workers_per_gather = 0; DuckDB with 1 thread",
                 "heap-serial", "columnar-serial", "duckdb-1")]
    if "heap-parallel" in engines:
        sections.append(("parallel", "PostgreSQL's defaults (2 parallel workers per gather); DuckDB with "
                         + (duck_all[-1].split("-")[1] if duck_all else "all") + " threads",
                         "heap-parallel", "columnar-parallel", duck_all[-1] if duck_all else None))
    lines = []
    chart = []
    for name, setting, heap, col, duck in sections:
        lines += [f"## {name.capitalize()}: {setting}", "",
                  "| query | heap (ms) | columnar (ms) | speedup over heap | DuckDB (ms) | columnar / DuckDB | answer |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        speedups, duck_speedups, behind = [], [], []
        for q in queries:
            h, c, d = runs.get((q, heap)), runs.get((q, col)), runs.get((q, duck)) if duck else None
            hm, cm = (h or {}).get("median"), (c or {}).get("median")
            dm = (d or {}).get("median")
            speed = hm / cm if hm and cm else None
            dspeed = hm / dm if hm and dm else None
            ratio = cm / dm if cm and dm else None
            if speed:
                speedups.append(speed)
            if dspeed:
                duck_speedups.append(dspeed)
            if ratio:
                behind.append(ratio)
            answer = (c or {}).get("status", "missing")
            fmt = lambda v, p="%.1f": (p % v) if v else "-"
            lines.append(f"| {q} | {fmt(hm)} | {fmt(cm)} | {fmt(speed, '%.2fx')} | {fmt(dm)} | "
                         f"{fmt(ratio, '%.2f')} | {answer} |")
            if name == "serial":
                chart.append((q, speed, dspeed))
        lines += [f"| geometric mean | | | **{geomean(speedups):.2f}x** | | **{geomean(behind):.2f}** | |", ""]
        lines += [f"DuckDB's geometric-mean speedup over heap in this section: {geomean(duck_speedups):.2f}x.", ""]
    with open(os.path.join(out_dir, "report.md"), "a") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out_dir, "speedup.svg"), "w") as f:
        f.write(svg(chart, title))


def svg(chart, title):
    """Bars of the serial speedup over heap per query (log scale), columnar beside DuckDB."""
    width, height, left, top, bottom = 900, 360, 50, 40, 40
    plot_h = height - top - bottom
    values = [v for _, a, b in chart for v in (a, b) if v]
    top_v = max(values + [10.0])
    low_v = min(values + [0.5])
    lo, hi = math.floor(math.log10(low_v)), math.ceil(math.log10(top_v))
    y = lambda v: top + plot_h * (1 - (math.log10(v) - lo) / (hi - lo))
    slot = (width - left - 10) / max(len(chart), 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<text x="{left}" y="16" font-size="13">{title}: speedup over heap, single-threaded (log scale)</text>',
           f'<rect x="{width - 230}" y="24" width="10" height="10" fill="#2b6cb0"/><text x="{width - 216}" y="33">columnar</text>',
           f'<rect x="{width - 150}" y="24" width="10" height="10" fill="#bbb"/><text x="{width - 136}" y="33">DuckDB, 1 thread</text>']
    for e in range(lo, hi + 1):
        v = 10.0 ** e
        out.append(f'<line x1="{left}" x2="{width - 10}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}x</text>')
    base = y(1.0)
    out.append(f'<line x1="{left}" x2="{width - 10}" y1="{base:.1f}" y2="{base:.1f}" stroke="#333"/>')
    for i, (q, col, duck) in enumerate(chart):
        x = left + i * slot + slot * 0.1
        bar = slot * 0.38
        for j, (v, colour) in enumerate(((col, "#2b6cb0"), (duck, "#bbb"))):
            if not v:
                continue
            y0, y1 = sorted((base, y(v)))
            out.append(f'<rect x="{x + j * bar:.1f}" y="{y0:.1f}" width="{bar:.1f}" height="{max(y1 - y0, 0.5):.1f}" fill="{colour}"><title>{q}: {v:.2f}x</title></rect>')
        out.append(f'<text x="{x + bar:.1f}" y="{height - bottom + 14}" text-anchor="middle">{q[1:]}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "generate":
        generate(*args)
    elif command == "duckdb":
        run_duckdb(*args)
    elif command == "report":
        report(*args)
    else:
        sys.exit(f"unknown command {command}")
