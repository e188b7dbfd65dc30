"""One file encoded or decoded for the command line: what ``spikecodec encode``/``decode`` (and
``--ray``'s workers, batch.py) run per job, between the batch runner (jobs.py) and the Python API.

``run(kind, job, opts)`` turns every failure into a one-line :class:`~spikecodec.jobs.Result`.
Models are loaded once per process and kept (a worker codes many files with one model).
"""
from __future__ import annotations

import contextlib
import io
import math
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from spikecodec.clitools import InputError, atomic_output, reason
from spikecodec.jobs import FileProgress, Job, Result, per_file_bars, read_input, shown_output, write_output

#: Extensions picked up when a folder is given to ``encode`` (what libsndfile reads).
AUDIO_EXTS = frozenset(
    ".wav .wave .flac .ogg .oga .opus .mp3 .aif .aiff .aifc .au .snd .caf .w64 .rf64 "
    ".voc .sd2 .htk .nist .sph .ircam .sf .paf .avr .wve .mpc .xi .pvf .mat".split()
)
SPK_EXT = ".spk"
DECODE_FORMATS = ("wav", "flac")
#: --target-kbps is the whole file's rate (all channels, container included); a file more than
#: this fraction over it draws a warning (the per-clip search meets the target on the clips' own
#: bits; the file and group headers add a little).
TARGET_SLACK = 0.05


@dataclass
class Options:
    model: Optional[str] = None
    device: str = "auto"
    force: bool = False
    verbose: bool = False
    # encode
    level: Optional[int] = None
    quality_floor: Optional[float] = None
    target_kbps: Optional[float] = None
    spk_version: int = 2
    # decode
    sample_rate: Optional[int] = None
    format: Optional[str] = None
    float_out: bool = False
    ray: Optional[str] = None  # --ray ADDRESS: run the file jobs on Ray workers (spikecodec/batch.py)
    ray_workers: int = 0  # -j N given with --ray: N workers; 0 = one per CPU (GPU) of the cluster


def _api():
    import spikecodec  # torch is imported lazily by the package, on first use of the API

    return spikecodec


_MODELS: dict = {}


def get_model(spec: str, device: str):
    key = (spec, device)
    if key not in _MODELS:
        _MODELS[key] = _api().load_model(spec, device=device)
    return _MODELS[key]


def encode_one(job: Job, opts: Options) -> Result:
    from spikecodec.bitstream import inspect_spk

    api = _api()
    model = get_model(opts.model or "default", opts.device)
    if job.src == "-":
        src: Any = io.BytesIO(job.data or b"")
    else:
        p = Path(job.src)
        if not p.exists():
            raise InputError("no such file or directory")
        if p.is_dir():
            raise InputError("is a folder")
        src = str(p)
    buf = io.BytesIO()
    total = None
    if per_file_bars() and job.src != "-":
        with contextlib.suppress(Exception):
            import soundfile

            total = soundfile.info(str(src)).frames
    progress = FileProgress(f"encode {job.src}", total, 0)
    try:
        api.encode_file(src, buf, model=model, device=opts.device, level=opts.level, quality_floor=opts.quality_floor,
                        target_kbps=opts.target_kbps, spk_version=opts.spk_version, progress=progress)
    finally:
        progress.close()
    data = buf.getvalue()
    write_output(job.dst, data, opts.force)
    info = inspect_spk(data)
    detail = (f"{info.header.channels} ch, {info.header.source_sample_rate} Hz, "
              f"{info.duration_s:.2f} s, {len(data)} bytes, {info.bitrate_kbps:.2f} kbps")
    warning = ""
    if opts.target_kbps is not None and info.bitrate_kbps > opts.target_kbps * (1 + TARGET_SLACK):
        warning = _target_warning(opts.target_kbps, info, len(data))
    return Result(job.src, job.dst, True, detail=detail, output_written=True, warning=warning)


