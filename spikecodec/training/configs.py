"""Named training configurations (`make train CONFIG=name`).

A fine-tune names the checkpoint it starts from in `init_from`; new modules (context
blocks, level embeddings) start as identities, so the fine-tune begins where that
checkpoint ended.
"""
from __future__ import annotations

import copy

BASE = dict(
    model=dict(),                 # ModelConfig overrides
    batch=8, crop_frames=48, lr=7e-4, min_lr=2e-5, warmup=200, steps=6000, grad_clip=1.0,
    mel_weight=2.0, seed=0, init_from=None, freeze_norm=False,
    sparsity=None,                # None | {"target": d0, "gamma": g, "start": step, "ramp": steps, "quantile_init": bool}
    levels=None,                  # None | {"weight": w, "low": lo, "high": hi, "quantile_init": bool}
    save_every=200, log_every=20,
    decoder_only=False,           # freeze the encoder (z unchanged) and train the decoder alone
    magnitude_weight=0.0,         # L1 between the decoder's log-magnitude and the input's, before phase retrieval
    augment=None,                 # None | {"lowpass": p, "silence": p}
    loudness_weight=0.0,          # L1 between output and input log10 RMS per hop
    chroma_weight=0.0,            # 1 - cosine of output and input chroma per frame (losses.chroma_distance)
    synthesis=True,               # False: no waveform (no phase retrieval, no waveform losses): magnitude terms only
    adversarial=None,             # None | {"weight": a, "fm_weight": f, "lr": lr, "start": step}: discriminator.py
)

CONFIGS = {
    "free": dict(),
    "sparse": dict(
        model=dict(context_blocks=1), init_from="checkpoints/free.pt", lr=3e-4, warmup=50, steps=2500,
        freeze_norm=True,
        sparsity=dict(target=0.06, gamma=4.0, start=0, ramp=300, quantile_init=True),
    ),
    "mu": dict(
        model=dict(context_blocks=1, num_levels=32, default_level=13), init_from="checkpoints/free.pt",
        lr=3e-4, warmup=50, steps=2500, freeze_norm=True,
        levels=dict(weight=1.0, relative=True, low=0, high=31, focus_low=6, focus_high=26, quantile_init=True),
    ),
    # The phase-coherent decoder on mu's frozen encoder: the same events, so a mu file's z
    # decodes with it, at the same rates; a new model all the same (new weights, new id).
    "mu2": dict(
        model=dict(context_blocks=1, num_levels=32, default_level=13, phase_iterations=8, silence_radius=3),
        init_from="checkpoints/retired/mu.pt", lr=3e-4, min_lr=2e-5, warmup=100, steps=6000, freeze_norm=True,
        decoder_only=True, magnitude_weight=1.0, augment=dict(lowpass=0.3, silence=0.1),
        levels=dict(weight=0.0, relative=True, low=6, high=26, focus_low=10, focus_high=18, quantile_init=False),
    ),
}
# The same with the magnitude term dominant: partials over mel bands (a trade-off measured in docs/benchmarks.md).
CONFIGS["mu2-mag"] = {**CONFIGS["mu2"], "magnitude_weight": 3.0, "mel_weight": 1.0, "steps": 4500, "seed": 1}
# mu2 continued with a loudness term (started from mu2 at step 2200 of its run).
CONFIGS["mu2-loud"] = {**CONFIGS["mu2"], "loudness_weight": 1.0, "init_from": "runs/mu2/mu2.pt", "warmup": 50,
                       "lr": 2e-4, "steps": 3000, "seed": 2}
# mu2 with the encoder unfrozen (a new model: new events, so new rates): the encoder learns to
# carry what the fine-resolution magnitude term asks for (partials), while the level term keeps
# each level's density where mu put it.
CONFIGS["mu3"] = {**CONFIGS["mu2"], "decoder_only": False, "loudness_weight": 1.0, "init_from": "checkpoints/retired/mu2.pt",
                  "warmup": 50, "lr": 2e-4, "steps": 12000, "seed": 3,
                  "levels": dict(weight=1.0, relative=True, low=0, high=31, focus_low=6, focus_high=26,
                                 quantile_init=False)}
