"""Shared fixtures: short synthetic clips written to tmp dirs, a CLI runner, the default model."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]

# Keep the shared machine usable: one torch thread per test process.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def synth(seconds: float = 1.0, sr: int = 16000, channels: int = 1, seed: int = 0, kind: str = "tones") -> np.ndarray:
    """A short, deterministic clip, float32 (samples, channels) in [-0.5, 0.5].

    ``kind``: "tones" (decaying harmonic notes, a different pitch per channel),
    "noise" (white noise), "silence".
    """
    n = max(0, int(round(seconds * sr)))
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    out = np.zeros((n, channels), dtype=np.float32)
    for c in range(channels):
        if kind == "silence":
            continue
        if kind == "noise":
            out[:, c] = 0.2 * rng.standard_normal(n)
            continue
        f0 = 220.0 * 2 ** ((3 * c + seed % 7) / 12)
        x = np.zeros(n)
        for k in range(1, 6):
            if k * f0 < sr / 2:
                x += np.sin(2 * np.pi * k * f0 * t) / k
        env = np.exp(-3.0 * (t % 0.5))
        out[:, c] = 0.3 * x * env / 2.3
    return out


def write_clip(path, seconds=1.0, sr=16000, channels=1, seed=0, kind="tones", subtype=None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), synth(seconds, sr, channels, seed, kind), sr, subtype=subtype)
    return path


@pytest.fixture
def clip(tmp_path):
    """Factory: ``clip("a.wav", seconds=1, sr=16000, channels=1)`` -> Path in tmp_path."""

    def make(name="clip.wav", **kw) -> Path:
        return write_clip(tmp_path / name, **kw)

    return make


_MODEL_STATE: dict = {}


def _default_model_or_reason():
    if "result" not in _MODEL_STATE:
        try:
            import spikecodec

            _MODEL_STATE["result"] = (spikecodec.load_model("default", device="cpu"), None)
        except Exception as e:  # noqa: BLE001
            _MODEL_STATE["result"] = (None, f"{type(e).__name__}: {e}")
    return _MODEL_STATE["result"]


@pytest.fixture(scope="session")
def default_model():
    """The shipped default model; tests that need it skip (with the reason) until it exists."""
    model, why = _default_model_or_reason()
    if model is None:
        # Skip only while no default checkpoint is shipped; a shipped one that fails to load is a
        # failure. SPIKECODEC_REQUIRE_MODEL=1 turns the skip into a failure too.
        if "unknown model" in why and os.environ.get("SPIKECODEC_REQUIRE_MODEL") != "1":
            pytest.skip(f"no default model in checkpoints/ yet: spikecodec.load_model('default') failed: {why}")
        pytest.fail(f"spikecodec.load_model('default') failed: {why}")
    return model


@pytest.fixture
def cli_run(monkeypatch):
    """Run the CLI in-process with click's CliRunner; returns the Result (stdout/stderr separate)."""
    from click.testing import CliRunner

    from spikecodec.cli import cli

    def run(*args, input=None, cwd=None):
        runner = CliRunner()
        if cwd is not None:
            monkeypatch.chdir(cwd)
        return runner.invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)

    return run


def read_pty(master: int) -> bytes:
    """Everything a child wrote to a pseudo-terminal, until its last writer closed it."""
    chunks = []
    while True:
        try:
            b = os.read(master, 65536)
        except OSError:   # EIO: the child side is closed
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def run_module(*args, input=None, cwd=None, env=None, timeout=300) -> subprocess.CompletedProcess:
    """Run ``python -m spikecodec ARGS`` as a real process (bytes in/out)."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([e["PYTHONPATH"]] if e.get("PYTHONPATH") else []))
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "spikecodec", *[str(a) for a in args]],
        input=input, capture_output=True, cwd=cwd, env=e, timeout=timeout,
    )


@pytest.fixture
def spk_bytes():
    """Factory for .spk bytes built with the bitstream directly (no model, no torch).

    ``spk_bytes(channels=1, seconds=1.0, sr=16000, model_name="default", density=0.05)``
    """
    from spikecodec.bitstream import Header, write_spk

    def make(channels=1, seconds=1.0, sr=16000, model_name="default", model_id="0" * 16, density=0.05,
             units=64, hop=320, model_sr=16000, frames_per_clip=256, levels=None, seed=0):
        rng = np.random.default_rng(seed)
        num_samples = int(round(seconds * sr))
        num_frames = -(-int(np.ceil(num_samples * model_sr / sr)) // hop)
        z = [rng.random((units, num_frames)) < density for _ in range(channels)]
        n_clips = -(-num_frames // frames_per_clip)
        lv = None if levels is None else [np.full(n_clips, levels, dtype=np.int64) for _ in range(channels)]
        h = Header(model_name=model_name, model_id=model_id, source_sample_rate=sr, model_sample_rate=model_sr,
                   channels=channels, num_samples=num_samples, num_frames=num_frames, units=units,
                   frames_per_clip=frames_per_clip, hop=hop, has_levels=levels is not None, format_version=1)
        return write_spk(h, z, lv)

    return make


@pytest.fixture
def model_spk(spk_bytes, default_model):
    """Like ``spk_bytes`` but for the shipped default model (its name, id, units, hop, rate, levels),
    so the file decodes: ``model_spk(channels=2, seconds=12.0, density=0.1)``."""
    c = default_model.config

    def make(**kw):
        kw.setdefault("model_name", default_model.name)
        kw.setdefault("model_id", default_model.model_id)
        kw.setdefault("units", c.units)
        kw.setdefault("hop", c.hop)
        kw.setdefault("model_sr", c.sample_rate)
        if c.num_levels:
            kw.setdefault("levels", c.default_level if c.default_level is not None else c.num_levels // 2)
        return spk_bytes(**kw)

    return make
