"""The model, the trainer and the chunked codec path, on tiny configurations (CPU, seconds)."""
import csv
import math
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from spikecodec import compress
from spikecodec.audio import Resampler
from spikecodec.bitstream import Header, read_spk, write_spk
from spikecodec.checkpoint import load_model, read_checkpoint, save_checkpoint
from spikecodec.model import ModelConfig, SpikingAutoencoder
from spikecodec.model.binarize import heaviside
from spikecodec.training.configs import get_config
from spikecodec.training.train import train

torch.set_num_threads(1)
TINY = dict(encoder_dim=32, encoder_blocks=1, decoder_dim=32, decoder_blocks=1, units=16)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A few seconds of synthetic piano-like tones in the corpus layout."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    for group in ("piano", "recorded"):
        os.makedirs(root / group)
        t = np.arange(22050 * 4) / 22050
        x = np.zeros_like(t)
        for _ in range(12):
            f0, t0 = 110 * 2 ** (rng.integers(0, 36) / 12), rng.uniform(0, 3.5)
            env = np.where(t > t0, np.exp(-(t - t0) * 3), 0)
            x += env * np.sin(2 * np.pi * f0 * t)
        sf.write(root / group / "a.flac", (0.3 * x / np.abs(x).max()).astype(np.float32), 22050)
    return str(root)


@pytest.mark.parametrize("variant", ["free", "sparse", "mu"])
def test_tiny_training_loss_falls_and_resumes(variant, corpus, tmp_path):
    cfg = get_config("tiny-" + variant)
    run = str(tmp_path / "run")
    cfg["steps"] = 20
    train(cfg, run, corpus, None, "cpu", None)
    cfg["steps"] = 40                                     # resume continues from step 20
    export = str(tmp_path / f"{variant}.pt")
    train(cfg, run, corpus, export, "cpu", None)
    rows = list(csv.DictReader(open(os.path.join(run, "log.csv"))))
    steps = [int(r["step"]) for r in rows]
    assert steps == sorted(set(steps)) and steps[-1] == 40
    first = np.mean([float(r["lmd"]) for r in rows[:2]])
    last = np.mean([float(r["lmd"]) for r in rows[-2:]])
    assert last < first, (first, last)
    blob = read_checkpoint(export)
    assert blob["meta"]["steps"] == 40 and blob["config"]["units"] == 16
    model = load_model(export)
    assert model.config.num_levels == (32 if variant == "mu" else 0)
    # the binary path round-trips through the bitstream
    x = torch.randn(1, 20 * model.config.hop) * 0.1
    with torch.no_grad():
        z = model.net.encode_frames(x).bool().numpy()[0]
        h = Header("t", model.model_id, 22050, 22050, 1, x.shape[1], z.shape[1], z.shape[0], 8, model.config.hop,
                   bool(model.config.num_levels))
        levels = [np.full(h.num_clips, 5)] if model.config.num_levels else None
        back = read_spk(write_spk(h, [z], levels))
        assert (back.z[0] == z).all()
        y1 = model.net.decode_frames(torch.from_numpy(z[None]).float(), 5)
        y2 = model.net.decode_frames(torch.from_numpy(back.z[0][None]).float(), int(back.levels[0][0]) if levels else 5)
        assert torch.equal(y1, y2)


def test_joint_adversarial_fine_tune_resumes_with_its_discriminator(corpus, tmp_path):
    """The encoder trains too (decoder_only off, with the magnitude term), and a killed run resumes its
    discriminator and that optimiser's moments, not fresh ones."""
    cfg = get_config("tiny-mu2")
    cfg.update(decoder_only=False, steps=4, save_every=2, log_every=2,
               adversarial=dict(weight=0.3, fm_weight=0.6, lr=1e-3, start=0))
    run = str(tmp_path / "run")
    train(cfg, run, corpus, None, "cpu", None)
    first = torch.load(os.path.join(run, "last.pt"), weights_only=True)
    cfg["steps"] = 6
    train(cfg, run, corpus, None, "cpu", None)
    second = torch.load(os.path.join(run, "last.pt"), weights_only=True)
    assert first["step"] == 4 and second["step"] == 6
    assert {int(s["step"]) for s in second["disc_optimizer"]["state"].values()} == {6}
    assert any(not torch.equal(first["disc"][k], second["disc"][k]) for k in first["disc"])
    encoder = [k for k in first["model"] if k.startswith("encoder.")]
    assert any(not torch.equal(first["model"][k], second["model"][k]) for k in encoder)