# mu3 trained on (its subset chroma and LMD still improved at its last step): the same recipe from the
# released mu3, with a fresh warm-up and cosine schedule. A new model (new events), never mu3 in place.
CONFIGS["mu4"] = {**CONFIGS["mu3"], "init_from": "checkpoints/retired/mu3.pt", "lr": 1.5e-4, "warmup": 50, "steps": 8000,
                  "seed": 9}
# mu4 with the encoder's input floor raised to 1e-3 (a level knob: docs/decoder-ablation.md, fourth round),
# trained on so that the network adapts to it: started from mu4's step-5800 export.
CONFIGS["mu4-floor"] = {**CONFIGS["mu4"], "model": {**CONFIGS["mu4"]["model"], "input_floor": 1e-3},
                        "init_from": "runs/mu4/mu4-floor-init.pt", "lr": 1e-4, "warmup": 50, "steps": 1500, "seed": 10}
# mu4 trained on with the floor it shipped with (2e-3) in place from the first step: a new model (new
# events), started from the released (now retired) mu4 file so that the run is reproducible from the
# repository. Released as mu5 with the floor at 3.5e-3 (checkpoints/mu5.md; docs/decoder-ablation.md, fifth round).
CONFIGS["mu5"] = {**CONFIGS["mu4"], "model": {**CONFIGS["mu4"]["model"], "input_floor": 2e-3},
                  "init_from": "checkpoints/retired/mu4.pt", "lr": 1.5e-4, "warmup": 50, "steps": 18000, "seed": 11}
# mu5 trained on the same way, with the floor it shipped with (3.5e-3) in place from the first step, on a
# 15 000-step schedule (--steps 15000: what one session's CPU time allowed). Released as mu6 with the floor
# at 6e-3 (checkpoints/mu6.md; docs/decoder-ablation.md, sixth round).
CONFIGS["mu6"] = {**CONFIGS["mu5"], "model": {**CONFIGS["mu5"]["model"], "input_floor": 3.5e-3},
                  "init_from": "checkpoints/retired/mu5.pt", "steps": 15000, "seed": 12}
# mu6 trained on with a term for which notes sound (losses.chroma_distance): the log and mel terms reward
# partials spread over their neighbours, and six rounds of training on them gained less and less chroma
# (docs/decoder-ablation.md). The floor mu6 shipped with (6e-3) is in place from the first step.
CONFIGS["mu7"] = {**CONFIGS["mu6"], "model": {**CONFIGS["mu6"]["model"], "input_floor": 6e-3},
                  "init_from": "checkpoints/retired/mu6.pt", "chroma_weight": 3.0, "steps": 12000, "seed": 13}
# mu7 trained on with the chroma term at a larger weight (8: at 3 it was about 5 % of mu7's loss). Stopped at
# step 2 180 of 10 000: its step-1 800 export (as trained: 8 iterations) had music chroma 0.870 and onset r
# 0.850 against mu7's 0.868 and 0.849; the peak-locked phase below moved more in fewer steps.
CONFIGS["mu7-chroma8"] = {**CONFIGS["mu7"], "model": {**CONFIGS["mu7"]["model"], "input_floor": 1e-2},
                          "init_from": "checkpoints/retired/mu7.pt", "chroma_weight": 8.0, "steps": 10000, "seed": 15}
