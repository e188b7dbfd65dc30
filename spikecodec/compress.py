"""Audio <-> model <-> .spk bytes, in clips, with bounded memory.

Encoding streams the input through the resampler into a buffer at the model rate and
encodes groups of `GROUP_CLIPS` clips as soon as the audio they depend on has arrived.
Each group is computed from a window that extends `encoder_radius` frames past it (the
encoder's receptive field), so every clip's events equal those of one pass over the whole
song: the result does not depend on how the input was chunked. Decoding works the same
way on windows of z. Only z (3.4 kbit/s) is kept whole; audio never is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .audio import Resampler, as_2d, open_audio, read_blocks, readable_source, to_bytes, write_audio
from .bitstream import FORMAT_VERSION, Header, SpkFile, SpkFormatError, read_spk, record_bits, write_spk
from .checkpoint import LoadedModel, find_by_id, load_model, missing_model_message
from .errors import CodecError

GROUP_CLIPS = 4          # clips encoded or decoded per model call
FRAMES_PER_CLIP = 256
# Levels the per-clip searches choose from. Below mu = 8 (target density 25 %) every clip is
# stored dense anyway, so a lower level buys no bits, and quality is not monotone there
# (mu = 0 asks for every unit to fire); from 8 up, bits fall and distance rises with mu.
SEARCH_LEVELS = (8, 31)


def _model(model, device) -> LoadedModel:
    return model if isinstance(model, LoadedModel) else load_model(model, device=device)


def clip_bits(z_clip: np.ndarray, has_level: bool, version: int = FORMAT_VERSION) -> int:
    """Exact bits of one clip record in its cheapest layout of .spk ``version`` (no group overhead):
    in v2 that may be the entropy-coded ctx layout, whose cost is that of the real code."""
    return record_bits(z_clip, has_level, version)


@dataclass
class RateControl:
    """How the sender picks each clip's level mu (mu-models only).

    level: a fixed level; target_kbps: the whole file's rate (all channels, as opusenc's --bitrate):
    per clip, the lowest level whose clip fits its channel's share of that rate;
    quality_floor: the highest level whose decoded clip keeps the log-mel distance to the
    input at or under the floor (the paper's mu*, with LMD in place of SI-SNR).
    """
    level: int | None = None
    target_kbps: float | None = None
    quality_floor: float | None = None

    def validate(self, lm: LoadedModel) -> None:
        asked = [n for n in ("level", "target_kbps", "quality_floor") if getattr(self, n) is not None]
        if asked and not lm.config.levels:
            raise CodecError(f"model {lm.name!r} has no bit-rate levels; --{asked[0].replace('_', '-')} needs a mu model")
        if len(asked) > 1:
            raise CodecError("give at most one of level, target_kbps and quality_floor")
        if self.level is not None and not 0 <= self.level < lm.config.levels:
            raise CodecError(f"level must be in 0..{lm.config.levels - 1}")
        if self.target_kbps is not None and not self.target_kbps > 0:
            raise CodecError("target bit-rate must be positive")
        if self.quality_floor is not None and not self.quality_floor > 0:
            raise CodecError("quality floor must be a positive log-mel distance")


class _StreamEncoder:
    """Feeds model-rate audio (samples, channels); yields nothing until `finish` returns z."""

    def __init__(self, lm: LoadedModel, channels: int, rate: RateControl, version: int = FORMAT_VERSION):
        import torch
        self.version = version
        self.torch, self.lm, self.net, self.rate = torch, lm, lm.net, rate
        c = lm.config
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
        levels = [np.array(l, np.int64) for l in self.levels] if self.lm.config.levels else None
        return z, levels, n_frames

    def _run(self, final: bool) -> None:
        T = FRAMES_PER_CLIP
        while True:
            f0 = self.next_clip * T
            n_frames = max(1, math.ceil(self.total / self.hop)) if final else None
            if final and f0 >= n_frames:
                return
            f1 = f0 + GROUP_CLIPS * T
            if final:
                f1 = min(f1, n_frames)
            elif (f1 + self.radius) * self.hop + self.pad > self.total:
                return  # the window's right context has not arrived yet
            w0, w1 = max(0, f0 - self.radius), f1 + self.radius
            if final:
                w1 = min(w1, n_frames)
            audio = self._window(w0 * self.hop - self.pad, w1 * self.hop + self.pad)
            spans = [(f0 + k * T - w0, min(f0 + (k + 1) * T, f1) - w0) for k in range((f1 - f0 + T - 1) // T)]
            for clip in self._encode_group(audio, spans):
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
        x = torch.from_numpy(np.ascontiguousarray(audio)).to(self.lm.device)
        with torch.inference_mode():
            lv = None if level is None else torch.full((x.shape[0],), level, dtype=torch.long, device=x.device)
            return self.net.encoder_logits(x, lv, padded=True)

    def _encode_group(self, audio, spans):
        """Events of each clip span [a, b) of the window: per clip, per channel (z (N, b-a) bool, level).

        The encoder runs once per window and level; the level search reuses those runs for
        every clip of the group.
        """
        c, rc = self.lm.config, self.rate
        if not c.levels or rc.level is not None or (rc.target_kbps is None and rc.quality_floor is None):
            lv = None if not c.levels else rc.level if rc.level is not None else (c.default_level or 0)
            z = (self._logits(audio, lv) > 0).cpu().numpy()
            return [[(zc[:, a:b], lv) for zc in z] for a, b in spans]
        cache = {}

        def z_at(mu):
            if mu not in cache:
                cache[mu] = (self._logits(audio, mu) > 0).cpu().numpy()
            return cache[mu]

        return [[self._search_level(lambda mu: z_at(mu)[ch, :, a:b], audio[ch], a, b) for ch in range(audio.shape[0])]
                for a, b in spans]

    def _search_level(self, z_at, audio, a, b):
        """Binary search over mu for one channel's clip (bits fall and distance rises with mu)."""
        rc = self.rate
        lowest, highest = SEARCH_LEVELS[0], min(SEARCH_LEVELS[1], self.lm.config.levels - 1)
        if rc.target_kbps is not None:
            # --target-kbps is the whole file's rate: each channel's clip gets its share of it
            budget = rc.target_kbps * 1000 * (b - a) * self.hop / self.lm.config.sample_rate / self.channels
            ok = lambda mu: clip_bits(z_at(mu), True, self.version) <= budget  # noqa: E731
            lo, hi = lowest, highest                                      # find the lowest mu that fits
            if not ok(hi):
                return z_at(hi), hi
            while lo < hi:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
            return z_at(lo), lo
        ref = audio[self.pad + a * self.hop:self.pad + b * self.hop]
        ok = lambda mu: self._clip_distance(z_at(mu), mu, ref) <= rc.quality_floor   # noqa: E731
        lo, hi = lowest, highest                                          # find the highest mu that passes
        if not ok(lo):
            return z_at(lo), lo
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
        return z_at(lo), lo

    def _clip_distance(self, z: np.ndarray, mu: int, ref: np.ndarray) -> float:
        from .metrics import log_mel_distance
        torch = self.torch
        with torch.inference_mode():
            zt = torch.from_numpy(z[None].astype(np.float32)).to(self.lm.device)
            y = self.net.decode_frames(zt, torch.tensor([mu], device=zt.device))[0].cpu().numpy()
        return log_mel_distance(y[:len(ref)], ref, self.lm.config.sample_rate)


def _header(lm: LoadedModel, source_rate: int, channels: int, num_samples: int, num_frames: int) -> Header:
    c = lm.config
    return Header(model_name=lm.name, model_id=lm.model_id, source_sample_rate=int(source_rate),
                  model_sample_rate=c.sample_rate, channels=channels, num_samples=int(num_samples),
                  num_frames=num_frames, units=c.units, frames_per_clip=FRAMES_PER_CLIP, hop=c.hop,
                  has_levels=bool(c.levels))


def _encode_blocks(blocks: Iterator[np.ndarray], source_rate: int, channels: int, lm: LoadedModel,
                   rate: RateControl, spk_version: int = FORMAT_VERSION) -> bytes:
    rate.validate(lm)
    if spk_version not in (1, 2):
        raise CodecError(f".spk format version must be 1 or 2, got {spk_version!r}")
    resample = Resampler(int(source_rate), lm.config.sample_rate, channels)
    enc = _StreamEncoder(lm, channels, rate, spk_version)
    num_samples = 0
    for block in blocks:
        num_samples += len(block)
        enc.feed(resample(block))
    if num_samples == 0:
        raise CodecError("no audio samples")
    enc.feed(resample(np.zeros((0, channels), np.float32), last=True))
    z, levels, n_frames = enc.finish()
    return write_spk(_header(lm, source_rate, channels, num_samples, n_frames), z, levels, version=spk_version)


def encode(audio: np.ndarray, sample_rate: int, model=None, level: int | None = None,
           target_kbps: float | None = None, quality_floor: float | None = None, device: str = "auto",
           spk_version: int = FORMAT_VERSION) -> bytes:
    """audio (samples,) or (samples, channels), any rate -> .spk bytes.

    ``spk_version``: 2 (default, entropy-coded clips where they are cheaper) or 1 (the paper's container)."""
    a = as_2d(audio)
    if not 1000 <= int(sample_rate) <= 384000:
        raise CodecError(f"sample rate {sample_rate} Hz is out of range")
    lm = _model(model, device)
    blocks = (a[i:i + 65536] for i in range(0, len(a), 65536))
    return _encode_blocks(blocks, int(sample_rate), a.shape[1], lm, RateControl(level, target_kbps, quality_floor),
                          spk_version)


def encode_file(src, dst, model=None, level: int | None = None, target_kbps: float | None = None,
                quality_floor: float | None = None, device: str = "auto", progress=None,
                spk_version: int = FORMAT_VERSION) -> int:
    """Stream an audio file (path or binary file object) into .spk bytes written to `dst`
    (a binary file object). Returns the number of bytes written. ``progress(n)`` is called with
    the input samples read after each block (the input's length: ``soundfile.info(src).frames``)."""
    lm = _model(model, device)
    with open_audio(readable_source(src)) as f:
        blocks = read_blocks(f)
        if progress is not None:
            blocks = _counted(blocks, progress)
        data = _encode_blocks(blocks, f.samplerate, f.channels, lm,
                              RateControl(level, target_kbps, quality_floor), spk_version)
    dst.write(data)
    return len(data)


# ----------------------------------------------------------------------------- decoding
def _check_model(spk, lm: LoadedModel) -> None:
    h = spk.header
    if h.model_id.lower() != lm.model_id:
        raise CodecError(f"this file needs model {h.model_name!r} (id {h.model_id}); "
                         f"{lm.name!r} is {lm.model_id}")


def _load_for(spk, model, device) -> LoadedModel:
    if model is not None:
        lm = _model(model, device)
    else:   # the model with the file's id, among the installed ones (never by name: names move)
        if find_by_id(spk.header.model_id) is None:
            raise CodecError(missing_model_message(spk.header.model_name, spk.header.model_id))
        lm = load_model(spk.header.model_id, device=device)
    _check_model(spk, lm)
    return lm


def _model_rate_blocks(spk, lm: LoadedModel) -> Iterator[np.ndarray]:
    """Decoded (samples, channels) float32 blocks at the model rate, clip group by clip group."""
    import torch
    h, net = spk.header, lm.net
    T, hop, n = h.frames_per_clip, h.hop, h.num_frames
    r = net.decoder_radius
    lost = np.zeros(n, bool)
    for _ch, k, *_ in spk.damaged:
        lost[k * T:(k + 1) * T] = True
    for f0 in range(0, n, GROUP_CLIPS * T):
        f1 = min(n, f0 + GROUP_CLIPS * T)
        w0, w1 = max(0, f0 - r), min(n, f1 + r)
        z = torch.from_numpy(np.stack([zc[:, w0:w1] for zc in spk.z]).astype(np.float32)).to(lm.device)
        level = None
        if h.has_levels:
            per_frame = np.stack([np.repeat(lv, T)[:n][w0:w1] for lv in spk.levels])
            level = torch.from_numpy(per_frame).to(lm.device)
        with torch.inference_mode():
            y = net.decode_frames(z, level)[:, (f0 - w0) * hop:(f1 - w0) * hop].cpu().numpy()
        if lost[f0:f1].any():
            y *= ~np.repeat(lost[f0:f1], hop)
        yield np.ascontiguousarray(y.T, dtype=np.float32)


def _output_blocks(spk, lm: LoadedModel, rate: int) -> Iterator[np.ndarray]:
    """Blocks at `rate`, exactly num_samples * rate / source_rate samples in all."""
    h = spk.header
    want = round(h.num_samples * rate / h.source_sample_rate) if rate != h.source_sample_rate else h.num_samples
    resample = Resampler(h.model_sample_rate, rate, h.channels)
    done = 0
    for block in _model_rate_blocks(spk, lm):
        y = resample(block)[: want - done]
        done += len(y)
        if len(y):
            yield y
    tail = resample(np.zeros((0, h.channels), np.float32), last=True)[: want - done]
    done += len(tail)
    if len(tail):
        yield tail
    if done < want:
        yield np.zeros((want - done, h.channels), np.float32)


def parse(data):
    """.spk bytes (or an already parsed SpkFile) -> SpkFile; SpkFormatError on damage it cannot localise."""
    return data if isinstance(data, SpkFile) else read_spk(data)


def decode(data, model=None, sample_rate: int | None = None, device: str = "auto"):
    """.spk bytes (or a parsed SpkFile) -> (audio float32 (samples, channels), sample_rate)."""
    spk = parse(data)
    lm = _load_for(spk, model, device)
    rate = int(sample_rate or spk.header.source_sample_rate)
    blocks = list(_output_blocks(spk, lm, rate))
    audio = np.concatenate(blocks) if blocks else np.zeros((0, spk.header.channels), np.float32)
    return audio, rate


def _counted(blocks: Iterator[np.ndarray], progress) -> Iterator[np.ndarray]:
    """Pass blocks through, calling progress(samples in the block) after each."""
    for b in blocks:
        yield b
        progress(len(b))


def decode_file(data, dst, format: str = "wav", model=None, sample_rate: int | None = None,
                device: str = "auto", subtype: str | None = None, progress=None):
    """.spk bytes (or a parsed SpkFile) -> audio written to `dst` (path or binary file object). Returns the SpkFile
    so the caller can report `damaged` time ranges (and `output_stats`: samples soft-limited, peak).

    WAV is 16-bit PCM unless ``subtype`` is "PCM_24" or "FLOAT"; FLAC is 24-bit PCM. PCM never
    exceeds full scale: samples over -1 dBFS are soft-limited (spikecodec.audio.soft_limit).
    ``progress(n)`` is called with the samples written after each block (at the output rate)."""
    spk = parse(data)
    lm = _load_for(spk, model, device)
    rate = int(sample_rate or spk.header.source_sample_rate)
    if not 1000 <= rate <= 384000:
        raise CodecError(f"sample rate {rate} Hz is out of range")
    blocks = _output_blocks(spk, lm, rate)
    if progress is not None:
        blocks = _counted(blocks, progress)
    spk.output_stats = write_audio(dst, blocks, rate, spk.header.channels, format, subtype)
    return spk


__all__ = ["encode", "decode", "encode_file", "decode_file", "RateControl", "SpkFormatError", "to_bytes"]
