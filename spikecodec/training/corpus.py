"""`make data`: build the local training corpus, reproducibly.

Sources (all local: Debian packages and PyPI):
  * generated piano and ensemble MIDI (seeded, mido), rendered with FluidSynth;
  * music21 corpus scores, pianoized and as written, rendered with three soundfonts;
  * Planet Blupi MIDI (Debian ``planetblupi-music-midi``), rendered;
  * real recorded music: Debian ``ufoai-music`` (minus the 12 dev tracks) and ``planetblupi-music-ogg``.

Everything held out for evaluation is excluded explicitly (see ``HELD_OUT_*``): the dev-set
pieces and tracks listed in ``shared/eval/dev/*/manifest.csv``, the held-out music21 folders, and
the held-out Debian packages, which are simply never fetched.

Output: ``data/corpus/{piano,ensemble,recorded}/*.flac`` (mono, 22050 Hz, 16 bit) and
``data/corpus/manifest.csv``.  Usage: ``python -m spikecodec.training.corpus [--out data/corpus]``.
"""
from __future__ import annotations

import argparse
import csv
import glob
import hashlib
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import soundfile as sf
import soxr

from ..atomic import atomic_write
from ..shareddata import shared_dir

SAMPLE_RATE = 22050
RENDER_RATE = 44100
MAX_PIECE_S = 150.0
SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
)
APT_RENDER = ("fluidsynth", "fluid-soundfont-gm", "musescore-general-soundfont-small", "timgm6mb-soundfont")
RECORDED_PACKAGES = ("ufoai-music", "planetblupi-music-ogg")
MIDI_PACKAGES = ("planetblupi-music-midi",)

# Held out for independent evaluation: never fetched, never rendered.
HELD_OUT_PACKAGES = (
    "warzone2100-music", "singularity-music", "nexuiz-music", "hyperrogue-music", "drascula-music",
    "asc-music", "fb-music-high", "pianobooster", "playmidi",
)
HELD_OUT_M21_FOLDERS = ("joplin", "mozart", "schoenberg", "schumann_clara", "cpebach", "beach", "schubert", "haydn")
HELD_OUT_M21_PREFIXES = ("bach/bwv250",)
# Same pieces as dev-set entries under another file name (shared/eval/README.md, "Rule").
DEV_DUPLICATES = (
    "beethoven/opus18no1/movement1", "beethoven/opus18no1/movement2", "schumann_robert/dichterliebe_no2",
)
M21_COMPOSERS = ("bach", "beethoven", "chopin", "handel", "corelli", "monteverdi", "palestrina", "schumann_robert",
                 "weber", "verdi", "trecento", "ciconia", "essenFolksong", "luca", "josquin", "ryansMammoth",
                 "airdsAirs", "demos", "leadSheet", "liliuokalani", "nottingham-dataset", "oneills1850", "miscFolk")


def dev_exclusions(shared: str) -> tuple[set[str], set[str]]:
    """(music21 corpus paths without extension, ufoai track members) listed in the dev manifests."""
    pieces, tracks = set(DEV_DUPLICATES), set()
    p = os.path.join(shared, "eval", "dev", "piano", "manifest.csv")
    m = os.path.join(shared, "eval", "dev", "music", "manifest.csv")
    if not (os.path.exists(p) and os.path.exists(m)):
        raise SystemExit(f"corpus: dev manifests not found under {shared}/eval/dev (set SPIKECODEC_SHARED)")
    with open(p) as f:
        for row in csv.DictReader(f):
            path = row["source"].split("corpus:")[1]
            pieces.add(os.path.splitext(path)[0])
    with open(m) as f:
        for row in csv.DictReader(f):
            tracks.add(row["member"])
    return pieces, tracks


def is_held_out_score(rel: str, dev_pieces: set[str]) -> bool:
    stem = os.path.splitext(rel)[0]
    top = rel.split("/")[0]
    return (top in HELD_OUT_M21_FOLDERS or any(rel.startswith(p) for p in HELD_OUT_M21_PREFIXES)
            or stem in dev_pieces)


