#!/usr/bin/python3
"""Summarise a bench/dns/run.sh results directory as a markdown table.

  report.py RESULTS_DIR

Reads RESULTS_DIR/info.env (KEY=VALUE lines written by run.sh),
RESULTS_DIR/runs.tsv (one row per server and run) and the dnsperf output
named in each row; prints markdown (medians over the runs) to stdout.
"""

import json
import os
import re
import statistics
import sys

ORDER = ["ceiling", "rbldnsd", "rblzoned"]


def parse_dnsperf(path):
    text = open(path, errors="replace").read()
    r = {}

    def num(pattern, cast=float):
        m = re.search(pattern, text)
        return cast(m.group(1)) if m else None

    r["sent"] = num(r"Queries sent:\s+(\d+)", int)
    r["completed"] = num(r"Queries completed:\s+(\d+)", int)
    r["lost"] = num(r"Queries lost:\s+(\d+)", int)
    r["qps"] = num(r"Queries per second:\s+([\d.]+)")
    r["runtime"] = num(r"Run time \(s\):\s+([\d.]+)")
    r["latency"] = num(r"Average Latency \(s\):\s+([\d.]+)")
    r["resp_size"] = num(r"Average packet size:\s+request \d+, response (\d+)", int)
    rcodes = {}
    m = re.search(r"Response codes:\s+(.*)", text)
    if m:
        for code, count in re.findall(r"([A-Z]+) (\d+) \(", m.group(1)):
            rcodes[code] = int(count)
    r["rcodes"] = rcodes
    return r


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_int(v):
    return "–" if v is None else f"{v:,.0f}"


def fmt_ratio(a, b):
    if a is None or not b:
        return "–"
    return f"{a / b:.2f}"


def fmt_float(v):
    return "–" if v is None else f"{v:.2f}"


def fmt_mib(kb):
    return "–" if kb is None else f"{kb / 1024:.0f} MiB"


def fmt_s(s):
    if s is None:
        return "–"
    return f"{s * 1000:.0f} ms" if s < 10 else f"{s:.1f} s"