# mu7's decoder trained on (encoder frozen: mu7's events and rates) with the phase taken from the magnitudes'
# peaks (model.phase.peak_locked_phase) instead of Griffin-Lim from the decoder's phase: with the true
# magnitudes that start keeps the pitch (music chroma 0.97 with no iterations), where Griffin-Lim from mu7's
# phase leaves low partials at bin centres, up to a semitone off.
CONFIGS["mu7-peaks"] = {**CONFIGS["mu7"], "model": {**CONFIGS["mu7"]["model"], "input_floor": 1e-2, "phase_init": "peaks",
                                                    "phase_iterations": 0},
                        "init_from": "checkpoints/retired/mu7.pt", "decoder_only": True, "lr": 2e-4, "warmup": 50,
                        "steps": 3000, "seed": 16}
# The peak-locked phase with the encoder unfrozen as well (new events, new rates: a new model), from
# mu7-peaks' step-1 000 export (runs/mu7-peaks/mu7-peaks.pt copied when that run had exported step 1 000),
# whose decoder had already adapted to it. Released as mu8 with 1 iteration and the floor at 1.2e-2.
CONFIGS["mu8"] = {**CONFIGS["mu7-peaks"], "decoder_only": False, "init_from": "runs/mu7-peaks/step1000.pt",
                  "lr": 1.5e-4, "warmup": 50, "steps": 5000, "seed": 17}
# mu8 trained on with its released floor (1.2e-2) in place from the first step, and the chroma term at weight 10
# (3 before). At 8, on mu7's Griffin-Lim phase, it moved nothing (mu7-chroma8): that phase left partials at bin
# centres whatever the magnitudes did. The peak-locked phase takes each partial's frequency from its peak's shape,
# so the term now reaches the pitch; mu8's music loses most chroma in the two lowest octaves (C1-C3: 0.75 against
# 0.86 for C3-C5 and 0.92 above), where a semitone is a fraction of a bin.
CONFIGS["mu9"] = {**CONFIGS["mu8"], "model": {**CONFIGS["mu8"]["model"], "input_floor": 1.2e-2},
                  "init_from": "checkpoints/retired/mu8.pt", "chroma_weight": 10.0, "lr": 1e-4, "warmup": 50, "steps": 9000,
                  "seed": 19}
# mu2's decoder (mu's frozen encoder: the same events and rates) fine-tuned against a spectrogram
# discriminator, against the smearing of partials that the regression terms leave. Tried for 400 steps
# (--steps 3000; 2.1 s a step on one thread) and stopped: docs/decoder-ablation.md, third round.
CONFIGS["mu2-adv"] = {**CONFIGS["mu2"], "loudness_weight": 1.0, "init_from": "checkpoints/retired/mu2.pt", "warmup": 50,
                      "lr": 2e-4, "steps": 8000, "seed": 4,
                      "adversarial": dict(weight=0.3, fm_weight=0.6, lr=2e-4, start=0)}
# mu3 in two stages, for 1.5x the encoder steps in the same CPU time: first the magnitude and level
# terms only (no phase retrieval in the loop: 0.5 s a step against 0.75 s), then mu2's decoder-only recipe on
# the events that stage leaves, to bring the waveform terms back. Tried once (mu3-mag from mu3's step-2400
# export, --steps 6000; then mu3-wave) and not released: docs/decoder-ablation.md, third round.
CONFIGS["mu3-mag"] = {**CONFIGS["mu3"], "synthesis": False, "loudness_weight": 0.0, "init_from": "runs/mu3/mu3-snapshot.pt",
                      "lr": 3e-4, "warmup": 50, "steps": 12000, "seed": 7}
CONFIGS["mu3-wave"] = {**CONFIGS["mu2"], "loudness_weight": 1.0, "init_from": "runs/mu3-mag/mu3-mag.pt",
                       "lr": 2e-4, "warmup": 50, "steps": 1500, "seed": 8}
# The same decoder recipe (phase retrieval in the loop, magnitude and loudness terms) for the other two
# variants, on their frozen encoders: their events and rates stay those of `sparse` and `free`.
_DECODER_RECIPE = dict(lr=3e-4, min_lr=2e-5, warmup=100, steps=3000, freeze_norm=True, decoder_only=True,
                       magnitude_weight=1.0, loudness_weight=1.0, augment=dict(lowpass=0.3, silence=0.1))
