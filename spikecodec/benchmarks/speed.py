"""Speed and memory: whole-process (CLI subprocess) and model-only real-time factors, and the
container's share of the time."""
from __future__ import annotations

import os

import numpy as np

from .classical import decode_cmd, encode_cmd
from ..bitstream.bench import best_time
from .common import CLIP_SAMPLES, SR, best_timed, cli_exe, thread_env


_best = best_time


def rate_args(s: dict) -> list[str]:
    args = ["-m", s["model"]]
    if s.get("level") is not None:
        args += ["--level", str(s["level"])]
    if s.get("quality_floor") is not None:
        args += ["--quality-floor", str(s["quality_floor"])]
    return args


def cli_speed(s: dict, clip: str, work: str, threads: int, repeat: int) -> dict:
    """Time `spikecodec encode` / `decode` subprocesses on one clip (best of `repeat`)."""
    os.makedirs(work, exist_ok=True)
    spk, wav = os.path.join(work, "clip.spk"), os.path.join(work, "clip.wav")
    env = thread_env(threads)
    enc = best_timed(cli_exe() + ["encode", "-q", "-f", clip, "-o", spk] + rate_args(s), repeat, env)
    dec = best_timed(cli_exe() + ["decode", "-q", "-f", spk, "-o", wav], repeat, env)
    dur = CLIP_SAMPLES / SR
    return {"encode_s": enc.wall_s, "decode_s": dec.wall_s, "encode_xrt": dur / enc.wall_s,
            "decode_xrt": dur / dec.wall_s, "encode_peak_rss_mb": enc.peak_rss_mb,
            "decode_peak_rss_mb": dec.peak_rss_mb, "seconds": dur, "spk_path": spk}


def classical_speed(codec: str, kbps: int, clip: str, work: str, threads: int, repeat: int) -> dict:
    os.makedirs(work, exist_ok=True)
    enc_path = os.path.join(work, "clip." + ("opus" if codec == "opus" else "mp3"))
    env = thread_env(threads)
    enc = best_timed(encode_cmd(codec, kbps, clip, enc_path), repeat, env)
    dec = best_timed(decode_cmd(codec, enc_path, os.path.join(work, "clip.wav")), repeat, env)
    dur = CLIP_SAMPLES / SR
    return {"encode_s": enc.wall_s, "decode_s": dec.wall_s, "encode_xrt": dur / enc.wall_s,
            "decode_xrt": dur / dec.wall_s, "encode_peak_rss_mb": enc.peak_rss_mb,
            "decode_peak_rss_mb": dec.peak_rss_mb, "seconds": dur}


def model_speed(name: str, clips: list[str], seconds: float, threads: int, repeat: int) -> dict:
    """net.encode_frames / net.decode_frames on one `seconds`-long tensor (tiled dev audio)."""
    import soundfile as sf
    import torch

    from ..checkpoint import load_model
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        net = load_model(name, device="cpu").net
        n = int(seconds * SR)
        audio = np.concatenate([sf.read(c, dtype="float32")[0] for c in clips])
        audio = np.tile(audio, -(-n // len(audio)))[:n]
        n -= n % net.config.hop
        x = torch.from_numpy(audio[None, :n].copy())
        with torch.inference_mode():
            z = net.encode_frames(x)       # warm-up (allocator, first-call costs)
            net.decode_frames(z)
            t_enc = _best(lambda: net.encode_frames(x), repeat)
            t_dec = _best(lambda: net.decode_frames(z), repeat)
    finally:
        torch.set_num_threads(old)
    sec = n / SR
    return {"seconds": sec, "threads": threads, "encode_s": t_enc, "decode_s": t_dec,
            "encode_xrt": sec / t_enc, "decode_xrt": sec / t_dec}


def container_times(data: bytes, repeat: int) -> dict:
    """Best-of pack (write_spk) and unpack (read_spk) seconds for the z of one .spk file."""
    from ..bitstream import read_spk, write_spk
    spk = read_spk(data)
    t_unpack = _best(lambda: read_spk(data), repeat)
    t_pack = _best(lambda: write_spk(spk.header, spk.z, spk.levels), repeat)
    return {"pack_s": t_pack, "unpack_s": t_unpack, "bytes": len(data)}


def clip_container_share(name: str, clip: str, cli: dict | None, repeat: int = 20) -> dict:
    """Container share of one dev clip's encode and decode: in-process (compress.encode/decode with
    the model loaded) and whole-process (the CLI timings of `cli`)."""
    import soundfile as sf

    from .. import compress
    from ..checkpoint import load_model
    model = load_model(name, device="cpu")
    x, sr = sf.read(clip, dtype="float32")
    data = compress.encode(x, sr, model=model)
    compress.decode(data, model=model)
    t_enc = _best(lambda: compress.encode(x, sr, model=model), 3)
    t_dec = _best(lambda: compress.decode(data, model=model), 3)
    ct = container_times(data, repeat)
    out = {"model": name, **ct, "encode_s": t_enc, "decode_s": t_dec,
           "pack_share_inprocess": ct["pack_s"] / t_enc, "unpack_share_inprocess": ct["unpack_s"] / t_dec}
    if cli:
        out["pack_share_cli"] = ct["pack_s"] / cli["encode_s"]
        out["unpack_share_cli"] = ct["unpack_s"] / cli["decode_s"]
    return out
