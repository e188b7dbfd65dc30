"""`spikecodec info`: header and bit breakdown, --json, damaged/bad files, and no torch import.

These tests build .spk files with the bitstream directly, so they need neither the model nor torch.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from conftest import REPO

JSON_KEYS = {
    "path", "format_version", "model", "model_id", "source_sample_rate", "model_sample_rate", "channels",
    "num_samples", "duration_s", "units", "frames_per_clip", "hop", "total_bits", "bitrate_kbps", "clips",
}
CLIP_KEYS = {"channel", "index", "frames", "events", "layout", "level", "payload_bits", "header_bits"}


@pytest.fixture
def stereo_spk(tmp_path, spk_bytes):
    p = tmp_path / "stereo.spk"
    p.write_bytes(spk_bytes(channels=2, seconds=12.0, sr=44100))  # > 1 clip per channel
    return p


def test_info_text_shows_header_and_breakdown(cli_run, stereo_spk):
    r = cli_run("info", stereo_spk)
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    assert str(stereo_spk) in out
    for word in ("44100", "2 ch", "default", "kbps", "bits by part", "payload", "clip headers", "bits by layout"):
        assert word in out, word
    assert r.stderr == ""


def test_info_json_fields(cli_run, stereo_spk):
    from spikecodec.bitstream import LAYOUTS_V2 as LAYOUTS

    r = cli_run("info", "--json", stereo_spk)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    d = json.loads(lines[0])
    assert JSON_KEYS <= set(d), JSON_KEYS - set(d)
    assert d["path"] == str(stereo_spk)
    assert d["channels"] == 2 and d["source_sample_rate"] == 44100 and d["num_samples"] == 12 * 44100
    assert d["model"] == "default"
    assert d["total_bits"] == 8 * stereo_spk.stat().st_size
    assert d["duration_s"] == pytest.approx(12.0)
    assert d["bitrate_kbps"] == pytest.approx(d["total_bits"] / 12.0 / 1000, rel=1e-3)
    assert len(d["clips"]) >= 4
    assert {c["channel"] for c in d["clips"]} == {0, 1}
    for c in d["clips"]:
        assert CLIP_KEYS <= set(c)
        assert c["layout"] in LAYOUTS
        assert c["level"] is None  # no mu levels in this file
        assert c["payload_bits"] >= 0 and c["header_bits"] >= 0
    frames = [sum(c["frames"] for c in d["clips"] if c["channel"] == ch) for ch in (0, 1)]
    assert frames[0] == frames[1] > 0


def test_info_json_levels(cli_run, tmp_path, spk_bytes):
    p = tmp_path / "mu.spk"
    p.write_bytes(spk_bytes(levels=7))
    r = cli_run("info", "--json", p)
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert all(c["level"] == 7 for c in d["clips"])


def test_info_json_one_line_per_file(cli_run, tmp_path, spk_bytes):
    paths = []
    for i, ch in enumerate((1, 2, 3)):
        p = tmp_path / f"f{i}.spk"
        p.write_bytes(spk_bytes(channels=ch, seconds=0.5, seed=i))
        paths.append(p)
    r = cli_run("info", "--json", *paths)
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["path"] for row in rows] == [str(p) for p in paths]
    assert [row["channels"] for row in rows] == [1, 2, 3]


def test_info_stdin(cli_run, spk_bytes):
    r = cli_run("info", "--json", "-", input=spk_bytes())
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["path"] == "<stdin>"


def test_info_bad_files_one_line_each_and_others_still_shown(cli_run, tmp_path, spk_bytes):
    good = tmp_path / "good.spk"
    good.write_bytes(spk_bytes())
    data = spk_bytes()
    truncated = tmp_path / "truncated.spk"
    truncated.write_bytes(data[:10])
    garbage = tmp_path / "garbage.spk"
    garbage.write_bytes(b"this is not a spike file at all" * 10)
    empty = tmp_path / "empty.spk"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.spk"
    r = cli_run("info", "--json", truncated, garbage, good, empty, missing, tmp_path)
    assert r.exit_code == 1
    assert [json.loads(x)["path"] for x in r.stdout.splitlines()] == [str(good)]
    errs = r.stderr.strip().splitlines()
    assert len(errs) == 5, r.stderr
    for e, p in zip(errs, (truncated, garbage, empty, missing, tmp_path)):
        assert e.startswith(f"spikecodec: error: {p}: "), e
    assert "Traceback" not in r.stderr


def test_info_damaged_clip_reports_time_range(cli_run, tmp_path, spk_bytes):
    from spikecodec.bitstream import read_spk

    data = bytearray(spk_bytes(channels=2, seconds=12.0, sr=16000, density=0.2))
    # Corrupt a byte near the end: the last clip's group fails its check, the rest is fine.
    data[-3] ^= 0xFF
    spk = read_spk(bytes(data))
    assert spk.damaged, "the bitstream should report the corrupted clip"
    p = tmp_path / "damaged.spk"
    p.write_bytes(bytes(data))
    r = cli_run("info", p)
    assert r.exit_code == 1
    assert "damaged" in r.stderr and " s" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    ch, _clip, start, end = spk.damaged[0]
    assert f"{start:.2f}-{end:.2f} s" in r.stderr
    r = cli_run("info", "--json", p)
    assert r.exit_code == 1
    assert json.loads(r.stdout)["damaged"]


def test_info_does_not_import_torch(tmp_path, spk_bytes):
    p = tmp_path / "x.spk"
    p.write_bytes(spk_bytes(channels=2))
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from spikecodec.cli import cli\n"
        f"r = CliRunner().invoke(cli, ['info', '--json', {str(p)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        f"r = CliRunner().invoke(cli, ['info', {str(p)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_info_entry_point_is_fast_and_torch_free(tmp_path, spk_bytes):
    p = tmp_path / "x.spk"
    p.write_bytes(spk_bytes())
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "spikecodec", "info", "--json", str(p)],
        capture_output=True, text=True, cwd=REPO, timeout=120)
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "torch" not in imported and not any(m.startswith("torch.") for m in imported)
    assert "tqdm" not in imported  # progress bars are imported only when shown
    assert elapsed < 5.0  # "well under a second" on an idle machine; generous on a shared one


VECTORS = REPO / "formats" / "vectors"


def _text_bits_by_layout(text: str) -> dict:
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.strip().startswith("bits by layout"))
    out = {}
    for line in lines[i + 1:]:
        parts = line.split()
        if len(parts) < 7 or parts[2] != "clips":
            break
        j = parts.index("events")
        out[parts[0]] = int("".join(parts[j + 1:parts.index("bits", j)]))
    return out


@pytest.mark.parametrize("name", ["multiclip_short", "stereo_levels", "v2_mixed", "v2_ctx"])
def test_info_text_and_json_agree_on_bits_by_layout(cli_run, name):
    """One meaning for bits_by_layout: the bits of the clip records in each layout, clip header + payload
    (issue 10: the text said dense = 136 on multiclip_short.spk and the JSON 120)."""
    p = VECTORS / f"{name}.spk"
    d = json.loads(cli_run("info", "--json", p).stdout)
    text = _text_bits_by_layout(cli_run("info", p).stdout)
    used = {k: v for k, v in d["bits_by_layout"].items() if v}
    assert text == used
    for lay, bits in used.items():
        assert bits == sum(c["payload_bits"] + c["header_bits"] for c in d["clips"] if c["layout"] == lay)
    if name == "multiclip_short":
        assert used["dense"] == 136


def test_info_v2_shows_ctx_and_the_entropy_bound(cli_run):
    p = VECTORS / "v2_mixed.spk"
    d = json.loads(cli_run("info", "--json", p).stdout)
    assert d["format_version"] == 2
    assert "ctx" in {c["layout"] for c in d["clips"]}
    for c in d["clips"]:  # the context model's ideal code length beside the real cost, for every clip
        assert c["ideal_bits"] >= 0
        if c["layout"] == "ctx":
            assert c["ideal_bits"] <= c["payload_bits"] <= 1.1 * c["ideal_bits"] + 64
    out = cli_run("info", p).stdout
    assert "spk v2" in out and "ctx" in out and "entropy bound" in out and "ideal" in out
