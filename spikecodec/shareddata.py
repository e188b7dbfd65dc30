"""Where the evaluation data lives, and a clear one-line failure when it is not there.

The dev set, its manifests and the reference scorer (``eval/dev/{piano,music}``, ``eval/score.py``)
are not part of this repository: they live in a ``shared/`` folder beside it, or wherever
``SPIKECODEC_SHARED`` points. ``make bench``, ``make data``, ``python -m spikecodec.training.evaluate``
and ``docs/scripts/shipped_events.py`` need it; the codec itself (encode, decode, the tests) does not.

    python -m spikecodec.shareddata bench|data|evaluate     # exit 1 with one line if it is missing

Standard library only, so the Makefile can check before installing anything.
"""
from __future__ import annotations

import glob
import os
import sys

#: What each tool needs under the shared folder.
NEEDS = {
    "bench": ("eval/dev/piano", "eval/dev/music", "eval/score.py"),
    "evaluate": ("eval/dev/piano", "eval/dev/music", "eval/score.py"),
    "data": ("eval/dev/piano/manifest.csv", "eval/dev/music/manifest.csv"),
    "events": ("eval/dev/piano",),
}
COMMANDS = {
    "bench": "make bench",
    "evaluate": "python -m spikecodec.training.evaluate",
    "data": "make data",
    "events": "docs/scripts/shipped_events.py",
}


def shared_dir() -> str:
    """``$SPIKECODEC_SHARED``, else ``shared/`` beside the repository (``../shared`` from its root)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.abspath(os.environ.get("SPIKECODEC_SHARED") or os.path.join(here, "..", "..", "shared"))


def dev_clips(name: str, limit: int | None = None, shared: str | None = None) -> list[str]:
    """The reference clips of one dev set (``piano``, ``music``), sorted, the first ``limit``: the one
    order that evaluate, the benchmarks and the docs scripts all use, so "the first N clips" is one set."""
    return sorted(glob.glob(os.path.join(shared or shared_dir(), "eval", "dev", name, "*.flac")))[:limit]


def link_references(clips, folder: str) -> str:
    """``folder`` holding symlinks to ``clips`` and their onset CSVs (fidelity.py's note F1 reads them):
    a reference folder for the scorers, which want a decoded file for every reference they see."""
    os.makedirs(folder, exist_ok=True)
    for clip in clips:
        for f in (clip, clip[:-len(".flac")] + ".csv"):
            link = os.path.join(folder, os.path.basename(f))
            if os.path.exists(f) and not os.path.lexists(link):
                os.symlink(f, link)
    return folder


def missing(paths, shared: str | None = None) -> list[str]:
    shared = shared or shared_dir()
    return [p for p in paths if not os.path.exists(os.path.join(shared, p))]


def require(tool: str, paths=None, shared: str | None = None) -> str:
    """The shared folder, if it holds ``paths`` (default: what ``tool`` needs); else SystemExit with
    one line saying what to provide."""
    shared = os.path.abspath(shared or shared_dir())
    paths = tuple(NEEDS.get(tool, ())) if paths is None else tuple(paths)
    gone = missing(paths, shared)
    if gone:
        what = COMMANDS.get(tool, tool)
        raise SystemExit(
            f"spikecodec: error: {what} needs the evaluation data ({', '.join(gone)}), not found under {shared}; "
            "put the shared/ folder beside the repository or set SPIKECODEC_SHARED=DIR")
    return shared


def main(argv=None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in NEEDS:
        raise SystemExit(f"usage: python -m spikecodec.shareddata {{{'|'.join(NEEDS)}}}")
    require(args[0])


if __name__ == "__main__":
    main()
