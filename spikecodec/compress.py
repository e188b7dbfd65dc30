"""The Python API's codec: audio <-> model <-> .spk bytes, in clips, with bounded memory.

The facade over three ideas, each in its own module: `streaming` (the model run on windows of
a long signal, equal to one pass), `ratecontrol` (each clip's level mu) and the torch-free
`bitstream` (the .spk container). This module reads and writes audio, checks what the caller
asks for, finds the model a file needs and frames the result; the names below stay importable
from here (`spikecodec.compress.RateControl`, `.clip_bits`, `.CLIPS_PER_CALL`, ...).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from .audio import MAX_RATE, MIN_RATE, Resampler, as_2d, open_audio, read_blocks, readable_source, to_bytes, write_audio
from .bitstream import FORMAT_VERSION, Header, SpkFile, SpkFormatError, read_spk, write_spk
from .checkpoint import LoadedModel, find_by_id, load_model, missing_model_message
from .errors import CodecError
from .ratecontrol import SEARCH_LEVELS, RateControl, RateControlError, clip_bits
from .streaming import CLIPS_PER_CALL, FRAMES_PER_CLIP, StreamEncoder, model_rate_blocks

# Looked up here at call time (a test replaces it with a cheap stand-in).
_model_rate_blocks = model_rate_blocks


def _model(model, device) -> LoadedModel:
    return model if isinstance(model, LoadedModel) else load_model(model, device=device)


def check_sample_rate(rate: int) -> int:
    """``rate`` as an int, or CodecError when it is outside MIN_RATE..MAX_RATE (audio.py)."""
    if not MIN_RATE <= int(rate) <= MAX_RATE:
        raise CodecError(f"sample rate {rate} Hz is out of range")
    return int(rate)


def _header(model: LoadedModel, source_rate: int, channels: int, num_samples: int, num_frames: int) -> Header:
    c = model.config
    return Header(model_name=model.name, model_id=model.model_id, source_sample_rate=int(source_rate),
                  model_sample_rate=c.sample_rate, channels=channels, num_samples=int(num_samples),
                  num_frames=num_frames, units=c.units, frames_per_clip=FRAMES_PER_CLIP, hop=c.hop,
                  has_levels=bool(c.num_levels))


def _encode_blocks(blocks: Iterator[np.ndarray], source_rate: int, channels: int, model: LoadedModel,
                   rate: RateControl, spk_version: int = FORMAT_VERSION) -> bytes:
    rate.validate(model)
    if spk_version not in (1, 2):
        raise CodecError(f".spk format version must be 1 or 2, got {spk_version!r}")
    resample = Resampler(int(source_rate), model.config.sample_rate, channels)
    enc = StreamEncoder(model, channels, rate, spk_version)
    num_samples = 0
    for block in blocks:
        num_samples += len(block)
        enc.feed(resample(block))
    if num_samples == 0:
        raise CodecError("no audio samples")
    enc.feed(resample(np.zeros((0, channels), np.float32), last=True))
    z, levels, n_frames = enc.finish()
    return write_spk(_header(model, source_rate, channels, num_samples, n_frames), z, levels, version=spk_version)


def encode(audio: np.ndarray, sample_rate: int, model=None, level: int | None = None,
           target_kbps: float | None = None, quality_floor: float | None = None, device: str = "auto",
           spk_version: int = FORMAT_VERSION) -> bytes:
    """audio (samples,) or (samples, channels), any rate -> .spk bytes.

    ``spk_version``: 2 (default, entropy-coded clips where they are cheaper) or 1 (the paper's container)."""
    a = as_2d(audio)
    sample_rate = check_sample_rate(sample_rate)
    loaded = _model(model, device)
    blocks = (a[i:i + 65536] for i in range(0, len(a), 65536))
    return _encode_blocks(blocks, sample_rate, a.shape[1], loaded, RateControl(level, target_kbps, quality_floor),
                          spk_version)


def encode_file(src, dst, model=None, level: int | None = None, target_kbps: float | None = None,
                quality_floor: float | None = None, device: str = "auto", progress=None,
                spk_version: int = FORMAT_VERSION) -> int:
    """Stream an audio file (path or binary file object) into .spk bytes written to `dst`
    (a binary file object). Returns the number of bytes written. ``progress(n)`` is called with
    the input samples read after each block (the input's length: ``soundfile.info(src).frames``)."""
    loaded = _model(model, device)
    with open_audio(readable_source(src)) as f:
        blocks = read_blocks(f)
        if progress is not None:
            blocks = _counted(blocks, progress)
        data = _encode_blocks(blocks, f.samplerate, f.channels, loaded,
                              RateControl(level, target_kbps, quality_floor), spk_version)
    dst.write(data)
    return len(data)


# ----------------------------------------------------------------------------- decoding
def _check_model(spk, model: LoadedModel) -> None:
    h = spk.header
    if h.model_id.lower() != model.model_id:
        raise CodecError(f"this file needs model {h.model_name!r} (id {h.model_id}); "
                         f"{model.name!r} is {model.model_id}")


def model_for(header: Header, model=None, device: str = "auto") -> LoadedModel:
    """The model that decodes a file with this header: ``model`` when given (a name, a path or a loaded
    model), else the installed one with the file's model id (never by name: names move). A missing
    model is a CodecError saying which one the file needs."""
    if model is not None:
        return _model(model, device)
    if find_by_id(header.model_id) is None:
        raise CodecError(missing_model_message(header.model_name, header.model_id))
    return load_model(header.model_id, device=device)


def _load_for(spk, model, device) -> LoadedModel:
    loaded = model_for(spk.header, model, device)
    _check_model(spk, loaded)
    return loaded


def output_length(header: Header, rate: int | None = None) -> int:
    """Samples per channel of a file decoded at ``rate`` (default: its source rate): its source length,
    scaled to the rate."""
    if rate is None or rate == header.source_sample_rate:
        return header.num_samples
    return round(header.num_samples * rate / header.source_sample_rate)


def _output_blocks(spk, model: LoadedModel, rate: int) -> Iterator[np.ndarray]:
    """Blocks at `rate`, exactly num_samples * rate / source_rate samples in all."""
    h = spk.header
    want = output_length(h, rate)
    resample = Resampler(h.model_sample_rate, rate, h.channels)
    done = 0
    for block in _model_rate_blocks(spk, model):
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
    loaded = _load_for(spk, model, device)
    rate = int(sample_rate or spk.header.source_sample_rate)
    blocks = list(_output_blocks(spk, loaded, rate))
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
    loaded = _load_for(spk, model, device)
    rate = check_sample_rate(sample_rate or spk.header.source_sample_rate)
    blocks = _output_blocks(spk, loaded, rate)
    if progress is not None:
        blocks = _counted(blocks, progress)
    spk.output_stats = write_audio(dst, blocks, rate, spk.header.channels, format, subtype)
    return spk


__all__ = ["encode", "decode", "encode_file", "decode_file", "parse", "check_sample_rate", "output_length", "model_for",
           "RateControl", "RateControlError", "SEARCH_LEVELS", "clip_bits", "CLIPS_PER_CALL", "FRAMES_PER_CLIP",
           "CodecError", "SpkFormatError", "to_bytes"]
