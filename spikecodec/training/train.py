"""`make train`: train a named configuration, resuming from its last state.

    python -m spikecodec.training.train --config free [--steps N] [--export checkpoints/free.pt]

State lives in runs/<config>/last.pt (model, optimiser, step, random states; weights-only
loadable) and every `save_every` steps it is rewritten atomically, so a killed run resumes
where it stopped. `--export` writes the shippable fp16 checkpoint that carries its config.
CUDA is used when present.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import time

import numpy as np
import torch

from ..atomic import atomic_write
from ..checkpoint import check_writable, read_checkpoint, save_checkpoint
from ..device import resolve_device
from ..errors import CodecError
from ..model import ModelConfig, SpikingAutoencoder
from .configs import get_config
from .dataset import CropSampler
from .discriminator import MultiResolutionDiscriminator, discriminator_loss, generator_losses
from .losses import (chroma_distance, clipped_sparsity, gamma_schedule, level_density, level_rate_loss, reconstruction_loss)


def learning_rate(cfg: dict, step: int) -> float:
    if step < cfg["warmup"]:
        return cfg["lr"] * (step + 1) / cfg["warmup"]
    t = min(1.0, (step - cfg["warmup"]) / max(1, cfg["steps"] - cfg["warmup"]))
    return cfg["min_lr"] + 0.5 * (cfg["lr"] - cfg["min_lr"]) * (1 + math.cos(math.pi * t))


def sample_levels(cfg: dict, batch: int, gen: torch.Generator) -> torch.Tensor:
    lv = cfg["levels"]
    wide = torch.randint(lv["low"], lv["high"] + 1, (batch,), generator=gen)
    focus = torch.randint(lv["focus_low"], lv["focus_high"] + 1, (batch,), generator=gen)
    return torch.where(torch.rand(batch, generator=gen) < 0.7, focus, wide)


@torch.no_grad()
def shift_thresholds(net: SpikingAutoencoder, audio: torch.Tensor, density: float) -> None:
    """Move each unit's BatchNorm bias so that a fraction `density` of its logits is positive.

    Ramping the sparsity weight alone moves these biases slowly under Adam; setting them at
    once to the target quantile and then fine-tuning recovers within a few hundred steps
    (shared/notes/model-calibration.md).
    """
    logits = net.encoder_logits(audio).transpose(0, 1).reshape(net.config.units, -1)
    q = torch.quantile(logits, 1.0 - density, dim=1)
    net.bottleneck.norm.bias -= q


@torch.no_grad()
def init_level_embeddings(net: SpikingAutoencoder, audio: torch.Tensor) -> None:
    """Start each level mu at density 2^(-mu/4): solve proj(e_mu) = per-unit threshold shift."""
    norm, proj = net.bottleneck.norm, net.bottleneck.proj
    logits = net.encoder_logits(audio, level=torch.zeros(audio.shape[0], dtype=torch.long))
    logits = logits.transpose(0, 1).reshape(net.config.units, -1)
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)   # d logits / d proj output
    pinv = torch.linalg.pinv(proj.weight[:, :, 0])                  # (dim, N)
    for mu in range(net.config.num_levels):
        d = float(level_density(torch.tensor(mu)))
        q = torch.quantile(logits, min(max(1.0 - d, 0.0), 1.0), dim=1)
        net.encoder_level.weight[mu] = pinv @ (-q / scale)


def build(cfg: dict) -> SpikingAutoencoder:
    return SpikingAutoencoder(ModelConfig(**cfg["model"]))


ENCODER_PARTS = ("encoder", "encoder_context", "bottleneck", "encoder_level")


def freeze_encoder(net: SpikingAutoencoder) -> list:
    """Stop the encoder's training (z stays what the initial checkpoint makes); returns the trainable parameters."""
    for name in ENCODER_PARTS:
        part = getattr(net, name, None)
        if part is not None:
            part.requires_grad_(False)
    return [p for p in net.parameters() if p.requires_grad]


