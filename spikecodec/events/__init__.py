"""Events you can see, edit and explain.

Tools that work on the binary event matrix ``z`` of a .spk file directly, with
no audio re-encoding and (except for a decoded spectrogram) no model:

* :func:`plot_events` -- a raster of the events, clip grid and layouts marked,
  optionally the decoded spectrogram beneath (matplotlib, Agg; imported lazily);
* :func:`cut`, :func:`mute`, :func:`drop_units`, :func:`thin`, :func:`concat` --
  edits returning new .spk bytes (or a SpkFile, for a SpkFile input);
* :func:`analyze` -- unit / note-onset cross-correlation and peak prominence
  (Lisboa & Bellec 2024, section 4) against a shuffled-onset baseline.

Nothing here imports torch or matplotlib at import time. See docs/events.md.
"""
from __future__ import annotations

from .edit import (
    EditError,
    as_spk,
    check_compatible,
    concat,
    cut,
    cut_frames,
    drop_units,
    frame_seconds,
    mute,
    parse_range,
    parse_units,
    thin,
    time_to_frame,
)

# Imported eagerly (numpy only) so that the name ``analyze`` is the function, not the submodule.
from .analyze import Analysis, analyze, note_name, onsets_from, read_midi, read_onsets


def __getattr__(name):
    if name in ("plot_events", "events_figure"):
        from . import plot
        return getattr(plot, name)
    raise AttributeError(f"module 'spikecodec.events' has no attribute {name!r}")


__all__ = [
    "EditError", "as_spk", "check_compatible", "concat", "cut", "cut_frames", "drop_units",
    "frame_seconds", "mute", "parse_range", "parse_units", "thin", "time_to_frame",
    "plot_events", "events_figure", "analyze", "Analysis", "read_onsets", "read_midi", "note_name",
    "onsets_from",
]
