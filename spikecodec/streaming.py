"""Chunked streaming: the model run on windows of a long signal, with results equal to one pass.

Encoding buffers model-rate audio and encodes `CLIPS_PER_CALL` clips at a time as soon as the
audio they depend on has arrived. Each call's window reaches `encoder_radius` frames past its
clips (the encoder's receptive field, from the model) plus the analysis window, so every clip's
events equal those of one pass over the whole song, however the input was chunked. Decoding
works the same way on windows of z reaching `decoder_radius` frames past them; a model whose phase
accumulates over the signal (`phase_init="peaks"`) carries it from window to window. Only z
(3.4 kbit/s) is kept whole; audio never is.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from .bitstream import FORMAT_VERSION
from .checkpoint import LoadedModel
from .ratecontrol import RateControl, search_level

CLIPS_PER_CALL = 4       # clips encoded or decoded per model call (a CRC group is another thing)
FRAMES_PER_CLIP = 256


class StreamEncoder:
    """Feeds model-rate audio (samples, channels); yields nothing until `finish` returns z."""

    def __init__(self, model: LoadedModel, channels: int, rate: RateControl, version: int = FORMAT_VERSION):
        import torch
        self.version = version
        self.torch, self.model, self.net, self.rate = torch, model, model.net, rate
        c = model.config
        self.hop, self.pad = c.hop, c.n_fft // 2 - c.hop // 2
        self.radius = self.net.encoder_radius
        self.channels = channels
        self.buffer = np.zeros((0, channels), np.float32)   # model-rate audio from sample `offset` on
        self.offset = 0
        self.total = 0
        self.z: list[list[np.ndarray]] = [[] for _ in range(channels)]
        self.levels: list[list[int]] = [[] for _ in range(channels)]
        self.next_clip = 0

    def feed(self, block: np.ndarray) -> None:
        self.buffer = np.concatenate([self.buffer, block])
        self.total += len(block)
        self._run(final=False)

    def finish(self) -> tuple[list[np.ndarray], list[np.ndarray] | None, int]:
        self._run(final=True)
        n_frames = max(1, math.ceil(self.total / self.hop))
        z = [np.concatenate(zs, axis=1)[:, :n_frames] for zs in self.z]
        levels = [np.array(lv, np.int64) for lv in self.levels] if self.model.config.num_levels else None
        return z, levels, n_frames

    def _run(self, final: bool) -> None:
        T = FRAMES_PER_CLIP
        while True:
            f0 = self.next_clip * T
            n_frames = max(1, math.ceil(self.total / self.hop))   # of the input so far: final only when final
            if final and f0 >= n_frames:
                return
            f1 = f0 + CLIPS_PER_CALL * T
            if final:
                f1 = min(f1, n_frames)
            elif (f1 + self.radius) * self.hop + self.pad > self.total:
                return  # the window's right context has not arrived yet
            w0, w1 = max(0, f0 - self.radius), f1 + self.radius
            if final:
                w1 = min(w1, n_frames)
            audio = self._window(w0 * self.hop - self.pad, w1 * self.hop + self.pad)
            spans = [(f0 + k * T - w0, min(f0 + (k + 1) * T, f1) - w0) for k in range((f1 - f0 + T - 1) // T)]
            for clip in self._encode_clips(audio, spans):
                for ch, (zc, lv) in enumerate(clip):
                    self.z[ch].append(zc)
                    self.levels[ch].append(lv)
            self.next_clip += (f1 - f0 + T - 1) // T
            keep_from = max(0, (self.next_clip * T - self.radius) * self.hop - self.pad)
            self.buffer = self.buffer[keep_from - self.offset:]
            self.offset = keep_from

    def _window(self, s0: int, s1: int) -> np.ndarray:
        """Model-rate samples [s0, s1) as (channels, s1 - s0), zero outside the signal."""
        out = np.zeros((s1 - s0, self.channels), np.float32)
        a, b = max(s0, self.offset), min(s1, self.offset + len(self.buffer))
        if b > a:
            out[a - s0:b - s0] = self.buffer[a - self.offset:b - self.offset]
        return out.T

    def _logits(self, audio: np.ndarray, level: int | None):
        torch = self.torch
        x = torch.from_numpy(np.ascontiguousarray(audio)).to(self.model.device)
        with torch.inference_mode():
            lv = None if level is None else torch.full((x.shape[0],), level, dtype=torch.long, device=x.device)
            return self.net.encoder_logits(x, lv, padded=True)

    def _encode_clips(self, audio, spans):
        """Events of each clip span [a, b) of the window: per clip, per channel (z (N, b-a) bool, level).

        The encoder runs once per window and level; the level search reuses those runs for
        every clip of the window.
        """
        c, rate = self.model.config, self.rate
        if not c.num_levels or not rate.searches:
            lv = rate.fixed_level(c)
            z = (self._logits(audio, lv) > 0).cpu().numpy()
            return [[(zc[:, a:b], lv) for zc in z] for a, b in spans]
        cache = {}

        def z_at(mu):
            if mu not in cache:
                cache[mu] = (self._logits(audio, mu) > 0).cpu().numpy()
            return cache[mu]

        return [[search_level(rate, self.model, lambda mu: z_at(mu)[ch, :, a:b],
                              audio[ch][self.pad + a * self.hop:self.pad + b * self.hop], b - a, audio.shape[0],
                              self.version)
                 for ch in range(audio.shape[0])]
                for a, b in spans]


def model_rate_blocks(spk, model: LoadedModel) -> Iterator[np.ndarray]:
    """Decoded (samples, channels) float32 blocks at the model rate, `CLIPS_PER_CALL` clips at a time,
    each from a window of z reaching the model's `decoder_radius` frames past them; lost clips silent."""
    import torch
    h, net = spk.header, model.net
    T, hop, n = h.frames_per_clip, h.hop, h.num_frames
    r = net.decoder_radius
    from .model.phase import PhaseCarry
    lost = np.zeros(n, bool)
    for _ch, k, *_ in spk.damaged:
        lost[k * T:(k + 1) * T] = True
    carried = None      # a peak-phase model's accumulated phase at the frame before the window's clips
    for f0 in range(0, n, CLIPS_PER_CALL * T):
        f1 = min(n, f0 + CLIPS_PER_CALL * T)
        w0, w1 = max(0, f0 - r), min(n, f1 + r)
        z = torch.from_numpy(np.stack([zc[:, w0:w1] for zc in spk.z]).astype(np.float32)).to(model.device)
        level = None
        if h.has_levels:
            per_frame = np.stack([np.repeat(lv, T)[:n][w0:w1] for lv in spk.levels])
            level = torch.from_numpy(per_frame).to(model.device)
        carry = PhaseCarry(anchor=f0 - w0, start=carried)
        with torch.inference_mode():
            y = net.decode_frames(z, level, carry)[:, (f0 - w0) * hop:(f1 - w0) * hop].cpu().numpy()
        carried = carry.at(f1 - 1 - w0)
        if lost[f0:f1].any():
            y *= ~np.repeat(lost[f0:f1], hop)
        yield np.ascontiguousarray(y.T, dtype=np.float32)


__all__ = ["CLIPS_PER_CALL", "FRAMES_PER_CLIP", "StreamEncoder", "model_rate_blocks"]