def test_magnitude_only_stage_trains_the_encoder_without_synthesis(corpus, tmp_path):
    cfg = get_config("tiny-mu2")
    cfg.update(decoder_only=False, synthesis=False, loudness_weight=0.0, steps=4, save_every=2, log_every=2)
    run = str(tmp_path / "run")
    train(cfg, run, corpus, None, "cpu", None)
    rows = list(csv.DictReader(open(os.path.join(run, "log.csv"))))
    assert [r["lmd"] for r in rows] == ["nan", "nan"] and all(float(r["loss"]) > 0 for r in rows)
    for term in ("loudness_weight", "chroma_weight"):   # a waveform term without a waveform is refused before any step
        with pytest.raises(SystemExit, match="need synthesis"):
            train({**cfg, term: 1.0}, str(tmp_path / term), corpus, None, "cpu", None)


def test_chroma_term_moves_the_decoder(corpus, tmp_path):
    """The same seed and batches with and without the chroma term: the term changes what the decoder learns."""
    runs = {}
    for weight in (0.0, 3.0):
        cfg = get_config("tiny-mu2")
        cfg.update(chroma_weight=weight, steps=3, save_every=3, log_every=1)
        run = str(tmp_path / f"w{weight}")
        train(cfg, run, corpus, None, "cpu", None)
        runs[weight] = torch.load(os.path.join(run, "last.pt"), weights_only=True)["model"]
    head = [k for k in runs[0.0] if k.startswith("decoder.")]
    assert any(not torch.equal(runs[0.0][k], runs[3.0][k]) for k in head)


def test_surrogate_gradient_is_triangular():
    l = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], requires_grad=True)
    z = heaviside(l)
    assert z.tolist() == [0, 0, 0, 1, 1]
    z.sum().backward()
    assert l.grad.tolist() == [0.0, 0.5, 1.0, 0.5, 0.0]


def test_config_round_trips_through_checkpoint(tmp_path):
    net = SpikingAutoencoder(ModelConfig(**TINY, num_levels=32, context_blocks=1))
    path = str(tmp_path / "m.pt")
    save_checkpoint(path, "m", net.config.to_dict(), net.state_dict())
    model = load_model(path)
    assert model.config == net.config
    with torch.no_grad():
        x = torch.randn(2, 8 * 512)
        assert torch.equal(model.net.encode_frames(x, 3), net.half().float().eval().encode_frames(x, 3))


def test_input_floor_is_the_encoders_log_magnitude_floor(tmp_path):
    """input_floor (a stored config field; checkpoints without it keep 1e-5) floors |STFT| before the log:
    an empty band looks like a quiet one, and audio above the floor encodes the same either way."""
    from spikecodec.model.spectral import log_magnitude

    x = torch.zeros(1, 8 * 512)
    assert torch.allclose(log_magnitude(x, 1024, 512, floor=1e-3), torch.tensor(math.log(1e-3)))
    assert ModelConfig.from_dict({k: v for k, v in ModelConfig().to_dict().items() if k != "input_floor"}) \
        .input_floor == 1e-5
    net = SpikingAutoencoder(ModelConfig(**TINY, input_floor=1e-3))
    path = str(tmp_path / "m.pt")
    save_checkpoint(path, "m", net.config.to_dict(), net.state_dict())
    model = load_model(path)
    assert model.config.input_floor == 1e-3 and model.net.encoder.floor == 1e-3
    loud = torch.randn(1, 8 * 512) * 100     # every bin far above both floors
    with torch.no_grad():
        low = SpikingAutoencoder(ModelConfig(**TINY))
        low.load_state_dict(model.net.state_dict())
        assert torch.equal(model.net.encoder_logits(loud), low.eval().encoder_logits(loud))


@pytest.fixture(scope="module")
def mu_model(tmp_path_factory):
    torch.manual_seed(1)
    net = SpikingAutoencoder(ModelConfig(**TINY, num_levels=32, context_blocks=1, default_level=2))
    for m in net.modules():          # layer scales large enough that context really matters
        if hasattr(m, "gamma"):
            m.gamma.data.fill_(0.5)
    d = tmp_path_factory.mktemp("ck")
    path = str(d / "mu.pt")
    save_checkpoint(path, "mu", net.config.to_dict(), net.state_dict())
    return load_model(path)


def _noise(seconds, rate, channels, seed=0):
    return (np.random.default_rng(seed).standard_normal((int(seconds * rate), channels)) * 0.1).astype(np.float32)


@pytest.mark.parametrize("blocks", [997, 44100, 10 ** 6])
def test_encoding_does_not_depend_on_chunking(mu_model, blocks):
    x = _noise(50, 44100, 2)
    whole = compress.encode(x, 44100, model=mu_model)
    chunks = (x[i:i + blocks] for i in range(0, len(x), blocks))
    assert compress._encode_blocks(chunks, 44100, 2, mu_model, compress.RateControl()) == whole


