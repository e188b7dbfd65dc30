"""The benchmark figures (matplotlib Agg canvas, no pyplot state)."""
from __future__ import annotations

import numpy as np

STYLE = {"free": ("#2ca02c", "s"), "sparse": ("#ff7f0e", "D"), "mu": ("#1f77b4", "o"), "mu2": ("#d62728", "o"),
         "opus": ("#7f7f7f", "^"), "mp3": ("#9467bd", "v")}
ANCHORS = ("opus", "mp3")
# Models released after the table above (every family is a model name) take the next of these in turn.
SPARE_COLOURS = ("#d62728", "#17becf", "#8c564b", "#e377c2", "#bcbd22")


def families_and_styles(rows: list[dict]) -> list[tuple[str, tuple[str, str]]]:
    """Every family in rows, spikecodec models first, each with its (colour, marker)."""
    families = sorted({r["family"] for r in rows}, key=lambda f: (f in ANCHORS, f))
    spare = iter(c for c in SPARE_COLOURS if c not in {STYLE[f][0] for f in families if f in STYLE})
    return [(f, STYLE[f] if f in STYLE else (next(spare, "#000000"), "o")) for f in families]


def _figure(w_in: float, h_in: float, dpi: int = 110):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(w_in, h_in), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


SCORE_METRICS = (("lmd", "log-mel distance (lower is better)", "LMD"),
                 ("visqol", "ViSQOL MOS-LQO (higher is better)", "ViSQOL"))
# fidelity.py's measures of what the listener hears: which notes sound, and (piano) which notes a transcriber finds
NOTE_METRICS = (("chroma", "chroma similarity (higher is better)", "chroma"),
                ("note_f1", "note F1 by transcription (higher is better)", "note F1"))


def rate_quality(rows: list[dict], path: str, sets=("piano", "music"), metrics=SCORE_METRICS) -> None:
    """kbps (x) against two measures (y; default LMD and ViSQOL), one point per codec setting, one column per set.

    rows: {"family", "label", "level", "quality_floor", "sets": {set: {"kbps", "payload_kbps"?, metric: value}}}
    """
    fig = _figure(11, 8)
    axes = fig.subplots(2, len(sets), squeeze=False)
    for j, name in enumerate(sets):
        for i, (metric, ylabel, title) in enumerate(metrics):
            ax = axes[i][j]
            plotted = False
            for fam, (color, marker) in families_and_styles(rows):
                rs = [r for r in rows if r["family"] == fam and name in r["sets"]
                      and r["sets"][name].get(metric) is not None]
                if not rs:
                    continue
                line = [r for r in rs if r.get("quality_floor") is None]
                line.sort(key=lambda r: r["sets"][name]["kbps"])
                xs = [r["sets"][name]["kbps"] for r in line]
                ys = [r["sets"][name][metric] for r in line]
                label = {"opus": "Opus (file kbps)", "mp3": "MP3"}.get(
                    fam, f"spikecodec {fam}" + (" (levels)" if any(r.get("level") is not None for r in rs) else ""))
                ax.plot(xs, ys, marker=marker, color=color, ls="-" if len(xs) > 1 else "none", label=label, ms=6)
                for r, x, y in zip(line, xs, ys):
                    tag = (str(r["level"]) if r.get("level") is not None else
                           f"{r['kbps_nominal']}k" if r.get("kbps_nominal") else "")
                    if tag:
                        ax.annotate(tag, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)
                if fam == "opus":
                    px = [r["sets"][name].get("payload_kbps") for r in line]
                    if all(p is not None for p in px):
                        ax.plot(px, ys, marker=marker, color=color, ls=":", mfc="none",
                                label="Opus (payload kbps)", ms=6)
                for r in rs:
                    if r.get("quality_floor") is not None:
                        ax.plot([r["sets"][name]["kbps"]], [r["sets"][name][metric]], marker="*", ms=13,
                                color=color, ls="none", label=f"spikecodec {fam} quality floor {r['quality_floor']}")
                plotted = True
            ax.set_title(f"{name}: {title}")
            ax.set_xlabel("kbit/s (real: file bits / duration; Opus also payload only)", fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.grid(alpha=0.3)
            if metric == "visqol":
                ax.axhline(4.732, color="0.6", lw=0.8, ls="--")
            if not plotted:
                why = {"visqol": " (--no-visqol / quick run)", "note_f1": " (note onsets exist for piano only)"}
                ax.text(0.5, 0.5, "not measured" + why.get(metric, ""),
                        ha="center", va="center", transform=ax.transAxes, color="0.4")
            elif i == 0 and j == 0:
                ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, format="png")


def raster(panels: list[dict], path: str) -> None:
    """Event rasters (units x frames) of one clip, side by side (one panel per level)."""
    fig = _figure(4.2 * len(panels) + 0.6, 3.8)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, p in zip(axes, panels):
        z = np.asarray(p["z"], bool)
        u, t = np.nonzero(z)
        ax.scatter(t * p["frame_s"], u, marker="|", s=4, linewidths=0.6, c="k", rasterized=True)
        ax.set_xlim(0, z.shape[1] * p["frame_s"])
        ax.set_ylim(-0.5, z.shape[0] - 0.5)
        lv = f", level {p['level']}" if p.get("level") is not None else ""
        ax.set_title(f"{p['model']}{lv}: {p['density']:.3f} density, {p['kbps']:.2f} kbps", fontsize=9)
        ax.set_xlabel(f"time (s), {z.shape[1]} frames")
        ax.set_ylabel("unit")
    fig.suptitle(f"spikecodec events, clip {panels[0]['clip']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png")
