"""``spikecodec info``'s view of a .spk file: :class:`SpkInfo` as a JSON-ready dict and as text.

Beside the container it describes, and like it free of torch and of the command line.
"""
from __future__ import annotations

from .container import SpkInfo


def damage_ranges(damaged) -> str:
    """Lost clips as time ranges per channel, adjacent clips merged into one range
    ("ch0 12.00-283.00 s" rather than one entry per clip)."""
    runs: list = []  # [channel, last clip, start, end]
    for ch, clip, start, end in sorted(damaged, key=lambda d: (d[0], d[1])):
        if runs and runs[-1][0] == ch and clip == runs[-1][1] + 1:
            runs[-1][1], runs[-1][3] = clip, end
        else:
            runs.append([ch, clip, start, end])
    return ", ".join(f"ch{ch} {start:.2f}-{end:.2f} s" for ch, _, start, end in runs)


def info_dict(info: SpkInfo, path: str) -> dict:
    """``info`` (from ``inspect_spk``) as one JSON-ready dict: the header, each clip, the bits by part and
    by layout, and the damaged clips."""
    d = {"path": path, **{k: v for k, v in info.to_dict().items() if k != "path"}}
    d["damaged"] = [list(x) for x in info.damaged]
    d["bits_by_part"] = info.bits_by_part
    d["bits_by_layout"] = info.bits_by_layout
    d["clips_by_layout"] = info.clips_by_layout
    d["num_groups"] = info.num_groups
    return d


def _fmt_int(n) -> str:
    return f"{n:,}".replace(",", " ") if isinstance(n, int) else str(n)


_PART_NAMES = {
    "file_header": "file header",
    "group_headers": "group headers (CRC)",
    "clip_headers": "clip headers",
    "payload": "payload",
    "padding": "padding",
    "damaged": "damaged/unreadable",
}


def render_text(d: dict) -> str:
    """The text ``spikecodec info`` prints for :func:`info_dict`'s ``d``."""
    clips = d.get("clips") or []
    total = int(d.get("total_bits") or 0)
    units = d.get("units") or 1

    def pct(x):
        return f"{100.0 * x / total:5.1f} %" if total else "    -"

    lines = [f"{d['path']}:"]
    lines.append(f"  format          spk v{d.get('format_version')}")
    lines.append(f"  model           {d.get('model')} (id {d.get('model_id')})")
    dur = d.get("duration_s") or 0.0
    lines.append(f"  source          {d.get('channels')} ch, {d.get('source_sample_rate')} Hz, "
                 f"{_fmt_int(d.get('num_samples'))} samples, {dur:.3f} s")
    lines.append(f"  model rate      {d.get('model_sample_rate')} Hz, hop {d.get('hop')}, "
                 f"{units} units, {d.get('frames_per_clip')} frames per clip")
    lines.append(f"  size            {_fmt_int(total // 8)} bytes = {_fmt_int(total)} bits, "
                 f"{d.get('bitrate_kbps', 0.0):.3f} kbps")
    lines.append("  clips")
    lines.append("    ch  clip  frames   events  density  layout  level   payload  header    ideal")
    for c in clips:
        frames = c.get("frames") or 0
        dens = (c.get("events") or 0) / (frames * units) if frames else 0.0
        lvl = "-" if c.get("level") is None else str(c.get("level"))
        ideal = c.get("ideal_bits")
        ideal = "-" if ideal is None else f"{ideal:.0f}"
        lines.append(f"    {c.get('channel'):>2}  {c.get('index'):>4}  {frames:>6}  {c.get('events'):>7}  "
                     f"{dens:>7.3f}  {c.get('layout'):<6}  {lvl:>5}  {c.get('payload_bits'):>8}  "
                     f"{c.get('header_bits'):>6}  {ideal:>7}")
    parts = d["bits_by_part"]
    lines.append("  bits by part")
    for k, v in parts.items():
        if v or k in ("file_header", "clip_headers", "payload"):
            lines.append(f"    {_PART_NAMES.get(k, k):<22} {_fmt_int(int(v)):>12}  {pct(int(v))}")
    # bits_by_layout (text and JSON alike): the bits of the clip records in each layout, clip headers + payload
    lines.append("  bits by layout (clip headers + payload)")
    by: dict = {}
    for c in clips:
        b = by.setdefault(c.get("layout"), [0, 0, 0])
        b[0] += 1
        b[1] += int(c.get("events") or 0)
        b[2] += int(c.get("payload_bits") or 0) + int(c.get("header_bits") or 0)
    for lay, bits in (d.get("bits_by_layout") or {}).items():
        if lay in by:
            by[lay][2] = int(bits)
    for lay, (n, ev, bits) in sorted(by.items(), key=lambda kv: -kv[1][2]):
        lines.append(f"    {lay:<6} {n:>6} clips {_fmt_int(ev):>11} events {_fmt_int(bits):>12} bits  {pct(bits)}")
    ideal = [c["ideal_bits"] for c in clips if c.get("ideal_bits") is not None]
    if ideal:
        real = sum(int(c.get("payload_bits") or 0) for c in clips)
        lines.append(f"  entropy bound   {_fmt_int(round(sum(ideal)))} bits: the context model's ideal code length of"
                     f" z (the ctx layout's model), beside {_fmt_int(real)} payload bits spent")
    if d.get("damaged"):
        lines.append(f"  DAMAGED         {len(d['damaged'])} clip(s) lost: {damage_ranges(d['damaged'])}")
    return "\n".join(lines)