def augment(x: torch.Tensor, cfg: dict, gen: torch.Generator) -> torch.Tensor:
    """Make the inputs a real user sends that the corpus lacks.

    lowpass: audio that was resampled from 44.1 or 48 kHz has an empty band below Nyquist,
    which the corpus rarely has; silence: stretches of digital silence at a crop's edge.
    """
    aug = cfg.get("augment") or {}
    x = x.clone()
    b, n = x.shape
    if aug.get("lowpass"):
        pick = torch.rand(b, generator=gen) < aug["lowpass"]
        if pick.any():
            spec = torch.fft.rfft(x[pick], dim=-1)
            bins = spec.shape[-1]
            cutoff = (0.82 + 0.16 * torch.rand(int(pick.sum()), generator=gen)) * bins
            keep = torch.arange(bins)[None, :] < cutoff[:, None]
            x[pick] = torch.fft.irfft(spec * keep, n=n, dim=-1)
    if aug.get("silence"):
        for i in range(b):
            if float(torch.rand(1, generator=gen)) < aug["silence"]:
                cut = int(torch.randint(0, n, (1,), generator=gen))
                if float(torch.rand(1, generator=gen)) < 0.5:
                    x[i, :cut] = 0
                else:
                    x[i, cut:] = 0
    return x


def loudness_loss(y: torch.Tensor, x: torch.Tensor, hop: int) -> torch.Tensor:
    """L1 between the output's and the input's log10 RMS per hop: the level a listener hears.

    The log-domain spectral terms are met by the median of an uncertain magnitude, which lies
    below its mean power, so on their own they leave the output a few dB quiet.
    """
    def frame_rms(a):
        a = a[:, : a.shape[1] // hop * hop].reshape(a.shape[0], -1, hop)
        # log10 of the RMS, floored at 1e-4; the floor goes under the square root, whose gradient at an
        # exactly silent hop (0 / 0) would be NaN
        return 0.5 * torch.log10(a.pow(2).mean(-1).clamp(min=1e-8))
    return (frame_rms(y) - frame_rms(x)).abs().mean()


def magnitude_loss(net: SpikingAutoencoder, log_mag: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L1 between predicted and true natural-log magnitudes at the model's own framing, where not gated."""
    from ..model.phase import analyse
    c = net.config
    target = torch.log(analyse(x, c.n_fft, c.hop).abs().clamp(min=1e-5))
    live = torch.isfinite(log_mag)
    if not live.any():
        return log_mag.new_zeros(())
    return (log_mag[live] - target[live]).abs().mean()


def load_init(net: SpikingAutoencoder, path: str) -> None:
    sd = {k: v.float() for k, v in read_checkpoint(path)["state_dict"].items()}
    own = net.state_dict()
    usable = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
    net.load_state_dict(usable, strict=False)
    print(f"train: initialised {len(usable)}/{len(own)} tensors from {path}", flush=True)


def save_state(path: str, net, opt, step: int, sampler: CropSampler, gen: torch.Generator, elapsed: float,
               adversary=None) -> None:
    state = {"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step, "elapsed": elapsed,
             "sampler": sampler.state(), "generator": gen.get_state(), "torch_rng": torch.get_rng_state()}
    if adversary is not None:
        state["disc"], state["disc_optimizer"] = adversary[0].state_dict(), adversary[1].state_dict()
    with atomic_write(path) as f:
        torch.save(state, f)


def export(cfg: dict, net, path: str, step: int, elapsed: float, sampler: CropSampler, last: dict) -> None:
    meta = {"config_name": cfg["name"], "steps": step, "train_seconds": round(elapsed, 1),
            "init_from": str(cfg["init_from"] or ""),
            "hardware": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
                        f"{'cuda' if next(net.parameters()).is_cuda else 'cpu'} x{torch.get_num_threads()} threads",
            "corpus_hours": {k: round(v / 3600, 3) for k, v in sampler.seconds.items()},
            **{f"train_{k}": round(v, 4) for k, v in last.items()}}
    mid = save_checkpoint(path, cfg["name"], net.config.to_dict(), net.state_dict(), meta)
    print(f"train: exported {path} (model id {mid}, step {step})", flush=True)


def train(cfg: dict, run_dir: str, corpus: str, export_path: str | None, device: str, max_minutes: float | None) -> None:
    torch.set_flush_denormal(True)
    waveform_terms = [k for k in ("loudness_weight", "chroma_weight", "adversarial") if cfg.get(k)]
    if not cfg.get("synthesis", True) and waveform_terms:
        raise SystemExit(f"train: config {cfg['name']!r}: {', '.join(waveform_terms)} need synthesis (a waveform)")
    os.makedirs(run_dir, exist_ok=True)
    state_path, log_path = os.path.join(run_dir, "last.pt"), os.path.join(run_dir, "log.csv")
    net = build(cfg).to(device)
    trainable = freeze_encoder(net) if cfg.get("decoder_only") else list(net.parameters())
    opt = torch.optim.AdamW(trainable, lr=cfg["lr"], betas=(0.8, 0.99), weight_decay=0.01)
    crop = cfg["crop_frames"] * net.config.hop
    sampler = CropSampler(corpus, crop, seed=cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    adversary = None
    if cfg.get("adversarial"):
        disc = MultiResolutionDiscriminator().to(device)
        adversary = (disc, torch.optim.AdamW(disc.parameters(), lr=cfg["adversarial"]["lr"], betas=(0.8, 0.99)))
    step, elapsed = 0, 0.0
    if os.path.exists(state_path):
        st = torch.load(state_path, map_location=device, weights_only=True)
        net.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        if adversary is not None and "disc" in st:
            adversary[0].load_state_dict(st["disc"])
            adversary[1].load_state_dict(st["disc_optimizer"])
        step, elapsed = st["step"], st["elapsed"]
        sampler.load_state(st["sampler"])
        gen.set_state(st["generator"])
        torch.set_rng_state(st["torch_rng"])
        print(f"train: resumed {cfg['name']} at step {step}", flush=True)
    elif export_path and os.path.exists(export_path) and read_checkpoint(export_path)["meta"].get("config_name") == cfg["name"]:
        # A fresh clone has no runs/ state but ships the checkpoint: go on from its weights and
        # step (the optimiser's moments start afresh; the learning-rate schedule continues).
        blob = read_checkpoint(export_path)
        net.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
        step, elapsed = int(blob["meta"].get("steps", 0)), float(blob["meta"].get("train_seconds", 0.0))
        gen.manual_seed(cfg["seed"] + step)
        sampler.rng = np.random.default_rng(cfg["seed"] + step)
        print(f"train: continuing {cfg['name']} from {export_path} at step {step}", flush=True)
    else:
        torch.manual_seed(cfg["seed"])
        if cfg["init_from"]:
            load_init(net, cfg["init_from"])
        probe = sampler.batch(32).to(device)
        net.eval()
        if cfg["sparsity"] and cfg["sparsity"].get("quantile_init") and not cfg.get("decoder_only"):
            shift_thresholds(net, probe, cfg["sparsity"]["target"])
        if cfg["levels"] and cfg["levels"].get("quantile_init"):
            init_level_embeddings(net, probe)
    print(f"train: {cfg['name']}: {sum(p.numel() for p in net.parameters()) / 1e6:.2f} M parameters, "
          f"corpus {', '.join(f'{k} {v / 3600:.2f} h' for k, v in sampler.seconds.items())}, device {device}", flush=True)
    new_log = not os.path.exists(log_path)
    log = open(log_path, "a", newline="")
    writer = csv.writer(log)
    if new_log:
        writer.writerow(["step", "seconds", "loss", "mrstft", "lmd", "density", "lr", "gamma"])
    t0, last, session_start = time.time() - elapsed, {}, time.time()
    exported = None
    while step < cfg["steps"]:
        if max_minutes is not None and time.time() - session_start > max_minutes * 60:
            break
        net.train()
        if cfg["freeze_norm"]:
            net.bottleneck.norm.eval()
        for g in opt.param_groups:
            g["lr"] = learning_rate(cfg, step)
        x = sampler.batch(cfg["batch"])
        if cfg.get("augment"):
            x = augment(x, cfg, gen)
        x = x.to(device)
        level = sample_levels(cfg, x.shape[0], gen).to(device) if cfg["levels"] else None
        if cfg.get("decoder_only"):
            for name in ENCODER_PARTS:
                if getattr(net, name, None) is not None:
                    getattr(net, name).eval()
            with torch.no_grad():
                z = net.encode_frames(x, level)
        else:
            z = net.encode_frames(x, level)
        log_mag, phase = net.decode_log_magnitude(z, level)   # the magnitude term needs them, not only y
        if cfg.get("synthesis", True):
            y = net.synthesize(log_mag, phase)
            loss, parts = reconstruction_loss(y, x, cfg["mel_weight"], net.config.sample_rate)
        else:   # magnitudes only: 0.5 s a step against 0.75 on one thread; waveform terms come in a later stage
            loss, parts = log_mag.new_zeros(()), {"mrstft": float("nan"), "lmd": float("nan")}
        if cfg.get("magnitude_weight"):
            mag = magnitude_loss(net, log_mag, x)
            loss = loss + cfg["magnitude_weight"] * mag
            parts["magnitude"] = float(mag.detach())
        if cfg.get("loudness_weight"):
            loud = loudness_loss(y, x, net.config.hop)
            loss = loss + cfg["loudness_weight"] * loud
            parts["loudness"] = float(loud.detach())
        if cfg.get("chroma_weight"):
            pitch = chroma_distance(y, x, net.config.sample_rate)
            loss = loss + cfg["chroma_weight"] * pitch
            parts["chroma"] = float(pitch.detach())
        if adversary is not None and step >= cfg["adversarial"].get("start", 0):
            disc, disc_opt = adversary
            disc.requires_grad_(True)
            disc_opt.zero_grad(set_to_none=True)
            d_loss = discriminator_loss(disc, x, y)
            d_loss.backward()
            disc_opt.step()
            disc.requires_grad_(False)   # the decoder's step below needs no gradient for the discriminator
            adv, fm = generator_losses(disc, x, y)
            loss = loss + cfg["adversarial"]["weight"] * adv + cfg["adversarial"]["fm_weight"] * fm
            parts.update(adversarial=float(adv.detach()), feature_matching=float(fm.detach()),
                         discriminator=float(d_loss.detach()))
        gamma = 0.0
        if cfg["sparsity"] and not cfg.get("decoder_only"):   # with z fixed, a rate loss moves nothing
            sp = cfg["sparsity"]
            gamma = gamma_schedule(step, sp["start"], sp["ramp"], sp["gamma"])
            loss = loss + gamma * clipped_sparsity(z, sp["target"])
        if cfg["levels"] and not cfg.get("decoder_only"):
            gamma = cfg["levels"]["weight"]
            loss = loss + gamma * level_rate_loss(z, level, cfg["levels"].get("relative", False))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, cfg["grad_clip"])
        opt.step()
        step += 1
        last = {"loss": float(loss.detach()), **parts, "density": float(z.detach().mean())}
        if step % cfg["log_every"] == 0 or step == cfg["steps"]:
            writer.writerow([step, round(time.time() - t0, 1), *(round(last[k], 5) for k in ("loss", "mrstft", "lmd", "density")),
                             f"{learning_rate(cfg, step):.2e}", gamma])
            log.flush()
            extra = "".join(f" {k[:4]} {last[k]:.3f}" for k in ("chroma", "adversarial", "feature_matching", "discriminator")
                            if k in last)
            print(f"train: step {step} loss {last['loss']:.4f} lmd {last['lmd']:.4f} density {last['density']:.3f}{extra} "
                  f"({(time.time() - t0) / 60:.1f} min)", flush=True)
        if step % cfg["save_every"] == 0 or step == cfg["steps"]:
            save_state(state_path, net, opt, step, sampler, gen, time.time() - t0, adversary)
            if export_path:
                export(cfg, net, export_path, step, time.time() - t0, sampler, last)
                exported = step
    if exported != step:
        save_state(state_path, net, opt, step, sampler, gen, time.time() - t0, adversary)
    if export_path and last and exported != step:   # nothing trained: leave the shipped file as it is
        export(cfg, net, export_path, step, time.time() - t0, sampler, last)
    elif not last:
        print(f"train: {cfg['name']} is already at step {step} of {cfg['steps']}; raise --steps to go on", flush=True)
    log.close()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Train a spikecodec configuration (resumable).")
    ap.add_argument("--config", default="free")
    ap.add_argument("--corpus", default="data/corpus")
    ap.add_argument("--run-dir", default=None, help="default: runs/<config>")
    ap.add_argument("--steps", type=int, default=None, help="override the schedule length")
    ap.add_argument("--init-from", default=None, help="override the fine-tune start checkpoint")
    ap.add_argument("--export", default=None, help="write the shippable checkpoint here at each save")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this many minutes")
    ap.add_argument("--device", default="auto")
    a = ap.parse_args(argv)
    cfg = get_config(a.config)
    if a.steps:
        cfg["steps"] = a.steps
    if a.init_from:
        cfg["init_from"] = a.init_from
    if a.threads:
        torch.set_num_threads(a.threads)
    try:   # never over a released model's file: fail now, not at the first save
        device = resolve_device(a.device)
        a.export and check_writable(a.export)
    except CodecError as e:
        ap.error(str(e))
    train(cfg, a.run_dir or os.path.join("runs", a.config), a.corpus, a.export, device, a.max_minutes)


if __name__ == "__main__":
    main()
