"""Golden files: a .spk made by every released model decodes, by the id in its header, to the
audio it decoded to when the model was released (tests/golden/, made by make_golden.py).

Tolerance: the decoded float audio may differ from the stored 24-bit FLAC by at most 1e-3
(-60 dBFS) per sample, and the error energy must stay 40 dB under the signal's. Storing
at 24 bits costs 6e-8; BLAS, CPU instruction sets and thread counts move float sums by
about 1e-6 here. A changed decoder, a replaced checkpoint or a file-format change that
breaks version-1 files fails by orders of magnitude more.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO

GOLDEN = REPO / "tests" / "golden"
MANIFEST = json.loads((GOLDEN / "golden.json").read_text())["files"]
REGISTRY = json.loads((REPO / "checkpoints" / "models.json").read_text())
MAX_ABS = 1e-3
MIN_SNR_DB = 40.0


def test_every_released_model_has_a_golden_file():
    golden_ids = {f["model_id"] for f in MANIFEST}
    for m in REGISTRY["models"]:
        assert m["id"] in golden_ids, f"released model {m['name']} ({m['id']}): run tests/golden/make_golden.py {m['name']}"


def test_golden_files_stay_small():
    assert sum(p.stat().st_size for p in GOLDEN.iterdir() if p.is_file()) < 1_000_000


@pytest.mark.parametrize("g", MANIFEST, ids=[f["spk"] for f in MANIFEST])
def test_golden_file_decodes_to_its_expected_audio(g, monkeypatch):
    import spikecodec
    from spikecodec.bitstream import read_spk

    data = (GOLDEN / g["spk"]).read_bytes()
    h = read_spk(data).header
    assert (h.model_name, h.model_id) == (g["model"], g["model_id"])
    registered = {m["id"]: m for m in REGISTRY["models"]}
    assert g["model_id"] in registered, f"{g['model']} ({g['model_id']}) left checkpoints/models.json"
    if registered[g["model_id"]]["status"] == "retired":   # not in the main package: the archive package's folder
        monkeypatch.setenv("SPIKECODEC_CHECKPOINTS", str(REPO / "checkpoints" / "retired"))
    y, rate = spikecodec.decode(data, device="cpu")      # the model is found by the id in the file
    want, want_rate = sf.read(str(GOLDEN / g["expected"]), dtype="float64", always_2d=True)
    assert rate == want_rate == g["sample_rate"]
    assert y.shape == want.shape == (g["num_samples"], g["channels"])
    err = y.astype(np.float64) - want
    assert np.abs(err).max() <= MAX_ABS, f"max |error| {np.abs(err).max():.2e}"
    snr = 10 * np.log10(np.sum(want ** 2) / max(np.sum(err ** 2), 1e-30))
    assert snr >= MIN_SNR_DB, f"SNR {snr:.1f} dB"


def test_golden_files_survive_a_retrain_and_a_moved_default(tmp_path, monkeypatch):
    """A new model is released (here a tiny one that even reuses the name 'mu', and takes the
    `default` alias, in a folder searched first): the golden files still decode to their audio,
    because the decoder looks their models up by id."""
    import torch

    import spikecodec
    from spikecodec.checkpoint import file_id, save_checkpoint
    from spikecodec.model import ModelConfig, SpikingAutoencoder

    torch.manual_seed(0)
    cfg = ModelConfig(sample_rate=8000, hop=128, n_fft=256, units=8, encoder_dim=16, encoder_blocks=1,
                      decoder_dim=16, decoder_blocks=1)
    new = tmp_path / "mu.pt"
    save_checkpoint(str(new), "mu", cfg.to_dict(), SpikingAutoencoder(cfg).state_dict())
    (tmp_path / "models.json").write_text(json.dumps({"aliases": {"default": "mu"}, "models": [
        {"name": "mu", "file": "mu.pt", "id": file_id(str(new)), "variant": "FREE", "levels": None,
         "kbps": [1, 1], "released": "9.9", "status": "shipped"}]}))
    monkeypatch.setenv("SPIKECODEC_CHECKPOINTS", os.pathsep.join([str(tmp_path), str(REPO / "checkpoints" / "retired")]))
    assert spikecodec.load_model("default", device="cpu").model_id == file_id(str(new))
    for g in MANIFEST:
        y, _ = spikecodec.decode((GOLDEN / g["spk"]).read_bytes(), device="cpu")
        want, _ = sf.read(str(GOLDEN / g["expected"]), dtype="float64", always_2d=True)
        assert y.shape == want.shape and np.abs(y - want).max() <= MAX_ABS, g["spk"]
