#!/usr/bin/python3
"""Charts of a tests/bench/run.sh run, drawn from its results.jsonl only.

    /usr/bin/python3 tests/bench/plot.py results.jsonl OUT_DIR
    /usr/bin/python3 tests/bench/plot.py --self-test

Writes into OUT_DIR, each as .svg and .png:
  headline  one panel per headline figure of issue 14: our node and the seed
            side by side, the value on each bar, ours/seed in the title
  advantage the same figures as "times better than the seed" (seed/ours where
            lower is better, ours/seed where higher is better), with each
            figure's issue-14 target marked
  cross     cross-node (2 nodes + Redis) against a single node of ours at the
            same load: total CPU per relay, one-way p50/p99, peak
  scaling   RSS per idle connection, CPU per connection-second while held and
            (when run) CPU per relay of the paced relay through held rooms,
            against the number of connections, both servers
Every value comes from the JSON; a figure a run did not measure is left out.
Needs Debian's python3-matplotlib (run.sh -p installs it).
"""
import json
import os
import sys

# -- data extraction (pure: no matplotlib needed) ------------------------------


def load_runs(lines):
    """label -> run, from JSON lines (later lines win, as in report.js)."""
    runs = {}
    for line in lines:
        line = line.strip()
        if line:
            r = json.loads(line)
            runs[r.get("label", "")] = r
    return runs


def get(r, path):
    for k in path.split("."):
        if not isinstance(r, dict) or k not in r:
            return None
        r = r[k]
    return r if isinstance(r, (int, float)) and not isinstance(r, bool) else None


def idle_steps(runs, who):
    """[(connections, run)] for ours.idle.N / seed.idle.N (and the older ours.idle), by N."""
    steps = []
    for label, r in runs.items():
        if label == f"{who}.idle" or label.startswith(f"{who}.idle."):
            steps.append((get(r, "connections_requested") or 0, r))
    return sorted(steps, key=lambda s: s[0])