def _target_warning(target: float, info, size: int) -> str:
    """Why --target-kbps was not reached: the sparsest level is still too dense, or (a short
    file) the container's own headers are a large part of the rate."""
    msg = f"--target-kbps {target:g} not reached: the file is {info.bitrate_kbps:.2f} kbps"
    parts = info.bits_by_part
    clip_bits = int(parts.get("payload", 0)) + int(parts.get("clip_headers", 0))
    dur = info.duration_s
    if dur > 0:
        headers_kbps = (8 * size - clip_bits) / dur / 1000
        if clip_bits / dur / 1000 <= target * (1 + TARGET_SLACK):
            return msg + f", {headers_kbps:.2f} kbps of it the container's headers (a short file)"
    return msg + ", the least this model codes it in"



def _decode_model(header, opts: Options):
    """The model to decode with, chosen by the API (compress.model_for: --model if given, else the
    installed one with the file's model id), loaded once per process."""
    from spikecodec.compress import model_for

    key = (opts.model or header.model_id, opts.device)
    if key not in _MODELS:
        _MODELS[key] = model_for(header, opts.model, opts.device)
    return _MODELS[key]


def decode_one(job: Job, opts: Options) -> Result:
    from spikecodec.bitstream import damage_ranges, read_spk
    from spikecodec.compress import output_length

    api = _api()
    data = read_input(job)
    if not data:
        raise InputError("empty file (not a .spk)")
    spk = read_spk(data)  # raises SpkFormatError on bad bytes; reports lost clips
    header = spk.header
    fmt = opts.format or _format_for(job.dst) or "wav"
    model = _decode_model(header, opts)
    kwargs: dict = {"format": fmt, "model": model, "device": opts.device}
    if opts.sample_rate is not None:
        kwargs["sample_rate"] = opts.sample_rate
    if opts.float_out:
        kwargs["subtype"] = "FLOAT"
    sr = opts.sample_rate or header.source_sample_rate
    n = output_length(header, sr)
    progress = FileProgress(f"decode {job.src}", n, sr)
    kwargs["progress"] = progress
    try:
        if job.dst == "-":
            buf = io.BytesIO()
            decoded = api.decode_file(spk, buf, **kwargs)
            write_output("-", buf.getvalue(), opts.force)
        else:
            with atomic_output(Path(job.dst), opts.force) as f:
                decoded = api.decode_file(spk, f, **kwargs)
    finally:
        progress.close()
    damaged = list(decoded.damaged)
    sample_fmt = "float" if opts.float_out else ("24-bit" if fmt == "flac" else "16-bit")
    detail = (f"{header.channels} ch, {sr} Hz, {n} samples ({header.num_samples / header.source_sample_rate:.2f} s), "
              f"{fmt} {sample_fmt}")
    stats = decoded.output_stats
    if stats.get("limited"):
        detail += (f", {stats['limited']} samples over -1 dBFS soft-limited "
                   f"(peak {20 * math.log10(max(stats['peak'], 1e-9)):+.1f} dBFS; --float keeps them)")
    if damaged:
        return Result(
            job.src, job.dst, False, output_written=True, detail=detail,
            error=(f"damaged: {len(damaged)} clip(s) lost, silenced in the output "
                   f"({damage_ranges(damaged)}); the rest was written to {shown_output(job.dst)}"),
        )
    return Result(job.src, job.dst, True, detail=detail, output_written=True)


def _format_for(dst: str) -> Optional[str]:
    if dst == "-":
        return None
    ext = Path(dst).suffix.lower().lstrip(".")
    return ext if ext in DECODE_FORMATS else None


def run(kind: str, job: Job, opts: Options) -> Result:
    """Run one job and turn every failure into a Result (used in-process and in workers)."""
    fn = encode_one if kind == "encode" else decode_one
    try:
        return fn(job, opts)
    except InputError as e:
        return Result(job.src, job.dst, False, error=str(e))
    except Exception as e:  # noqa: BLE001 -- one line per input, never a traceback
        tb = traceback.format_exc() if opts.verbose else ""
        return Result(job.src, job.dst, False, error=reason(e), traceback=tb)


def spk_name(p: Path) -> str:
    return p.with_suffix(SPK_EXT).name if p.suffix else p.name + SPK_EXT


def audio_name(ext: str) -> Callable[[Path], str]:
    return lambda p: p.with_suffix(ext).name if p.suffix.lower() == SPK_EXT else p.name + ext
