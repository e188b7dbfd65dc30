"""Click commands ``plot``, ``edit``, ``concat`` and ``analyze``.

``register(group)`` adds them to a click group (the main ``spikecodec`` group
does this in ``spikecodec/cli.py``). Conventions, as for the rest of the CLI:
one-line errors ``spikecodec: error: <path>: <reason>`` and exit status 1
(2 for usage errors), never a traceback (unless ``-v``); outputs are written to a
temporary file beside the destination and moved into place, and an existing
file is never replaced without ``-f``. matplotlib is imported only by the
commands that draw; torch only by ``plot --spectrogram`` (to decode audio).
"""
from __future__ import annotations

import os
import traceback
from pathlib import Path

import click

from spikecodec.clitools import PROG, InputError, atomic_output, guard, reason, warn
from spikecodec.jobs import shown_input as _show
from spikecodec.jobs import shown_output, stdin, stdout


def _read(path: str) -> bytes:
    """Read an input file; failures become ``<path>: <reason>``."""
    try:
        if path == "-":
            data = stdin().read()
        else:
            p = Path(path)
            if p.is_dir():
                raise InputError(f"{path}: is a folder")
            data = p.read_bytes()
    except InputError:
        raise
    except OSError as e:
        raise InputError(f"{_show(path)}: {reason(e, with_filename=False)}") from None
    if not data:
        raise InputError(f"{_show(path)}: empty file (not a .spk)")
    return data


def _parse(path: str, data: bytes, verbose: bool = False):
    from spikecodec.bitstream import read_spk

    try:
        spk = read_spk(data)
    except Exception as e:  # noqa: BLE001
        if verbose:
            traceback.print_exc()
        raise InputError(f"{_show(path)}: {reason(e, with_filename=False)}") from None
    if spk.damaged:
        warn(f"{_show(path)}: damaged: {len(spk.damaged)} clip(s) lost; they are read as empty")
    return spk


def _check_output(out: str, force: bool, inputs=()) -> None:
    if out == "-":
        return
    p = Path(out)
    for i in inputs:
        if i != "-" and os.path.abspath(i) == os.path.abspath(out):
            raise InputError(f"{out}: the output would overwrite the input")
    if p.is_dir():
        raise InputError(f"{out}: is a folder")
    if os.path.lexists(p) and not force:
        raise InputError(f"{out}: already exists (use -f to overwrite)")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{out}: no such folder {parent}")


def _write(out: str, data: bytes, force: bool) -> None:
    """Atomically write ``data`` to ``out`` (temp file + os.replace / link); '-' = stdout."""
    if out == "-":
        stream = stdout()
        if hasattr(stream, "isatty") and stream.isatty():
            raise click.UsageError("refusing to write binary data to a terminal; use -o FILE")
        stream.write(data)
        stream.flush()
        return
    with atomic_output(out, force, exists=f"{out}: already exists (use -f to overwrite)", label=out) as f:
        f.write(data)


def _png(fig) -> bytes:
    from .plot import png_bytes

    return png_bytes(fig)


def _range_opt(ctx, param, value):
    """click callback: START:END -> (start, end)."""
    from .edit import EditError, parse_range

    if value is None:
        return None
    vals = value if isinstance(value, tuple) else (value,)
    out = []
    for v in vals:
        try:
            out.append(parse_range(v))
        except EditError as e:
            raise click.BadParameter(str(e)) from None
    return tuple(out) if isinstance(value, tuple) else out[0]


def _summary(path: str, data: bytes) -> str:
    from spikecodec.bitstream import inspect_spk

    info = inspect_spk(data)
    ev = sum(c.events for c in info.clips)
    return (f"{path}: {info.duration_s:.3f} s, {info.header.num_frames} frames, {ev} events, "
            f"{len(data)} bytes, {info.bitrate_kbps:.3f} kbps")


# --------------------------------------------------------------------------- plot

@click.command("plot")
@click.argument("input", metavar="FILE.spk")
@click.option("-o", "--output", metavar="OUT.png", help="Picture to write (default: FILE.png beside the input).")
@click.option("--start", type=click.FloatRange(min=0), metavar="S", help="Show from S seconds.")
@click.option("--end", type=click.FloatRange(min=0), metavar="S", help="Show up to S seconds.")
@click.option("--channel", "channels", type=click.IntRange(min=0), multiple=True, metavar="C",
              help="Channel to draw (repeatable; default all).")
@click.option("--spectrogram", is_flag=True, help="Add the decoded audio's spectrogram beneath (needs the model).")
@click.option("-m", "--model", metavar="NAME|PATH", default=None,
              help="Model for --spectrogram (default: the one named in the file).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the model runs for --spectrogram.")