def median_flood(runs, who):
    """The run with the median server CPU per relay among who.flood.* (lower median)."""
    fl = [r for label, r in sorted(runs.items()) if label.startswith(f"{who}.flood")]
    ok = [r for r in fl if get(r, "server.cpu_us_per_relay") is not None]
    if not ok:
        return fl[0] if fl else None
    ok.sort(key=lambda r: get(r, "server.cpu_us_per_relay"))
    return ok[(len(ok) - 1) // 2]


def median_storm(runs, who):
    """The run with the median clients/s among who.storm.N (and the older who.storm; lower median)."""
    st = [r for label, r in sorted(runs.items()) if label == f"{who}.storm" or label.startswith(f"{who}.storm.")]
    ok = [r for r in st if get(r, "clients_per_s") is not None]
    if not ok:
        return st[0] if st else None
    ok.sort(key=lambda r: get(r, "clients_per_s"))
    return ok[(len(ok) - 1) // 2]


# (key, title, unit, lower_is_better, target as "times better than the seed")
FIGURES = [
    ("rss", "RSS per idle connection", "bytes", True, 2.0),
    ("cpu_same", "server CPU per relay, same load", "µs", True, 2.0),
    ("cpu_peak", "server CPU per relay, at peak", "µs", True, 2.0),
    ("cpu_flood", "server CPU per relay, flood", "µs", True, 2.0),
    ("rtt_p50", "round trip p50, same load", "µs", True, 2.0),
    ("rtt_p99", "round trip p99, same load", "µs", True, 1.0),
    ("storm", "storm clients/s", "clients/s", False, 2.0),
    ("peak", "relay peak", "relays/s", False, None),
    ("flood_rate", "flood relays/s", "relays/s", False, None),
    ("flood_p99", "flood one way p99", "µs", True, 1.0),
]


def headline(runs):
    """[{key, title, unit, lower, target, ours, seed}] for every figure both servers have."""
    steps_o, steps_s = idle_steps(runs, "ours"), idle_steps(runs, "seed")
    io = steps_o[-1][1] if steps_o else None
    is_ = steps_s[-1][1] if steps_s else None
    fo, fs = median_flood(runs, "ours"), median_flood(runs, "seed")
    r = runs.get
    values = {
        "rss": (get(io, "server_rss_per_connection_bytes"), get(is_, "server_rss_per_connection_bytes")),
        "cpu_same": (get(r("ours.relay.half"), "server.cpu_us_per_relay"), get(r("seed.relay.half"), "server.cpu_us_per_relay")),
        "cpu_peak": (get(r("ours.relay.peak"), "server.cpu_us_per_relay"), get(r("seed.relay.peak"), "server.cpu_us_per_relay")),
        "cpu_flood": (get(fo, "server.cpu_us_per_relay"), get(fs, "server.cpu_us_per_relay")),
        "rtt_p50": (get(r("ours.relay.half"), "rtt_us.p50"), get(r("seed.relay.half"), "rtt_us.p50")),
        "rtt_p99": (get(r("ours.relay.half"), "rtt_us.p99"), get(r("seed.relay.half"), "rtt_us.p99")),
        "storm": (get(median_storm(runs, "ours"), "clients_per_s"), get(median_storm(runs, "seed"), "clients_per_s")),
        "peak": (get(r("ours.relay.peak"), "relays_per_s"), get(r("seed.relay.peak"), "relays_per_s")),
        "flood_rate": (get(fo, "relays_per_s"), get(fs, "relays_per_s")),
        "flood_p99": (get(fo, "one_way_us.p99"), get(fs, "one_way_us.p99")),
    }
    out = []
    for key, title, unit, lower, target in FIGURES:
        ours, seed = values[key]
        if ours is None or seed is None:
            continue
        out.append(dict(key=key, title=title, unit=unit, lower=lower, target=target, ours=ours, seed=seed))
    return out


def cross(runs):
    """[{key, title, unit, lower, ours: cross-node, seed: single node}] like headline()."""
    r = runs.get
    ch, cp = r("cross.relay.half"), r("cross.relay.peak")
    single = r("ours.relay.crossrate") or r("ours.relay.half")  # a single node at the cross-node rate
    values = [
        ("cpu_same", "total CPU per relay, same load", "µs", True,
         get(ch, "server.cpu_us_per_relay"), get(single, "server.cpu_us_per_relay")),
        ("ow_p50", "one way p50, same load", "µs", True, get(ch, "one_way_us.p50"), get(single, "one_way_us.p50")),
        ("ow_p99", "one way p99, same load", "µs", True, get(ch, "one_way_us.p99"), get(single, "one_way_us.p99")),
        ("peak", "relay peak", "relays/s", False, get(cp, "relays_per_s"), get(r("ours.relay.peak"), "relays_per_s")),
    ]
    return [dict(key=k, title=t, unit=u, lower=lo, target=None, ours=a, seed=b)
            for k, t, u, lo, a, b in values if a is not None and b is not None]


def advantage(fig):
    """How many times better ours is than the seed on this figure (> 1: ours better)."""
    if fig["lower"]:
        return fig["seed"] / fig["ours"] if fig["ours"] > 0 else float("inf")
    return fig["ours"] / fig["seed"] if fig["seed"] > 0 else float("inf")


def scaling(runs):
    """{who: [(connections, rss_bytes, cpu_us_per_conn_s, cpu_us_per_relay_loaded)]}"""
    out = {}
    for who in ("ours", "seed"):
        pts = []
        for n, r in idle_steps(runs, who):
            pts.append((n, get(r, "server_rss_per_connection_bytes"),
                        get(r, "hold.server.cpu_us_per_connection_second"),
                        get(r, "loaded_relay.server.cpu_us_per_relay")))
        if pts:
            out[who] = pts
    return out


def load_note(runs):
    """'other load during the runs: A–B cores' from every run's other_load_cores."""
    xs = []
    for r in runs.values():
        for path in ("other_load_cores", "hold.other_load_cores", "loaded_relay.other_load_cores"):
            v = get(r, path)
            if v is not None:
                xs.append(v)
    if not xs:
        return ""
    return f"other work on the machine during the measured windows: {min(xs):.2f}–{max(xs):.2f} cores"


# -- drawing --------------------------------------------------------------------

OURS, SEED = "#1f77b4", "#ff7f0e"


def fmt(v):
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def save(fig, out_dir, name):
    paths = []
    for ext in ("svg", "png"):
        p = os.path.join(out_dir, f"{name}.{ext}")
        fig.savefig(p, dpi=110, bbox_inches="tight")
        paths.append(p)
    return paths


def draw(runs, out_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    os.makedirs(out_dir, exist_ok=True)
    written = []
    note = load_note(runs)
    thousands = matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:,.0f}" if y >= 10 else f"{y:g}")

    def pairs(figs, names, ratio_name, title, name):
        """One panel per figure, two bars each."""
        cols = min(5, len(figs))
        rows = (len(figs) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 3.4 * rows), squeeze=False)
        for ax in axes.flat[len(figs):]:
            ax.axis("off")
        for ax, f in zip(axes.flat, figs):
            a, b, unit = f["ours"], f["seed"], f["unit"]
            if unit == "µs" and max(a, b) >= 10000:  # latencies of tens of ms read better in ms
                a, b, unit = a / 1000, b / 1000, "ms"
            bars = ax.bar(names, [a, b], color=[OURS, SEED], width=0.6)
            for bar, v in zip(bars, (a, b)):
                ax.annotate(fmt(v), (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                            va="bottom", fontsize=9, xytext=(0, 2), textcoords="offset points")
            ax.set_title(f"{f['title']}\n{ratio_name} {f['ours'] / f['seed']:.2f}× "
                         f"({'lower' if f['lower'] else 'higher'} is better)", fontsize=9)
            ax.set_ylabel(unit, fontsize=8)
            ax.tick_params(labelsize=8)
            ax.yaxis.set_major_formatter(thousands)
            ax.set_ylim(0, max(a, b) * 1.18)
            ax.spines[["top", "right"]].set_visible(False)
        fig.suptitle(title, fontsize=11)
        if note:
            fig.text(0.5, -0.01, note, ha="center", fontsize=8, color="#555")
        fig.tight_layout()
        paths = save(fig, out_dir, name)
        plt.close(fig)
        return paths

    figs = headline(runs)
    if figs:
        written += pairs(figs, ["signal-node", "seed"], "ours/seed",
                         "signal-node vs the Node.js seed peer (tests/bench/run.sh)", "headline")

        fig, ax = plt.subplots(figsize=(8, 0.45 * len(figs) + 1.4))
        names = [f["title"] for f in figs][::-1]
        adv = [advantage(f) for f in figs][::-1]
        colors = [OURS if a >= 1 else "#d62728" for a in adv]
        # A log scale from 1 (as good as the seed): one figure far ahead (the
        # p99 round trip) must not squash the others to slivers.
        ax.set_xscale("log")
        ax.barh(names, [a - 1 for a in adv], left=1, color=colors)
        for i, (a, f) in enumerate(zip(adv, figs[::-1])):
            ax.annotate(f"{a:.2f}×", (a, i), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
            if f["target"] is not None:
                ax.plot([f["target"]] * 2, [i - 0.4, i + 0.4], color="k", lw=2)
        ax.axvline(1.0, color="#888", lw=1)
        ax.set_xlabel("times better than the seed (>1: signal-node better; black tick: issue 14 target)")
        ax.set_xlim(min(0.5, min(adv) / 1.3), max(max(adv), 2.2) * 1.6)
        ticks = [t for t in (0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500) if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{t:g}×" for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.tick_params(labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        ax.set_title("signal-node against the seed, per figure", fontsize=10)
        if note:
            fig.text(0.5, -0.02, note, ha="center", fontsize=8, color="#555")
        fig.tight_layout()
        written += save(fig, out_dir, "advantage")
        plt.close(fig)

    cf = cross(runs)
    if cf:
        written += pairs(cf, ["cross-node", "single node"], "cross/single",
                         "Cross-node (hosts on node A, guests on node B, one Redis) vs one node of ours", "cross")

    sc = scaling(runs)
    if sc:
        panels = [(1, "RSS per idle connection", "bytes"), (2, "server CPU while held", "µs per connection-second")]
        if any(p[3] is not None for pts in sc.values() for p in pts):
            rate = next((get(r, "loaded_relay.target_rate") for r in runs.values()
                         if get(r, "loaded_relay.target_rate")), None)
            panels.append((3, f"server CPU per relay, {rate:,.0f} relays/s paced,\nother connections held", "µs per relay"))
        fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False)
        for ax, (i, title, unit) in zip(axes.flat, panels):
            for who, color, name in (("ours", OURS, "signal-node"), ("seed", SEED, "seed")):
                pts = [(p[0], p[i]) for p in sc.get(who, []) if p[i] is not None]
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=color, label=name)
                    for x, y in pts:
                        ax.annotate(fmt(y), (x, y), xytext=(0, 5), textcoords="offset points", ha="center",
                                    fontsize=8, color=color)
            xs = sorted({p[0] for pts in sc.values() for p in pts})
            ax.set_xticks(xs, [f"{x:,}" for x in xs], fontsize=8)
            ax.yaxis.set_major_formatter(thousands)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("connections held")
            ax.set_ylabel(unit)
            ax.set_ylim(bottom=0)
            ax.margins(y=0.2)
            ax.legend(fontsize=8)
            ax.spines[["top", "right"]].set_visible(False)
        fig.suptitle("Per-connection cost by connection count (a fresh server per point)", fontsize=11)
        if note:
            fig.text(0.5, -0.02, note, ha="center", fontsize=8, color="#555")
        fig.tight_layout()
        written += save(fig, out_dir, "scaling")
        plt.close(fig)
    return written


# -- self-test of the extraction --------------------------------------------------


def self_test():
    def line(label, **kw):
        return json.dumps(dict(label=label, **kw))

    lines = [
        line("ours.relay.peak", relays_per_s=30000, server=dict(cpu_us_per_relay=30.0), other_load_cores=0.1),
        line("seed.relay.peak", relays_per_s=20000, server=dict(cpu_us_per_relay=40.0)),
        line("ours.relay.half", rtt_us=dict(p50=500, p99=4000), server=dict(cpu_us_per_relay=60.0)),
        line("seed.relay.half", rtt_us=dict(p50=2000, p99=3000), server=dict(cpu_us_per_relay=80.0)),
        line("ours.idle.2000", connections_requested=2000, server_rss_per_connection_bytes=11000,
             hold=dict(server=dict(cpu_us_per_connection_second=3.0), other_load_cores=0.9)),
        line("ours.idle.19800", connections_requested=19800, server_rss_per_connection_bytes=10000,
             hold=dict(server=dict(cpu_us_per_connection_second=3.5)),
             loaded_relay=dict(target_rate=4000, server=dict(cpu_us_per_relay=55.0))),
        line("seed.idle.19800", connections_requested=19800, server_rss_per_connection_bytes=6000,
             hold=dict(server=dict(cpu_us_per_connection_second=2.5))),
        line("ours.flood.1", relays_per_s=9000, server=dict(cpu_us_per_relay=25.0), one_way_us=dict(p99=1)),
        line("ours.flood.2", relays_per_s=8000, server=dict(cpu_us_per_relay=21.0), one_way_us=dict(p99=2)),
        line("ours.flood.3", relays_per_s=7000, server=dict(cpu_us_per_relay=30.0), one_way_us=dict(p99=3)),
        line("seed.flood.1", relays_per_s=9500, server=dict(cpu_us_per_relay=16.0), one_way_us=dict(p99=4)),
        line("ours.storm", clients_per_s=2500, ok=True),
    ]
    runs = load_runs(lines)
    figs = {f["key"]: f for f in headline(runs)}
    assert figs["rss"]["ours"] == 10000 and figs["rss"]["seed"] == 6000, figs["rss"]  # largest step
    assert figs["cpu_same"]["ours"] == 60.0 and figs["cpu_peak"]["seed"] == 40.0
    assert figs["cpu_flood"]["ours"] == 25.0, "median of 21, 25, 30"
    assert figs["flood_p99"]["ours"] == 1
    assert "storm" not in figs, "the seed's storm is missing: no panel"
    assert abs(advantage(figs["cpu_same"]) - 80 / 60) < 1e-9
    assert abs(advantage(figs["peak"]) - 1.5) < 1e-9
    sc = scaling(runs)
    assert [p[0] for p in sc["ours"]] == [2000, 19800]
    assert sc["ours"][1] == (19800, 10000, 3.5, 55.0)
    assert sc["seed"] == [(19800, 6000, 2.5, None)]
    assert load_note(runs).startswith("other work on the machine during the measured windows: 0.10–0.90 cores")
    assert get({"a": {"b": True}}, "a.b") is None, "booleans are not figures"
    assert cross(runs) == [], "no cross-node runs: no cross chart"
    runs2 = load_runs(lines + [
        line("cross.relay.half", server=dict(cpu_us_per_relay=200.0), one_way_us=dict(p50=2000, p99=9000)),
        line("ours.relay.crossrate", server=dict(cpu_us_per_relay=50.0), one_way_us=dict(p50=200, p99=900)),
    ])
    runs3 = load_runs([l for l in lines if '"ours.storm"' not in l] + [
        line("ours.storm.1", clients_per_s=9000), line("ours.storm.2", clients_per_s=7000),
        line("ours.storm.3", clients_per_s=8000), line("seed.storm.1", clients_per_s=4000),
    ])
    sf = {f["key"]: f for f in headline(runs3)}
    assert sf["storm"]["ours"] == 8000 and sf["storm"]["seed"] == 4000, "median of the storm runs"
    cf = {f["key"]: f for f in cross(runs2)}
    assert cf["cpu_same"]["ours"] == 200.0 and cf["cpu_same"]["seed"] == 50.0, "single node at the cross rate"
    assert cf["ow_p99"]["seed"] == 900 and "peak" not in cf
    print("plot.py self-test: all checks passed")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        sys.exit(0)
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1], encoding="utf-8") as fh:
        runs = load_runs(fh)
    paths = draw(runs, sys.argv[2])
    if not paths:
        print("plot.py: nothing to chart in these results (no figure measured on both sides)", file=sys.stderr)
    for p in paths:
        print(p)
