"""spikecodec.benchmarks: the pure parts (parsers, window selection, report rendering). Fast, no model."""
from __future__ import annotations

import shutil
import struct
import subprocess

import numpy as np
import pytest
import soundfile as sf

from spikecodec.benchmarks import _plot_rows, classical, longfile, report
from spikecodec.benchmarks.common import CLIP_SAMPLES, SR, stats


# ----------------------------------------------------------------------------- Ogg / MP3 parsing
def _ogg_page(packets: list[bytes], seq: int) -> bytes:
    lacing, body = b"", b""
    for p in packets:
        n = len(p)
        lacing += b"\xff" * (n // 255) + bytes([n % 255])
        body += p
    head = b"OggS" + bytes([0, 0]) + struct.pack("<qIII", 0, 1, seq, 0) + bytes([len(lacing)])
    return head + lacing + body


def test_ogg_packets_hand_made():
    pkts = [b"OpusHead" + b"\x01" * 11, b"OpusTags" + b"\x00" * 600, bytes([0x08]) + b"a" * 299, b"\xf8" + b"b" * 9]
    data = _ogg_page(pkts[:1], 0) + _ogg_page(pkts[1:2], 1) + _ogg_page(pkts[2:], 2)
    assert classical.opus_packets(data) == pkts
    assert classical.opus_payload_bytes(data) == 300 + 10      # OpusHead and OpusTags skipped
    assert classical.opus_modes(data) == {"SILK-NB": 1, "CELT-FB": 1}


def test_ogg_rejects_garbage():
    with pytest.raises(ValueError):
        classical.opus_packets(b"RIFF" + b"\0" * 40)


@pytest.mark.skipif(shutil.which("opusenc") is None, reason="opusenc not installed (apt-get install opus-tools)")
def test_opus_payload_on_real_opusenc_output(tmp_path):
    t = np.arange(SR) / SR
    sf.write(tmp_path / "a.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR)
    subprocess.run(classical.encode_cmd("opus", 12, str(tmp_path / "a.wav"), str(tmp_path / "a.opus")), check=True)
    data = (tmp_path / "a.opus").read_bytes()
    pkts = classical.opus_packets(data)
    assert pkts[0].startswith(b"OpusHead") and pkts[1].startswith(b"OpusTags")
    assert 50 <= len(pkts) - 2 <= 53                           # 1 s of 20 ms packets (+ pre-skip)
    # every byte is either a packet byte or a page-header/lacing byte
    pos, overhead = 0, 0
    while pos < len(data):
        nseg = data[pos + 26]
        overhead += 27 + nseg
        pos += 27 + nseg + sum(data[pos + 27:pos + 27 + nseg])
    assert sum(map(len, pkts)) + overhead == len(data)
    assert 0 < classical.opus_payload_bytes(data) < len(data) - 512   # opusenc pads OpusTags to >= 512 bytes


def test_mp3_payload_strips_id3():
    frames = b"\xff\xfb" + b"x" * 998
    id3v2 = b"ID3\x04\x00\x00" + bytes([0, 0, 1, 0]) + b"t" * 128      # syncsafe size 128
    id3v1 = b"TAG" + b"y" * 125
    assert classical.mp3_payload_bytes(id3v2 + frames + id3v1) == len(frames)
    assert classical.mp3_payload_bytes(frames) == len(frames)


# ----------------------------------------------------------------------------- boundary windows
def test_boundary_windows_categories():
    n, win = 10 * CLIP_SAMPLES, 11025
    seam = CLIP_SAMPLES - 50000
    w = longfile.boundary_windows(n, seam_first=seam, win=win)
    assert all(b - a == win for ws in w.values() for a, b in ws)
    assert [a + win // 2 for a, _ in w["group boundary"]] == [4 * CLIP_SAMPLES, 8 * CLIP_SAMPLES]
    assert [a + win // 2 for a, _ in w["clip boundary"]] == [k * CLIP_SAMPLES for k in (1, 2, 3, 5, 6, 7, 9)]
    assert [a + win // 2 for a, _ in w["tile seam"]] == [seam + k * CLIP_SAMPLES for k in range(10)]
    marks = np.array([k * CLIP_SAMPLES for k in range(1, 10)] + [seam + k * CLIP_SAMPLES for k in range(10)])
    for a, b in w["elsewhere"]:
        assert a % win == 0 and b <= n
        assert not np.any((marks >= a - win // 2) & (marks < b + win // 2))
    # the grid windows left out are only those near a mark
    assert len(w["elsewhere"]) > 0.6 * (n // win)


def test_boundary_windows_short_signal():
    w = longfile.boundary_windows(1000, win=100)
    assert w["clip boundary"] == w["group boundary"] == w["tile seam"] == []
    assert len(w["elsewhere"]) == 10


def test_window_lmd_and_verdict():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(3 * CLIP_SAMPLES)).astype(np.float32)
    w = longfile.boundary_windows(len(x), seam_first=CLIP_SAMPLES - 50000)
    same = longfile.window_lmd(x, x, w, max_per_category=5)
    assert all(s["mean"] == 0 for s in same.values() if s["n"])
    assert same["elsewhere"]["n"] == 5
    v = longfile.verdict({"a": {"n": 10, "mean": 0.50, "sem": 0.01}, "elsewhere": {"n": 99, "mean": 0.49, "sem": 0.01}}, "a")
    assert v["no_worse"] and abs(v["diff"] - 0.01) < 1e-12
    v = longfile.verdict({"a": {"n": 10, "mean": 0.60, "sem": 0.01}, "elsewhere": {"n": 99, "mean": 0.49, "sem": 0.01}}, "a")
    assert v["no_worse"] is False
    assert longfile.verdict({"a": {"n": 1, "mean": 1, "sem": None}, "elsewhere": None}, "a")["no_worse"] is None


def test_tiling_starts_mid_clip(tmp_path):
    paths = []
    for k in range(2):
        p = tmp_path / f"c{k}.flac"
        sf.write(p, np.full(CLIP_SAMPLES, 0.1 * (k + 1), np.float32), SR, subtype="PCM_16")
        paths.append(str(p))
    y = np.concatenate(list(longfile.tiled_clips(paths, 3 * CLIP_SAMPLES)))
    assert len(y) == 3 * CLIP_SAMPLES
    seam = CLIP_SAMPLES - longfile.SEAM_OFFSET
    assert abs(y[seam - 1] - 0.1) < 1e-3 and abs(y[seam] - 0.2) < 1e-3
    assert longfile.interleave(["p1", "p2", "p3"], ["m1"]) == ["p1", "m1", "p2", "p3"]


# ----------------------------------------------------------------------------- report
def _set(kbps, lmd, payload=None, visqol=None, n=3):
    rng = np.random.default_rng(int(kbps * 100))
    m = {"si_snr": stats(rng.normal(1, 1, n)), "lmd": stats(rng.normal(lmd, 0.05, n)),
         "mrstft": stats(rng.normal(2, 0.1, n))}
    if visqol:
        m["visqol"] = stats(rng.normal(visqol, 0.2, n))
    return {"clips": n, "kbps": stats(rng.normal(kbps, 0.1, n)),
            "payload_kbps": stats(rng.normal(payload, 0.1, n)) if payload else None, "metrics": m,
            "density": 0.07, "levels": stats([13] * n), "align_note": "global lag 0 (100% of files agree)",
            "modes": None}


def fake_result(visqol=True):
    codecs = [{"family": "mu", "label": f"mu level {lv}", "level": lv, "quality_floor": None,
               "sets": {s: _set(4 - lv / 10, 0.5 + lv / 50, visqol=visqol and 3.0) for s in ("piano", "music")}}
              for lv in (8, 13, 20)]
    codecs.append({"family": "mu", "label": "mu quality floor 0.6", "level": None, "quality_floor": 0.6,
                   "sets": {s: _set(2.5, 0.6, visqol=visqol and 3.1) for s in ("piano", "music")}})
    codecs.append({"family": "opus", "label": "Opus 6 kbps", "kbps_nominal": 6, "level": None, "quality_floor": None,
                   "sets": {s: {**_set(7.3, 0.68, payload=5.5, visqol=visqol and 3.08), "modes": {"SILK-NB": 894}}
                            for s in ("piano", "music")}})
    proc = {"encode_s": 2.0, "decode_s": 2.5, "encode_xrt": 2.97, "decode_xrt": 2.38, "encode_peak_rss_mb": 400.0,
            "decode_peak_rss_mb": 420.0}
    lf_windows = {"clip boundary": {"n": 450, "mean": 0.65, "std": 0.2, "sem": 0.009},
                  "group boundary": {"n": 150, "mean": 0.6, "std": 0.2, "sem": 0.016},
                  "tile seam": {"n": 605, "mean": 0.7, "std": 0.2, "sem": 0.008},
                  "elsewhere": {"n": 5000, "mean": 0.6, "std": 0.2, "sem": 0.003}}
    return {
        "meta": {"date": "2026-01-01 00:00 UTC", "quick": False, "threads": 2, "visqol": visqol,
                 "clips_per_set": "16 piano, 12 music", "dev_set": "../shared/eval/dev", "sets": ["piano", "music"],
                 "command": ".venv/bin/python -m spikecodec.benchmarks", "wall_s": 1234.0,
                 "machine": {"cpu": "Test CPU 9000", "cores": 2, "python": "3.11", "torch": "2.x", "commit": "abc1234",
                             "dirty": False},
                 "tools": {"opusenc": "opusenc 0.2", "ffmpeg": "ffmpeg 5.1"}, "speed_clip": "bach_bwv140_7",
                 "speed_clip_s": CLIP_SAMPLES / SR, "speed_repeat": 2, "model_speed_s": 60.0,
                 "models": [{"name": "mu", "model_id": "0123456789abcdef", "units": 80, "hop": 512,
                             "sample_rate": 22050, "levels": 32, "default_level": 13, "parameters": 5_000_000,
                             "steps": 2500}]},
        "notes": ["model `free` skipped: unknown model 'free'"],
        "codecs": codecs,
        "speed": [{"label": "mu level 13 (default)", "family": "mu", "process": proc,
                   "model_only": {"encode_xrt": 150.0, "decode_xrt": 60.0}},
                  {"label": "Opus 6 kbps", "family": "opus", "process": proc}],
        "container_clip": {"model": "mu", "bytes": 2000, "pack_s": 1e-4, "unpack_s": 1e-4, "encode_s": 0.05,
                           "decode_s": 0.1, "pack_share_inprocess": 0.002, "unpack_share_inprocess": 0.001,
                           "pack_share_cli": 5e-5, "unpack_share_cli": 4e-5},
        "long_file": {"model": "mu", "seconds": 3600.0, "input_bytes": 80e6, "spk_bytes": 1_500_000, "kbps": 3.3,
                      "encode_s": 40.0, "decode_s": 80.0, "encode_xrt": 90.0, "decode_xrt": 45.0,
                      "encode_peak_rss_mb": 500.0, "decode_peak_rss_mb": 600.0, "pack_s": 0.05, "unpack_s": 0.06,
                      "pack_share": 0.00125, "unpack_share": 0.00075, "container_share": 0.0009,
                      "windows": lf_windows, "window_s": 0.5, "seam_first_sample": 81072,
                      "verdicts": {c: longfile.verdict(lf_windows, c) for c in ("clip boundary", "group boundary",
                                                                                 "tile seam")}},
        "plots": {"rate_quality": "bench-rate-quality.png", "rasters": {"mu": "bench-raster-mu.png"}},
    }


def test_report_renders_every_section():
    md = report.render(fake_result())
    for needle in ("# Benchmarks", "2026-01-01", "Test CPU 9000, 2 cores", "`abc1234`",
                   "`.venv/bin/python -m spikecodec.benchmarks`", "### piano", "### music", "| mu level 13 |",
                   "| Opus 6 kbps |", "SILK-NB 100%", "![rate-quality](img/bench-rate-quality.png)",
                   "![events mu](img/bench-raster-mu.png)", "## Long file", "| group boundary | 150 |",
                   "model `free` skipped", "(context: content change", "`mu` (id `0123456789abcdef`, 5.00 M parameters", "levels 0..31, default 13",
                   "Under 1 %: **yes**", "| tile seam | 605 |", "| clip boundary | 450 | 0.6500 ± 0.2000 | +0.0500 ± 0.0186 | **NO** |"):
        assert needle in md, needle
    # mean ± std (min-max) cells
    assert any(" ± " in line and "(" in line for line in md.splitlines() if line.startswith("| mu level 8"))
    # a table row has as many cells as its header
    lines = md.splitlines()
    i = lines.index("### piano") + 2
    assert lines[i].count("|") == lines[i + 2].count("|")


def test_report_quick_and_without_long_file():
    r = fake_result(visqol=False)
    r["meta"]["quick"] = True
    r["long_file"] = None
    r["container_clip"] = None
    md = report.render(r)
    assert "QUICK run" in md and "## Long file" not in md


def test_fmt_stats():
    assert report.fmt_stats({"mean": 0.5, "std": 0.1, "min": 0.4, "max": 0.6, "n": 3}) == "0.500 ± 0.100 (0.400-0.600)"
    assert report.fmt_stats(None) == "-"
    assert report.fmt_stats({"mean": 0.5, "std": 0.0, "min": 0.5, "max": 0.5, "n": 1}) == "0.500"


def test_rate_quality_plot(tmp_path):
    pytest.importorskip("matplotlib")
    from spikecodec.benchmarks import plots
    for vq in (True, False):
        p = tmp_path / f"rq{vq}.png"
        plots.rate_quality(_plot_rows(fake_result(visqol=vq)["codecs"]), str(p))
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_model_family_is_drawn_with_its_own_style():
    """A model released after the style table (mu8, sparse4, ...) is plotted too, in a colour of its own."""
    from spikecodec.benchmarks import plots
    rows = [{"family": f} for f in ("opus", "mu8", "free", "sparse4", "mp3", "mu8")]
    drawn = plots.families_and_styles(rows)
    assert [f for f, _ in drawn] == ["free", "mu8", "sparse4", "mp3", "opus"]
    colours = [style[0] for _, style in drawn]
    assert len(set(colours)) == len(colours)
