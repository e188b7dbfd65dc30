"""Packaging: console script, dependencies, Makefile targets, CI script, README, example clip."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import soundfile as sf

from conftest import REPO

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None


@pytest.mark.skipif(tomllib is None, reason="needs tomllib")
def test_pyproject():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    proj = meta["project"]
    assert proj["scripts"]["spikecodec"] == "spikecodec.cli:main"
    deps = {re.split(r"[<>=!~ \[]", d)[0].lower() for d in proj["dependencies"]}
    assert {"torch", "numpy", "soundfile", "soxr", "click", "bitarray", "librosa", "tqdm", "matplotlib"} <= deps
    assert any(d.startswith("torch>=2.1") for d in proj["dependencies"])
    dev = {re.split(r"[<>=!~ \[]", d)[0].lower() for d in proj["optional-dependencies"]["dev"]}
    assert {"pytest", "hypothesis"} <= dev
    assert meta["build-system"]["build-backend"].startswith("setuptools")
    assert "spikecodec" in meta["tool"]["setuptools"]["packages"]   # the full list: tests/test_install.py


def test_makefile_targets_dry_run():
    text = (REPO / "Makefile").read_text()
    for target in ("install", "test", "bench", "data", "train", "demo"):
        assert re.search(rf"^{target}:", text, re.M), target
    assert "TORCH_SPEC ?= torch==2.13.0" in text
    out = subprocess.run(["make", "-n", "-B", "train", "bench", "QUICK=1", "data", "DATA_ARGS=--x"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "-m spikecodec.training.train --config free" in out.stdout
    assert "-m spikecodec.benchmarks --quick" in out.stdout
    assert "-m spikecodec.training.corpus --x" in out.stdout
    out = subprocess.run(["make", "-n", "demo"], cwd=REPO, capture_output=True, text=True)
    assert "spikecodec encode examples/piano.flac" in out.stdout
    assert "spikecodec info" in out.stdout


def test_ci_script():
    ci = REPO / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    text = ci.read_text()
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text and "make test" in text


def test_readme_links_and_results_section():
    text = (REPO / "README.md").read_text()
    for link in ("docs/benchmarks.md", "docs/architecture.md", "formats/spk-v1.md", "docs/events.md"):
        assert link in text, link
    assert "make demo" in text and "make test" in text
    assert re.search(r"^## Results", text, re.M)


def test_example_clip_small_and_readable():
    clip = REPO / "examples" / "piano.flac"
    assert clip.stat().st_size < 200_000
    info = sf.info(str(clip))
    assert info.format == "FLAC" and 2.0 <= info.duration <= 10.0


def test_gitignore_has_demo_out():
    assert "/demo-out/" in (REPO / ".gitignore").read_text().split()


def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "spikecodec", "--help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "encode" in out.stdout and "decode" in out.stdout and "info" in out.stdout


def test_event_tools_are_registered_when_present():
    pytest.importorskip("spikecodec.events.cli")
    from click.testing import CliRunner

    from spikecodec.cli import cli

    r = CliRunner().invoke(cli, ["--help"])
    assert r.exit_code == 0
    for cmd in ("encode", "decode", "info", "plot", "edit", "concat", "analyze"):
        assert cmd in r.stdout, cmd