@click.option("--width", type=click.IntRange(100, 20000), default=1400, show_default=True, help="Pixels.")
@click.option("--height", type=click.IntRange(100, 20000), default=None, help="Pixels (default: by channels).")
@click.option("--dpi", type=click.IntRange(20, 600), default=100, show_default=True, help="Text scale.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing output.")
@click.option("-v", "--verbose", is_flag=True, help="Tracebacks on errors.")
@guard
def plot_cmd(input, output, start, end, channels, spectrogram, model, device, width, height, dpi, force, verbose):
    """Draw the events of a .spk file: a raster of units x time per channel.

    Clip boundaries are dashed; a strip along the top gives each clip's layout,
    events and bits; lost clips are hatched red. Nothing is decoded unless
    --spectrogram.
    """
    if start is not None and end is not None and end <= start:
        raise click.BadParameter("--end must be after --start", param_hint="--end")
    if output is None:
        if input == "-":
            raise click.UsageError("give -o OUT.png when reading standard input")
        output = str(Path(input).with_suffix(".png"))
    if output == "-":
        raise click.UsageError("-o -: a picture is not written to standard output; give a file name")
    _check_output(output, force, [input])
    data = _read(input)
    spk = _parse(input, data, verbose)
    from .edit import EditError
    from .plot import events_figure

    mdl = None
    if spectrogram:
        spec = model or spk.header.model_id   # the file's model, found by its id (names move)
        shown = model or f"{spk.header.model_name} (id {spk.header.model_id})"
        try:
            import spikecodec
            from spikecodec.device import DeviceError, resolve_device

            try:
                dev = resolve_device(device)
            except DeviceError as e:
                raise InputError(f"--device {device}: {e} (use --device cpu or auto)") from None
            mdl = spikecodec.load_model(spec, device=dev)
        except Exception as e:  # noqa: BLE001
            if verbose:
                traceback.print_exc()
            why = reason(e, with_filename=False)
            raise InputError(f"{_show(input)}: --spectrogram needs model {shown!r}: {why}") from None
        device = dev
    try:
        fig = events_figure(spk, start=start, end=end, channels=list(channels) or None, spectrogram=spectrogram,
                            model=mdl, device=device, width=width, height=height, dpi=dpi)
    except EditError as e:
        raise InputError(f"{_show(input)}: {e}") from None
    except Exception as e:  # noqa: BLE001
        if verbose:
            traceback.print_exc()
        raise InputError(f"{_show(input)}: {reason(e, with_filename=False)}") from None
    _write(output, _png(fig), force)


# --------------------------------------------------------------------------- edit

@click.command("edit")
@click.argument("input", metavar="IN.spk")
@click.option("-o", "--output", metavar="OUT.spk", required=True, help="Edited file ('-' = standard output).")
@click.option("--cut", "cut_range", metavar="START:END", callback=_range_opt,
              help="Keep only this time range (seconds, snapped to frames; either side may be empty).")
@click.option("--mute", "mute_ranges", metavar="START:END", multiple=True, callback=_range_opt,
              help="Remove all events in this range (repeatable).")
@click.option("--drop-units", "drop", metavar="LIST", help="Remove every event of these units, e.g. 3,5,10-12.")
@click.option("--thin", "thin_frac", type=click.FloatRange(0, 1), metavar="FRACTION",
              help="Drop this fraction of the events, chosen at random (see --seed).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed for --thin.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing output.")
@click.option("-v", "--verbose", is_flag=True, help="Print the result's length and bit-rate; tracebacks on errors.")
@guard
def edit_cmd(input, output, cut_range, mute_ranges, drop, thin_frac, seed, force, verbose):
    """Edit the events of a .spk file directly (no audio, no model).

    All times refer to the input file. Order: --mute, --drop-units, --thin,
    then --cut. The output is re-packed (same .spk version) with the cheapest clip layouts and a
    header giving its new length; per-clip levels (mu) follow each new clip's
    majority source clip (see docs/events.md).
    """
    from .edit import EditError, cut, drop_units, mute, parse_units, thin

    if cut_range is None and not mute_ranges and drop is None and thin_frac is None:
        raise click.UsageError("nothing to do: give --cut, --mute, --drop-units or --thin")
    _check_output(output, force, [input])
    data = _read(input)
    spk = _parse(input, data, verbose)
    try:
        if drop is not None:
            units = parse_units(drop, spk.header.units)
        out = spk
        for a, b in mute_ranges:
            out = mute(out, a, b)
        if drop is not None:
            out = drop_units(out, units)
        if thin_frac is not None:
            out = thin(out, thin_frac, seed=seed)
        if cut_range is not None:
            out = cut(out, *cut_range)
    except EditError as e:
        raise InputError(f"{_show(input)}: {e}") from None
    from spikecodec.bitstream import write_spk

    result_bytes = write_spk(out.header, out.z, out.levels, version=out.header.format_version)
    _write(output, result_bytes, force)
    if verbose:
        click.echo(f"{PROG}: {_summary(_show(input), data)}", err=True)
        click.echo(f"{PROG}: {_summary(shown_output(output), result_bytes)}", err=True)


# --------------------------------------------------------------------------- concat

