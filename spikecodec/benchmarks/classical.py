"""Classical anchors: Opus (opusenc/opusdec) and MP3 (ffmpeg + libmp3lame), coded as the eval README does.

Opus: `opusenc --quiet --bitrate K` (default VBR, 20 ms frames), `opusdec --quiet --rate 48000`;
the scorer resamples to 22050 Hz. MP3: `ffmpeg -c:a libmp3lame -b:a Kk` at the source rate (22.05 kHz,
MPEG-2 layer III), decoded by ffmpeg to WAV. File kbps = whole file; payload kbps = codec packets only
(Opus: the Ogg audio packets without OpusHead/OpusTags and page headers; MP3: without ID3 tags).
"""
from __future__ import annotations

import os
import subprocess

from .common import CLIP_SAMPLES, SR

OPUS_KBPS = (6, 8, 12)
MP3_KBPS = (8, 16)


def opus_packets(data: bytes) -> list[bytes]:
    """The logical packets of an Ogg stream (one stream, as opusenc writes)."""
    pos, cur, pkts = 0, b"", []
    while pos < len(data):
        if data[pos:pos + 4] != b"OggS":
            raise ValueError(f"not an Ogg page at byte {pos}")
        nseg = data[pos + 26]
        segs = data[pos + 27:pos + 27 + nseg]
        body = pos + 27 + nseg
        for s in segs:
            cur += data[body:body + s]
            body += s
            if s < 255:
                pkts.append(cur)
                cur = b""
        pos = body
    return pkts


def opus_payload_bytes(data: bytes) -> int:
    """Bytes of the Opus audio packets: the payload rate counts codec packets only, so the OpusHead and
    OpusTags header packets (and the Ogg page headers) are left out."""
    pkts = opus_packets(data)
    if not pkts or not pkts[0].startswith(b"OpusHead"):
        raise ValueError("not an Ogg Opus stream")
    return sum(len(p) for p in pkts[2:])


def opus_modes(data: bytes) -> dict[str, int]:
    """Packet count per Opus mode/bandwidth (RFC 6716 TOC byte), e.g. {'SILK-NB': 298}."""
    out: dict[str, int] = {}
    for p in opus_packets(data)[2:]:
        if not p:
            continue
        cfg = p[0] >> 3
        if cfg < 12:
            name = "SILK-" + ("NB", "MB", "WB")[cfg // 4]
        elif cfg < 16:
            name = "Hybrid-" + ("SWB", "FB")[(cfg - 12) // 2]
        else:
            name = "CELT-" + ("NB", "WB", "SWB", "FB")[(cfg - 16) // 4]
        out[name] = out.get(name, 0) + 1
    return out


def mp3_payload_bytes(data: bytes) -> int:
    """File bytes without a leading ID3v2 tag and a trailing ID3v1 tag."""
    start, end = 0, len(data)
    if data[:3] == b"ID3" and len(data) >= 10:
        size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F)
        start = 10 + size + (10 if data[5] & 0x10 else 0)
    if end - start >= 128 and data[end - 128:end - 125] == b"TAG":
        end -= 128
    return max(0, end - start)


def settings() -> list[dict]:
    return ([{"codec": "opus", "kbps": k, "label": f"Opus {k} kbps"} for k in OPUS_KBPS]
            + [{"codec": "mp3", "kbps": k, "label": f"MP3 {k} kbps"} for k in MP3_KBPS])


def encode_cmd(codec: str, kbps: int, src: str, dst: str) -> list[str]:
    if codec == "opus":
        return ["opusenc", "--quiet", "--bitrate", str(kbps), src, dst]
    return ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", src, "-c:a", "libmp3lame", "-b:a", f"{kbps}k", dst]


def decode_cmd(codec: str, src: str, dst: str) -> list[str]:
    if codec == "opus":
        return ["opusdec", "--quiet", "--rate", "48000", src, dst]
    return ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", src, "-c:a", "pcm_s16le", dst]


def code_set(codec: str, kbps: int, clips: list[str], enc_dir: str, dec_dir: str) -> list[dict]:
    """Encode + decode every clip; per clip: file and payload kbps (over the 2**17-sample duration)."""
    os.makedirs(enc_dir, exist_ok=True)
    os.makedirs(dec_dir, exist_ok=True)
    ext = ".opus" if codec == "opus" else ".mp3"
    dur = CLIP_SAMPLES / SR
    rows = []
    for src in clips:
        stem = os.path.basename(src).rsplit(".", 1)[0]
        enc = os.path.join(enc_dir, stem + ext)
        subprocess.run(encode_cmd(codec, kbps, src, enc), check=True, capture_output=True)
        subprocess.run(decode_cmd(codec, enc, os.path.join(dec_dir, stem + ".wav")), check=True,
                       capture_output=True)
        data = open(enc, "rb").read()
        payload = opus_payload_bytes(data) if codec == "opus" else mp3_payload_bytes(data)
        row = {"clip": stem, "kbps": 8 * len(data) / dur / 1000, "payload_kbps": 8 * payload / dur / 1000}
        if codec == "opus":
            row["modes"] = opus_modes(data)
        rows.append(row)
    return rows