def main():
    rdir = sys.argv[1]
    info = {}
    with open(os.path.join(rdir, "info.env")) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                info[k] = v
    rows = []
    with open(os.path.join(rdir, "runs.tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))

    per = {}
    for row in rows:
        d = {"run": int(row["run"]), "label": row["label"], "threads": row["threads"],
             "sanity": row["sanity"], "error": row.get("error", "")}
        for k in ("startup_s", "cpu_s", "dnsperf_cpu_s", "host_cores", "background_cores"):
            d[k] = float(row[k]) if row[k] not in ("", "-") else None
        for k in ("rss_kb", "hwm_kb", "anon_kb"):
            d[k] = int(row[k]) if row[k] not in ("", "-") else None
        out = os.path.join(rdir, row["dnsperf"]) if row["dnsperf"] not in ("", "-") else None
        d.update(parse_dnsperf(out) if out and os.path.exists(out) else {"rcodes": {}})
        if d.get("completed") and d.get("cpu_s"):
            d["qpc"] = d["completed"] / d["cpu_s"]
        else:
            d["qpc"] = None
        rt = d.get("runtime")
        d["cores"] = d["cpu_s"] / rt if d.get("cpu_s") is not None and rt else None
        d["dp_cores"] = d["dnsperf_cpu_s"] / rt if d.get("dnsperf_cpu_s") is not None and rt else None
        per.setdefault(row["server"], []).append(d)

    summary = {}
    for server, runs in per.items():
        s = {"label": runs[0]["label"], "threads": runs[0]["threads"], "runs": len(runs)}
        for k in ("qps", "qpc", "cores", "dp_cores", "host_cores", "latency", "startup_s", "rss_kb", "hwm_kb", "anon_kb",
                  "resp_size"):
            s[k] = med([r.get(k) for r in runs])
        tot = {}
        for r in runs:
            for code, n in r["rcodes"].items():
                tot[code] = tot.get(code, 0) + n
        s["rcodes"] = tot
        s["lost"] = sum(r.get("lost") or 0 for r in runs)
        s["sent"] = sum(r.get("sent") or 0 for r in runs)
        s["sanity"] = ",".join(sorted({r["sanity"] for r in runs}))
        s["errors"] = "; ".join(sorted({r["error"] for r in runs if r["error"]}))
        summary[server] = s

    ceil = summary.get("ceiling", {})
    p = print
    p(f"### DNS benchmark: {info.get('DATA_DESC', '')}")
    p()
    p(f"- machine: {info.get('MACHINE', '?')}")
    p(f"- load: `{info.get('DNSPERF_CMD', 'dnsperf')}`, {info.get('WARMUP', '?')} s warm-up; "
      f"{info.get('QUERIES_DESC', '')}")
    p(f"- medians of {info.get('RUNS', '?')} run(s); each run restarts every server; "
      f"servers in turn, never at the same time; pinning: {info.get('PIN', 'none')}")
    p(f"- server threads: {info.get('THREADS_NOTE', '')}")
    p()
    p("| server | threads | qps | qps / ceiling | queries per server CPU-s | "
      "per CPU-s / ceiling | CPU cores: server / dnsperf / host | avg latency | answers (NOERROR / NXDOMAIN / other) "
      "| lost | startup | RSS (anon) |")
    p("|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|")
    for server in ORDER + sorted(set(summary) - set(ORDER)):
        if server not in summary:
            continue
        s = summary[server]
        rc = s["rcodes"]
        total = sum(rc.values())
        if total:
            other = total - rc.get("NOERROR", 0) - rc.get("NXDOMAIN", 0)
            ans = (f"{100 * rc.get('NOERROR', 0) / total:.1f}% / "
                   f"{100 * rc.get('NXDOMAIN', 0) / total:.1f}% / {100 * other / total:.1f}%")
        else:
            ans = "–"
        if s["sanity"] not in ("ok", "n/a"):
            ans += f" (correctness check: {s['sanity']})"
        if s["errors"]:
            ans += f" ({s['errors']})"
        lost = f"{100 * s['lost'] / s['sent']:.3f}%" if s["sent"] else "–"
        lat = "–" if s["latency"] is None else f"{s['latency'] * 1e6:.0f} µs"
        cores = (f"{fmt_float(s['cores'])} / {fmt_float(s['dp_cores'])} / "
                 f"{fmt_float(s['host_cores'])}")
        rss = fmt_mib(s["rss_kb"])
        if s["anon_kb"] is not None:
            rss += f" ({fmt_mib(s['anon_kb'])})"
        p(f"| {s['label']} | {s['threads']} | {fmt_int(s['qps'])} | "
          f"{fmt_ratio(s['qps'], ceil.get('qps'))} | {fmt_int(s['qpc'])} | "
          f"{fmt_ratio(s['qpc'], ceil.get('qpc'))} | {cores} | {lat} | {ans} | {lost} | "
          f"{fmt_s(s['startup_s'])} | {rss} |")
    p()
    busy = [(server, r["run"], r["background_cores"]) for server, runs in per.items()
            for r in runs if (r.get("background_cores") or 0) >= 0.15]
    if busy:
        p("**Warning: the host was not idle** before "
          + ", ".join(f"{s} run {n} ({b:.2f} cores)" for s, n, b in busy)
          + " (other processes' CPU over the second before the server started); "
          "treat those figures as noisy, or rerun with `--wait-idle 600`.")
        p()
    a, b = summary.get("rblzoned"), summary.get("rbldnsd")
    if a and b:
        p(f"rblzoned / rbldnsd: qps ×{fmt_ratio(a['qps'], b['qps'])}, "
          f"queries per CPU-s ×{fmt_ratio(a['qpc'], b['qpc'])}, "
          f"startup ×{fmt_ratio(a['startup_s'], b['startup_s'])}, "
          f"RSS ×{fmt_ratio(a['rss_kb'], b['rss_kb'])}.")
        p()
    if info.get("LOAD_NOTE"):
        p(info["LOAD_NOTE"])
        p()
    if info.get("SKIPPED"):
        p(f"Skipped: {info['SKIPPED']}")
        p()
    p("Columns: qps = dnsperf's *Queries per second*; queries per server CPU-s = queries "
      "completed / (utime + stime of the server process over the measured dnsperf run, "
      "from /proc/PID/stat); CPU cores = CPU time / run time of the server, of dnsperf, and of the whole host "
      "(/proc/stat, which also counts the loopback network stack's softirq time that neither "
      "process is charged for); startup = exec to the "
      "first A answer for a listed name; RSS = VmRSS after the run (anon = RssAnon, i.e. "
      "without file-backed pages such as an LMDB map).")
    p()
    p("<details><summary>per run</summary>")
    p()
    p("| server | run | qps | queries/CPU-s | server CPU s | dnsperf CPU s | other load before (cores) | NOERROR | NXDOMAIN | lost | startup | RSS |")
    p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for server in ORDER + sorted(set(summary) - set(ORDER)):
        for r in per.get(server, []):
            p(f"| {server} | {r['run']} | {fmt_int(r.get('qps'))} | {fmt_int(r.get('qpc'))} | "
              f"{fmt_float(r.get('cpu_s'))} | {fmt_float(r.get('dnsperf_cpu_s'))} | "
              f"{fmt_float(r.get('background_cores'))} | "
              f"{fmt_int(r['rcodes'].get('NOERROR'))} | {fmt_int(r['rcodes'].get('NXDOMAIN'))} | "
              f"{fmt_int(r.get('lost'))} | {fmt_s(r.get('startup_s'))} | {fmt_mib(r.get('rss_kb'))} |")
    p()
    p("</details>")
    with open(os.path.join(rdir, "summary.json"), "w") as f:
        json.dump({"info": info, "summary": summary}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