def test_chunked_codec_equals_one_pass(mu_model):
    """Clip-group windows with receptive-field margins reproduce a single pass over the song."""
    x = _noise(40, 22050, 1, seed=3)
    spk = read_spk(compress.encode(x, 22050, model=mu_model))
    n = spk.header.num_frames
    full = torch.from_numpy(np.pad(x[:, 0], (0, n * 512 - len(x)))[None])
    with torch.no_grad():
        z = (mu_model.net.encoder_logits(full, 2) > 0).numpy()[0]
        y = mu_model.net.decode_frames(torch.from_numpy(z[None]).float(), 2).numpy()[0]
    assert (z == spk.z[0]).all()
    chunked = np.concatenate(list(compress._model_rate_blocks(spk, mu_model)))[:, 0]
    np.testing.assert_allclose(chunked, y, atol=1e-5)


def test_same_input_same_bytes_and_exact_length(mu_model):
    x = _noise(3.3, 48000, 2, seed=5)
    a = compress.encode(x, 48000, model=mu_model)
    assert a == compress.encode(x.copy(), 48000, model=mu_model)
    y, rate = compress.decode(a, model=mu_model)
    assert rate == 48000 and y.shape == x.shape
    y, rate = compress.decode(a, model=mu_model, sample_rate=16000)
    assert rate == 16000 and y.shape == (round(len(x) / 3), 2)


def test_levels_rate_control(mu_model):
    x = _noise(12, 22050, 1)
    fixed = read_spk(compress.encode(x, 22050, model=mu_model, level=7))
    assert all((lv == 7).all() for lv in fixed.levels)
    with pytest.raises(compress.CodecError):
        compress.encode(x, 22050, model=mu_model, level=40)
    with pytest.raises(compress.CodecError):
        compress.encode(x, 22050, model=mu_model, level=3, target_kbps=2.0)


def test_resampler_is_chunking_invariant():
    x = _noise(2, 44100, 2)
    a = Resampler(44100, 22050, 2)(x, last=True)
    r = Resampler(44100, 22050, 2)
    b = np.concatenate([r(x[i:i + 1234]) for i in range(0, len(x), 1234)] + [r(x[:0], last=True)])
    np.testing.assert_array_equal(a, b)


def test_per_clip_level_search(mu_model):
    """target_kbps: each clip takes the lowest searched level whose record fits the budget
    (or the sparsest level); quality_floor: levels stay inside the searched range."""
    x = _noise(14, 22050, 1, seed=9)
    target = 2.0
    spk = read_spk(compress.encode(x, 22050, model=mu_model, target_kbps=target))
    lo, hi = compress.SEARCH_LEVELS
    T, hop = spk.header.frames_per_clip, spk.header.hop
    for k, mu in enumerate(spk.levels[0]):
        z = spk.z[0][:, k * T:(k + 1) * T]
        budget = target * 1000 * z.shape[1] * hop / 22050
        assert lo <= mu <= hi
        assert compress.clip_bits(z, True) <= budget or mu == hi
        if mu > lo:   # one level lower would not have fitted
            below = read_spk(compress.encode(x, 22050, model=mu_model, level=int(mu) - 1))
            assert compress.clip_bits(below.z[0][:, k * T:(k + 1) * T], True) > budget
    floor = read_spk(compress.encode(x[:22050 * 6], 22050, model=mu_model, quality_floor=1.0))
    assert all(lo <= mu <= hi for mu in floor.levels[0])


def test_fresh_clone_training_continues_from_the_shipped_checkpoint(corpus, tmp_path):
    """No runs/ state (a fresh clone): `make train` goes on from checkpoints/NAME.pt's step."""
    cfg = get_config("tiny-free")
    export = str(tmp_path / "free.pt")
    cfg["steps"] = 10
    train(cfg, str(tmp_path / "run1"), corpus, export, "cpu", None)
    cfg["steps"] = 15
    train(cfg, str(tmp_path / "run2"), corpus, export, "cpu", None)   # another machine: no run1 state
    assert read_checkpoint(export)["meta"]["steps"] == 15
    rows = list(csv.DictReader(open(os.path.join(tmp_path, "run2", "log.csv"))))
    assert [int(r["step"]) for r in rows] == [15]
    before = open(export, "rb").read()
    train(cfg, str(tmp_path / "run3"), corpus, export, "cpu", None)     # already at its steps
    assert open(export, "rb").read() == before