@click.command("concat")
@click.argument("inputs", nargs=-1, required=True, metavar="A.spk B.spk...")
@click.option("-o", "--output", metavar="OUT.spk", required=True, help="Joined file ('-' = standard output).")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing output.")
@click.option("-v", "--verbose", is_flag=True, help="Print the result's length and bit-rate; tracebacks on errors.")
@guard
def concat_cmd(inputs, output, force, verbose):
    """Join .spk files of the same model end to end (no audio, no model).

    The files must share model id, units, hop, sample rates, channels and
    levels. Each file starts on the frame after the previous one's last.
    """
    from spikecodec.bitstream import write_spk

    from .edit import EditError, check_compatible, concat

    if len(inputs) < 2:
        raise click.UsageError("concat needs at least two files")
    if sum(1 for i in inputs if i == "-") > 1:
        raise click.UsageError("standard input ('-') can be given only once")
    _check_output(output, force, inputs)
    files = []
    for path in inputs:
        files.append(_parse(path, _read(path), verbose))
    for path, f in zip(inputs[1:], files[1:]):
        try:
            check_compatible(files[0].header, f.header)
        except EditError as e:
            raise InputError(f"{_show(path)}: {e} (vs {_show(inputs[0])})") from None
    try:
        joined = concat(*files)
    except EditError as e:
        raise InputError(f"{_show(inputs[0])}: {e}") from None
    data = write_spk(joined.header, joined.z, joined.levels, version=joined.header.format_version)
    _write(output, data, force)
    if verbose:
        click.echo(f"{PROG}: {_summary(shown_output(output), data)}", err=True)


# --------------------------------------------------------------------------- analyze

@click.command("analyze")
@click.argument("input", metavar="FILE.spk")
@click.option("--onsets", metavar="NOTES.csv", help="Note onsets: CSV with columns time_s,pitch[,velocity].")
@click.option("--midi", metavar="FILE.mid", help="Note onsets from a MIDI file (note-on events).")
@click.option("-o", "--output", metavar="HEATMAP.png", help="Write a units x notes heatmap (like figure 5).")
@click.option("--csv", "csv_out", metavar="PHI.csv", help="Write phi, p and z-score per unit and note as CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON on stdout.")
@click.option("--shuffles", type=click.IntRange(0, 100000), default=200, show_default=True,
              help="Shuffled-onset baselines.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the shuffles.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.01,
              show_default=True, help="A pair is selective when its p-value is at most this.")
@click.option("--channel", type=click.IntRange(min=0), default=None, help="Analyse one channel (default: any).")
@click.option("--offset", type=float, default=0.0, show_default=True,
              help="Seconds subtracted from every onset time (e.g. the START of a cut).")
@click.option("--value", type=click.Choice(["phi", "zscore"]), default="phi", show_default=True,
              help="What the heatmap shows.")
@click.option("--max-units", type=click.IntRange(min=1), default=64, show_default=True,
              help="Heatmap rows: the units with the highest z-score when there are more.")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs.")
@click.option("-v", "--verbose", is_flag=True, help="Tracebacks on errors.")
@guard
def analyze_cmd(input, onsets, midi, output, csv_out, as_json, shuffles, seed, alpha, channel, offset, value,
                max_units, force, verbose):
    """Which units fire with which notes (Lisboa & Bellec 2024, section 4)?

    Cross-correlates every unit's events with every note's onsets, takes the
    peak prominence phi over |lag| < 10 frames, and compares it with onsets
    shifted at random (--shuffles, --seed): a pair is selective when p <= alpha.
    Prints a summary (or JSON), and writes a heatmap and/or a CSV.
    """
    from .analyze import analyze
    from .edit import EditError

    if (onsets is None) == (midi is None):
        raise click.UsageError("give exactly one of --onsets NOTES.csv or --midi FILE.mid")
    outs = [o for o in (output, csv_out) if o]
    if len(set(map(os.path.abspath, outs))) < len(outs):
        raise click.UsageError("-o and --csv must be different files")
    for o in outs:
        if o == "-":
            raise click.UsageError("-o/--csv take a file name ('-' is not supported)")
        _check_output(o, force, [input])
    src = onsets or midi
    if not Path(src).is_file():
        raise InputError(f"{src}: no such file" if not Path(src).exists() else f"{src}: is a folder")
    data = _read(input)
    spk = _parse(input, data, verbose)
    try:
        from .analyze import read_midi, read_onsets

        ons = read_onsets(src) if onsets else read_midi(src)
    except (EditError, OSError, EOFError) as e:
        raise InputError(f"{src}: {reason(e, with_filename=False)}") from None
    try:
        res = analyze(spk, ons, n_shuffles=shuffles, seed=seed, alpha=alpha, channel=channel, offset=offset)
    except EditError as e:
        raise InputError(f"{_show(input)}: {e}") from None
    if csv_out:
        _write(csv_out, res.to_csv().encode("utf-8"), force)
    if output:
        fig = res.heatmap(value=value, max_units=max_units)
        _write(output, _png(fig), force)
    if as_json:
        click.echo(res.to_json())
    else:
        click.echo(res.text())


COMMANDS = (plot_cmd, edit_cmd, concat_cmd, analyze_cmd)


def register(group: click.Group) -> click.Group:
    """Add ``plot``, ``edit``, ``concat`` and ``analyze`` to ``group`` (the main CLI)."""
    for cmd in COMMANDS:
        group.add_command(cmd)
    return group