# ----------------------------------------------------------------------------- generated MIDI
def generated_midi(seed: int, ensemble: bool) -> bytes:
    """A seeded random piece: chords, arpeggios, melodies, varied tempo, dynamics and register."""
    import mido
    rng = random.Random(seed)
    tpb = 480
    mid = mido.MidiFile(ticks_per_beat=tpb)
    tempo = rng.randint(50, 180)
    key = rng.randint(0, 11)
    scale = [0, 2, 4, 5, 7, 9, 11] if rng.random() < 0.6 else [0, 2, 3, 5, 7, 8, 10]
    beats = int(rng.uniform(40, 110) * tempo / 60)
    programs = [0] if not ensemble else rng.sample(
        [0, 4, 6, 11, 19, 24, 25, 32, 33, 40, 41, 42, 46, 48, 52, 56, 60, 65, 68, 71, 73, 80, 88, 89, 48, 0], 3)
    voices = [("bass", 36, 52), ("chords", 48, 72), ("melody", 60, 96)]
    for ch, ((role, lo, hi), prog) in enumerate(zip(voices, programs * 3)):
        tr = mido.MidiTrack()
        mid.tracks.append(tr)
        if ch == 0:
            tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo)))
        tr.append(mido.Message("program_change", channel=ch, program=prog, time=0))
        events = []  # (tick, on/off, note, velocity)
        t = 0
        base_vel = rng.randint(40, 110)
        while t < beats * tpb:
            degree = rng.randrange(7)
            root = key + scale[degree]
            dur = rng.choice([tpb // 4, tpb // 2, tpb, tpb, 2 * tpb, 3 * tpb]) if role != "chords" else rng.choice([tpb, 2 * tpb, 4 * tpb])
            vel = max(1, min(127, int(base_vel + rng.gauss(0, 15))))
            if rng.random() < 0.12:
                t += dur  # rest
                continue
            if role == "melody":
                notes = [root + 12 * rng.randint(lo // 12, hi // 12 - 1)]
            elif role == "bass":
                notes = [root + 12 * rng.randint(lo // 12, hi // 12 - 1)]
            else:
                octave = 12 * rng.randint(lo // 12, hi // 12 - 1)
                notes = [octave + key + scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]
                if rng.random() < 0.4:  # arpeggiate
                    step = dur // len(notes)
                    for i, n in enumerate(notes):
                        events += [(t + i * step, 1, n, vel), (t + dur, 0, n, 0)]
                    t += dur
                    continue
            for n in notes:
                if 21 <= n <= 108:
                    events += [(t, 1, n, vel), (t + int(dur * rng.uniform(0.5, 1.0)), 0, n, 0)]
            t += dur
        events.sort(key=lambda e: (e[0], e[1]))
        last = 0
        for tick, on, note, vel in events:
            tr.append(mido.Message("note_on" if on else "note_off", channel=ch, note=note, velocity=vel,
                                   time=tick - last))
            last = tick
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def pianoize(midi_bytes: bytes) -> bytes:
    """Drop drums and bank selects, force every program to 0 (acoustic grand)."""
    import mido
    m = mido.MidiFile(file=io.BytesIO(midi_bytes))
    for tr in m.tracks:
        keep = mido.MidiTrack()
        carry = 0
        for msg in tr:
            drop = (not msg.is_meta and getattr(msg, "channel", None) == 9) or \
                   (msg.type == "control_change" and msg.control in (0, 32)) or msg.type == "sysex"
            if drop:
                carry += msg.time
                continue
            if msg.type == "program_change":
                msg = msg.copy(program=0)
            keep.append(msg.copy(time=msg.time + carry))
            carry = 0
        tr[:] = keep
    buf = io.BytesIO()
    m.save(file=buf)
    return buf.getvalue()


def score_midi(rel: str) -> bytes:
    from music21 import corpus
    s = corpus.parse(rel)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "x.mid")
        try:
            s.write("midi", fp=out)
        except Exception:
            s.write("midi", fp=out)  # retried once: music21 sometimes fails on repeat expansion only lazily
        return open(out, "rb").read()


# ----------------------------------------------------------------------------- rendering and audio
def render(midi_bytes: bytes, soundfont: str) -> np.ndarray:
    """MIDI bytes -> mono float64 at SAMPLE_RATE (FluidSynth at 44.1 kHz, reverb on, chorus off)."""
    with tempfile.TemporaryDirectory() as d:
        mid, wav = os.path.join(d, "x.mid"), os.path.join(d, "x.wav")
        open(mid, "wb").write(midi_bytes)
        subprocess.run(["fluidsynth", "-ni", "-q", "-C", "0", "-R", "1", "-g", "0.5", "-r", str(RENDER_RATE),
                        "-O", "float", "-T", "wav", "-F", wav, soundfont, mid],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
        x, sr = sf.read(wav, dtype="float64", always_2d=True)
    return soxr.resample(x.mean(axis=1), sr, SAMPLE_RATE, quality="VHQ")


def finish(x: np.ndarray, rng: random.Random) -> np.ndarray | None:
    """Trim silence at both ends, cap the length, remove DC, peak-normalise to -1..-12 dBFS."""
    if x.size == 0:
        return None
    env = np.abs(x) > 1e-4 * (np.abs(x).max() + 1e-12)
    idx = np.flatnonzero(env)
    if idx.size < SAMPLE_RATE:
        return None
    x = x[idx[0]: idx[-1] + 1][: int(MAX_PIECE_S * SAMPLE_RATE)]
    x = x - x.mean()
    peak = np.abs(x).max()
    if peak < 1e-6:
        return None
    return x * (10 ** (-rng.uniform(1, 12) / 20) / peak)


def write(path: str, x: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_write(path) as f:
        sf.write(f, x.astype(np.float32), SAMPLE_RATE, subtype="PCM_16", format="FLAC")


def _job(job: dict) -> dict | None:
    """Render one corpus item; runs in a worker process. Returns its manifest row or None."""
    out = job["path"]
    if os.path.exists(out):
        return dict(job, seconds=round(sf.info(out).duration, 2))
    rng = random.Random(job["seed"])
    try:
        if job["kind"] == "generated":
            midi = generated_midi(job["seed"], ensemble=job["group"] == "ensemble")
        elif job["kind"] == "music21":
            midi = score_midi(job["source"])
        else:
            midi = open(job["source"], "rb").read()
        if job["group"] == "piano":
            midi = pianoize(midi)
        x = finish(render(midi, job["soundfont"]), rng)
    except Exception as e:  # a score music21 cannot convert is skipped, not fatal
        print(f"corpus: skipped {job['source']}: {type(e).__name__}: {e}", file=sys.stderr)
        return None
    if x is None:
        return None
    write(out, x)
    return dict(job, seconds=round(len(x) / SAMPLE_RATE, 2))


def fetch_debs(cache: str, packages) -> dict[str, str]:
    """apt-get download + dpkg -x each package into cache; returns {package: unpacked root}."""
    roots = {}
    cache = os.path.abspath(cache)
    for pkg in packages:
        assert pkg not in HELD_OUT_PACKAGES, pkg
        debdir = os.path.join(cache, "debs")
        os.makedirs(debdir, exist_ok=True)
        debs = glob.glob(os.path.join(debdir, pkg + "_*.deb"))
        if not debs:
            subprocess.run(["apt-get", "download", "-q", pkg], cwd=debdir, check=True, stdout=subprocess.DEVNULL)
            debs = glob.glob(os.path.join(debdir, pkg + "_*.deb"))
        root = os.path.join(cache, "x", pkg)
        if not os.path.isdir(root):
            os.makedirs(root + ".part", exist_ok=True)
            subprocess.run(["dpkg", "-x", sorted(debs)[-1], root + ".part"], check=True)
            os.replace(root + ".part", root)
        roots[pkg] = root
    return roots


def recorded_tracks(cache: str, dev_tracks: set[str]):
    """Yield (name, bytes) of every recorded track we may train on."""
    roots = fetch_debs(cache, RECORDED_PACKAGES)
    for pk3 in glob.glob(os.path.join(roots["ufoai-music"], "**", "*.pk3"), recursive=True):
        with zipfile.ZipFile(pk3) as z:
            for member in sorted(z.namelist()):
                if member.endswith(".ogg") and member not in dev_tracks:
                    yield "ufoai_" + os.path.splitext(os.path.basename(member))[0], z.read(member)
    for path in sorted(glob.glob(os.path.join(roots["planetblupi-music-ogg"], "**", "*.ogg"), recursive=True)):
        yield "blupi_" + os.path.splitext(os.path.basename(path))[0], open(path, "rb").read()


def build(out: str, cache: str, n_generated: int, n_scores: int, jobs: int) -> None:
    missing = [p for p in ("fluidsynth",) if shutil.which(p) is None] + [s for s in SOUNDFONTS if not os.path.exists(s)]
    if missing:
        raise SystemExit("corpus: missing " + ", ".join(missing) + "; install: apt-get install -y " + " ".join(APT_RENDER))
    dev_pieces, dev_tracks = dev_exclusions(shared_dir())
    rng = random.Random(1234)
    work = []
    for i in range(n_generated):
        group = "piano" if i % 3 else "ensemble"
        work.append(dict(kind="generated", group=group, source=f"generated:{i}", seed=10_000 + i,
                         soundfont=SOUNDFONTS[i % len(SOUNDFONTS)], path=os.path.join(out, group, f"gen{i:04d}.flac")))
    from music21 import corpus as m21corpus
    root = os.path.dirname(m21corpus.__file__)
    scores = []
    for comp in M21_COMPOSERS:
        for p in sorted(m21corpus.getComposer(comp)):
            rel = os.path.relpath(str(p), root)
            if not is_held_out_score(rel, dev_pieces) and rel.endswith((".mxl", ".xml", ".krn", ".musicxml")):
                scores.append(rel)
    scores = sorted(set(scores))
    rng.shuffle(scores)
    for i, rel in enumerate(scores[:n_scores]):
        group = "piano" if i % 2 == 0 else "ensemble"
        name = hashlib.sha1(rel.encode()).hexdigest()[:10]
        work.append(dict(kind="music21", group=group, source=rel, seed=20_000 + i,
                         soundfont=SOUNDFONTS[i % len(SOUNDFONTS)], path=os.path.join(out, group, f"m21_{name}.flac")))
    midi_root = fetch_debs(cache, MIDI_PACKAGES)["planetblupi-music-midi"]
    for i, mid in enumerate(sorted(glob.glob(os.path.join(midi_root, "**", "*.mid"), recursive=True))):
        work.append(dict(kind="midi", group="ensemble", source=mid, seed=30_000 + i,
                         soundfont=SOUNDFONTS[i % len(SOUNDFONTS)],
                         path=os.path.join(out, "ensemble", f"blupimidi_{i:02d}.flac")))
    rows = []
    with ProcessPoolExecutor(jobs) as pool:
        for row in pool.map(_job, work):
            if row:
                rows.append(row)
                print(f"corpus: {row['group']:9s} {row['seconds']:7.1f} s  {row['source']}", flush=True)
    for name, data in recorded_tracks(cache, dev_tracks):
        path = os.path.join(out, "recorded", name + ".flac")
        if not os.path.exists(path):
            x, sr = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
            y = soxr.resample(x.mean(axis=1), sr, SAMPLE_RATE, quality="VHQ")
            y = finish(y, random.Random(name))
            if y is None:
                continue
            write(path, y)
        secs = round(sf.info(path).duration, 2)
        rows.append(dict(kind="recorded", group="recorded", source=name, seed="", soundfont="", path=path, seconds=secs))
        print(f"corpus: recorded  {secs:7.1f} s  {name}", flush=True)
    with open(os.path.join(out, "manifest.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["group", "kind", "source", "soundfont", "seed", "seconds", "path"])
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in w.fieldnames})
    total = sum(r["seconds"] for r in rows) / 3600
    print(f"corpus: {len(rows)} files, {total:.2f} h in {out}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="data/corpus")
    ap.add_argument("--cache", default="data/cache")
    ap.add_argument("--generated", type=int, default=60, help="number of generated MIDI pieces")
    ap.add_argument("--scores", type=int, default=90, help="number of music21 scores")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args(argv)
    build(a.out, a.cache, a.generated, a.scores, a.jobs)


if __name__ == "__main__":
    main()