CONFIGS["sparse2"] = dict(model=dict(context_blocks=1, phase_iterations=8, silence_radius=3),
                          init_from="checkpoints/sparse.pt", seed=5, **_DECODER_RECIPE)
CONFIGS["free2"] = dict(model=dict(phase_iterations=8, silence_radius=3), init_from="checkpoints/free.pt", seed=6,
                        **_DECODER_RECIPE)
# sparse2 with mu7's chroma term: the same frozen encoder (sparse's events and rates), a decoder trained to
# keep the notes as well as the magnitudes.
CONFIGS["sparse3"] = {**CONFIGS["sparse2"], "chroma_weight": 3.0, "seed": 14}
# sparse3 with mu8's peak-locked phase: sparse's frozen encoder (its events and rates), a decoder trained to the
# phase built from its own magnitude peaks.
CONFIGS["sparse-peaks"] = {**CONFIGS["sparse3"], "model": {**CONFIGS["sparse3"]["model"], "phase_init": "peaks",
                                                            "phase_iterations": 0}, "seed": 18}
# sparse's path to mu8: sparse-peaks (the peak-locked phase learnt on sparse's frozen encoder) with the encoder
# unfrozen and its input floor raised to mu8's (1e-2 in training), under sparse's own rate term (target density
# 0.06, thresholds re-set to it at the start). New events, new rates: a new model, never sparse in place.
CONFIGS["sparse4"] = {**CONFIGS["sparse-peaks"], "model": {**CONFIGS["sparse-peaks"]["model"], "input_floor": 1e-2},
                      "decoder_only": False, "sparsity": dict(CONFIGS["sparse"]["sparsity"]),
                      "init_from": "runs/sparse-peaks/sparse-peaks.pt", "lr": 1.5e-4, "warmup": 50, "steps": 6000,
                      "seed": 20}
# The same path for free, in two stages as mu7-peaks / mu8 did: free's decoder alone learns the peak-locked
# phase on free's frozen encoder with the floor already raised (free-peaks), then encoder and decoder train
# together from its export (free4). free has no rate term: its events stay dense (3.56 kbps).
CONFIGS["free-peaks"] = {**CONFIGS["free2"], "model": {**CONFIGS["free2"]["model"], "phase_init": "peaks",
                                                      "phase_iterations": 0, "input_floor": 1e-2},
                         "chroma_weight": 3.0, "lr": 3e-4, "warmup": 50, "steps": 800, "seed": 21}
CONFIGS["free4"] = {**CONFIGS["free-peaks"], "decoder_only": False, "init_from": "runs/free-peaks/free-peaks.pt",
                    "lr": 1.5e-4, "warmup": 50, "steps": 3500, "seed": 22}
# Tiny versions of each variant, for the unit tests: seconds on a CPU.
TINY_MODEL = dict(encoder_dim=32, encoder_blocks=1, decoder_dim=32, decoder_blocks=1, units=16, n_fft=512, hop=128)
for name in ("free", "sparse", "mu", "mu2"):
    tiny = copy.deepcopy(CONFIGS[name])
    tiny["model"] = {**tiny.get("model", {}), **TINY_MODEL}
    tiny.update(batch=4, crop_frames=32, steps=30, warmup=5, lr=3e-3, save_every=10, log_every=5, init_from=None)
    if tiny.get("sparsity"):
        tiny["sparsity"] = {**tiny["sparsity"], "start": 10, "ramp": 10}
    CONFIGS["tiny-" + name] = tiny


def get_config(name: str) -> dict:
    if name not in CONFIGS:
        raise SystemExit(f"train: unknown config {name!r}; known: {', '.join(sorted(CONFIGS))}")
    cfg = copy.deepcopy(BASE)
    cfg.update(copy.deepcopy(CONFIGS[name]))
    cfg["name"] = name
    return cfg
