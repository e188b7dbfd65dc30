"""The ``spikecodec`` command line: ``encode``, ``decode``, ``info``, ``models`` and ``help``.

The commands only parse and check their options, as flac's main.c over encode.c/decode.c;
then ``encode``/``decode`` hand their files to the batch runner (``spikecodec/jobs.py``:
planning, output folders, workers, progress, failures, exit status), which codes each with
``spikecodec/filejobs.py`` through the public Python API; ``info`` prints the torch-free
bitstream's own view of a file (``spikecodec/bitstream/render.py``) and never imports torch.

Conventions (those of gzip/flac/opusenc where nothing else is said):

* Errors are one line on stderr, ``spikecodec: error: <path>: <reason>``; every
  other input is still processed. Exit status: 0 all succeeded, 1 some input
  failed (or a decoded file was damaged), 2 usage error, 130 interrupted.
* Outputs are written to a temporary file in the destination folder and moved
  into place (``os.replace``) only once complete, so a failed or interrupted
  run leaves no partial ``.spk``/``.wav`` behind. An existing file is never
  replaced without ``-f``.
* ``-`` is standard input/output. Binary data is never written to a terminal.
* Progress bars (tqdm) go to stderr only when stderr is a terminal; nothing
  else is printed on stderr except errors, unless ``-v``.
"""
from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Optional

import click

from spikecodec import jobs as runner
from spikecodec.audio import MAX_RATE, MIN_RATE
from spikecodec.bitstream import NUM_LEVELS, damage_ranges, info_dict, inspect_spk, render_text
from spikecodec.clitools import (PROG, InputError, atomic_output, err, guard, reason, show_click_error,
                                 silence_stdout)
from spikecodec.device import DEVICES
from spikecodec.filejobs import AUDIO_EXTS, DECODE_FORMATS, SPK_EXT, Options, audio_name, get_model, run, spk_name

__all__ = ["cli", "main", "InputError", "atomic_output"]

_VERBOSE = False  # set by the commands; read by main()'s last-resort handler


# --------------------------------------------------------------------------- option checks

def _resolve_device(device: str) -> str:
    """--device as a torch device (spikecodec.device); one that is not available is a usage error (exit 2)."""
    from spikecodec.device import DeviceError, resolve_device

    try:
        return resolve_device(device)
    except DeviceError as e:
        err(f"--device {device}: {e} (use --device cpu or auto)")
        raise click.exceptions.Exit(2) from None


def _check_output_options(inputs: tuple, output: Optional[str], output_dir: Optional[str]) -> None:
    if output is not None and output_dir is not None:
        raise click.UsageError("-o and -O exclude each other")
    if output is not None and (len(inputs) > 1 or any(i != "-" and Path(i).is_dir() for i in inputs)):
        raise click.UsageError("-o takes a single input file; use -O DIR for several")


def _load_model_or_exit(spec: str, device: str, verbose: bool):
    """Load ``--model`` once up front; a model that cannot be loaded is a usage error (exit 2)."""
    try:
        return get_model(spec, device)
    except Exception as e:  # noqa: BLE001
        if verbose:
            traceback.print_exc()
        err(f"--model {spec}: {reason(e)}")
        raise click.exceptions.Exit(2) from None


def _ray_setup(address: Optional[str], plan: list, jobs: int) -> dict:
    """``--ray``: a usage error (exit 2) unless it can run; the Options fields it sets ({} without it)."""
    if address is None:
        return {}
    from spikecodec import batch  # imports no Ray

    if any(j.src == "-" or j.dst == "-" for j in plan):
        err("--ray: standard input and output ('-') cannot be used with --ray; give files or folders")
        raise click.exceptions.Exit(2)
    try:
        batch.check_address(address)
        batch.require_ray()
    except (ValueError, ImportError) as e:
        err(f"--ray: {e}")
        raise click.exceptions.Exit(2) from None
    from click.core import ParameterSource

    given = click.get_current_context().get_parameter_source("jobs") is not ParameterSource.DEFAULT
    return {"ray": address, "ray_workers": jobs if given else 0}


def _set_verbosity(verbose: bool, quiet: bool) -> None:
    global _VERBOSE
    if verbose and quiet:
        raise click.UsageError("-q/--quiet and -v/--verbose exclude each other")
    _VERBOSE = verbose


# --------------------------------------------------------------------------- commands

def _version() -> str:
    try:
        from importlib.metadata import version

        return version("spikecodec")
    except Exception:  # noqa: BLE001 -- not installed (running from a checkout)
        return "0+unknown"


class _Group(click.Group):
    """The ``spikecodec`` group: usage errors are one line (``spikecodec: error: ...``, exit 2),
    also when click runs it in standalone mode (``cli()``, click's CliRunner)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        sys.exit(_exit_code(lambda: super(_Group, self).main(args, prog_name, complete_var, standalone_mode=False,
                                                             **extra)))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "-V", "--version", prog_name=PROG)
def cli() -> None:
    """spikecodec: a neural audio codec at about 3 kbps.

    \b
      spikecodec encode song.wav            -> song.spk
      spikecodec decode song.spk -o out.wav
      spikecodec info song.spk [--json]
      spikecodec help [COMMAND]
    """


_common = [
    click.option("-f", "--force", is_flag=True, help="Overwrite existing output files."),
    click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors."),
    click.option("-v", "--verbose", is_flag=True, help="Per-file detail on stderr; tracebacks on errors."),
    click.option("-j", "--jobs", type=click.IntRange(min=0), default=1, show_default=True,
                 help="Files coded in parallel (worker processes); 0 = one per CPU core."),
    click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
                 help="Where the model runs; auto = CUDA when torch sees one."),
    click.option("--ray", "ray_address", metavar="[ADDRESS]", is_flag=False, flag_value="local", default=None,
                 help="Run on a Ray cluster (HOST:PORT, or auto); alone: a local Ray instance. -j N = N workers "
                      "(default one per CPU, or GPU). Paths must be the same on every node. Needs spikecodec[ray]."),
]


#: The encode options of each RateControl field (spikecodec.ratecontrol words its errors by field).
RATE_FLAGS = {"level": "--level", "target_kbps": "--target-kbps", "quality_floor": "--quality-floor"}


def _rate_control_message(e, model: str) -> str:
    """A RateControlError in the command line's words (its flags)."""
    flags = [RATE_FLAGS[f] for f in e.fields]
    if e.problem == "several":
        return f"{' and '.join(flags)} exclude each other (give one rate control)"
    if e.problem == "no_levels":
        return f"{flags[0]}: model '{model}' has no levels; use a mu-model (e.g. --model mu)"
    return f"{flags[0]}: {e}"


def _with_common(fn):
    for deco in reversed(_common):
        fn = deco(fn)
    return fn


@cli.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--output", metavar="OUT", help="Output file ('-' = standard output); one input only.")
@click.option("-O", "--output-dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Write outputs under DIR, mirroring input folders.")
@click.option("-m", "--model", metavar="NAME|PATH", default="default", show_default=True,
              help="Model: an installed model's name or alias (see `spikecodec models`) or a checkpoint file.")
@click.option("--level", "level", type=click.IntRange(0, NUM_LEVELS - 1), metavar="MU",
              help=f"Bit-rate level 0..{NUM_LEVELS - 1} (mu-models only).")
@click.option("--quality-floor", "quality_floor", type=click.FloatRange(min=0, min_open=True), metavar="LMD",
              help="Per-clip quality floor (mu-models only).")
@click.option("--target-kbps", "target_kbps", type=click.FloatRange(min=0, min_open=True), metavar="KBPS",
              help="Target bit rate of the whole file (all channels, like opusenc --bitrate): per clip the "
                   "sparsest level that fits (mu-models only); a warning when it cannot be reached.")
@click.option("--spk-version", "spk_version", type=click.Choice(["1", "2"]), default="2", show_default=True,
              help="Container version: 2 entropy-codes clips where that is cheaper (about 1/4 of v1's size); "
                   "1 writes the strict paper container (four layouts).")
@_with_common
@guard
def encode(inputs, output, output_dir, model, level, quality_floor, target_kbps, spk_version, force, quiet, verbose,
           jobs, device, ray_address):
    """Encode audio files (or folders, recursively; '-' = stdin) to .spk.

    Any format and sample rate libsndfile reads; every channel is kept. The
    output is INPUT with the extension .spk, beside it, unless -o/-O.
    """
    _set_verbosity(verbose, quiet)
    _check_output_options(inputs, output, output_dir)
    from spikecodec.ratecontrol import RateControl, RateControlError

    rate = RateControl(level=level, target_kbps=target_kbps, quality_floor=quality_floor)
    try:
        rate.validate()
    except RateControlError as e:
        raise click.UsageError(_rate_control_message(e, model)) from None

    plan, failures, warnings = runner.plan(inputs, output, output_dir, AUDIO_EXTS, spk_name)
    runner.check_stdio(plan, "a binary .spk stream")
    ray = _ray_setup(ray_address, plan, jobs)
    dev = "cpu" if ray else _resolve_device(device)  # with --ray each worker picks its own device
    try:
        rate.validate(_load_model_or_exit(model, dev, verbose))
    except RateControlError as e:
        err(_rate_control_message(e, model))
        raise click.exceptions.Exit(2) from None
    opts = Options(model=model, device=device if ray else dev, force=force, verbose=verbose, level=level,
                   quality_floor=quality_floor, target_kbps=target_kbps, spk_version=int(spk_version), **ray)
    runner.run_all("encode", plan, failures, warnings, opts, jobs, quiet, run)


@cli.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT.spk...")
@click.option("-o", "--output", metavar="OUT", help="Output file ('-' = WAV on standard output); one input only.")
@click.option("-O", "--output-dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Write outputs under DIR, mirroring input folders.")
@click.option("--format", "fmt", type=click.Choice(DECODE_FORMATS), default=None,
              help="Output format (default: from the -o extension, else wav).")
@click.option("-r", "--sample-rate", "sample_rate", type=click.IntRange(MIN_RATE, MAX_RATE), metavar="HZ",
              help="Output sample rate (default: the source rate recorded in the file).")
@click.option("--float", "float_out", is_flag=True,
              help="Write 32-bit float WAV, as decoded (may exceed full scale); default 16-bit PCM WAV, "
                   "peaks over -1 dBFS soft-limited.")
@click.option("-m", "--model", metavar="NAME|PATH", default=None,
              help="Model to decode with (default: the one named in the file).")
@_with_common
@guard
def decode(inputs, output, output_dir, fmt, sample_rate, float_out, model, force, quiet, verbose, jobs, device,
           ray_address):
    """Decode .spk files (or folders of them; '-' = stdin) to WAV or FLAC.

    The output has the source sample rate, channel count and exact length
    recorded in the file. Default name: song.spk -> song.wav beside it; an
    existing file (e.g. the original song.wav) is never replaced without -f.
    A damaged file is still decoded, its lost clips silent, and the run exits 1
    with the lost time ranges on stderr.
    """
    _set_verbosity(verbose, quiet)
    _check_output_options(inputs, output, output_dir)
    if output is not None and output != "-" and fmt is None:
        ext = Path(output).suffix.lower()
        if ext and ext.lstrip(".") not in DECODE_FORMATS:
            raise click.UsageError(f"cannot write '{ext}' files; use .wav or .flac (or --format)")
    if float_out and (fmt == "flac" or (fmt is None and output not in (None, "-")
                                                     and Path(output).suffix.lower() == ".flac")):
        raise click.UsageError("--float: FLAC holds integer samples only; write WAV for float output")
    ext = "." + (fmt or "wav")
    plan, failures, warnings = runner.plan(inputs, output, output_dir, {SPK_EXT}, audio_name(ext))
    runner.check_stdio(plan, "audio")
    ray = _ray_setup(ray_address, plan, jobs)
    dev = "cpu" if ray else _resolve_device(device)  # with --ray each worker picks its own device
    if model:
        _load_model_or_exit(model, dev, verbose)
    opts = Options(model=model, device=device if ray else dev, force=force, verbose=verbose,
                   sample_rate=sample_rate, format=fmt, float_out=float_out, **ray)
    runner.run_all("decode", plan, failures, warnings, opts, jobs, quiet, run)


# --------------------------------------------------------------------------- info

@cli.command()
@click.argument("inputs", nargs=-1, required=True, metavar="FILE.spk...")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, one per line.")
@click.option("-v", "--verbose", is_flag=True, help="Tracebacks on errors.")
@guard
def info(inputs, as_json, verbose):
    """Show a .spk file's header and where its bits go (no decoding).

    Per clip: its layout, events and bits; totals by part and by layout.
    Damaged clips are listed with their time ranges, and the run exits 1.
    """
    _set_verbosity(verbose, False)
    failed = 0
    for i, path in enumerate(inputs):
        shown = runner.shown_input(path)
        try:
            data = runner.stdin().read() if path == "-" else Path(path).read_bytes()
            if not data:
                raise InputError("empty file (not a .spk)")
            d = info_dict(inspect_spk(data, ideal=True), shown)
        except IsADirectoryError:
            err(f"{shown}: is a folder")
            failed += 1
            continue
        except Exception as e:  # noqa: BLE001
            if verbose:
                traceback.print_exc()
            err(f"{shown}: {e if isinstance(e, InputError) else reason(e, with_filename=False)}")
            failed += 1
            continue
        if as_json:
            click.echo(json.dumps(d, separators=(",", ":"), default=_json_default))
        else:
            if i:
                click.echo()
            click.echo(render_text(d))
        if d.get("damaged"):
            err(f"{shown}: damaged: {len(d['damaged'])} clip(s) lost ({damage_ranges(d['damaged'])})")
            failed += 1
    raise click.exceptions.Exit(1 if failed else 0)


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


# --------------------------------------------------------------------------- models

def _models_dict() -> dict:
    from spikecodec.checkpoint import list_models, scan, search_path

    entries, aliases = scan()
    default = aliases.get("default")
    models = []
    for e in list_models():
        models.append({
            "name": e.name, "aliases": e.aliases, "id": e.model_id, "variant": e.variant or None,
            "levels": e.levels, "kbps": e.kbps, "size_bytes": e.size, "default": e.name == default,
            "installed": e.installed, "registered": e.registered, "status": e.status,
            "released": e.released or None, "where": e.where if e.installed else None, "path": e.path,
        })
    return {"default": default, "aliases": aliases, "models": models,
            "search_path": [{"folder": d, "where": w} for d, w in search_path()]}


def _range(r, fmt="{}", sep="-") -> str:
    if not r:
        return "-"
    lo, hi = r
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}{sep}{fmt.format(hi)}"


def _models_text(d: dict) -> str:
    head = ("name", "aliases", "id", "variant", "levels", "kbps", "size", "default", "installed in")
    rows = [head]
    for m in d["models"]:
        size = f"{m['size_bytes'] / 1e6:.1f} MB" if m["size_bytes"] is not None else "-"
        inst = m["where"] if m["installed"] else f"no ({m['status']})"
        rows.append((m["name"], ",".join(m["aliases"]) or "-", m["id"] or "-", m["variant"] or "-",
                     _range(m["levels"], sep=".."), _range(m["kbps"], "{:g}"), size, "yes" if m["default"] else "",
                     inst))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.append("")
    lines.append("searched, in order: " + ("; ".join(f"{s['folder']} ({s['where']})" for s in d["search_path"])
                                           or "nothing"))
    return "\n".join(lines)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object: models, aliases, search path.")
@click.option("-v", "--verbose", is_flag=True, help="Tracebacks on errors.")
@guard
def models(as_json, verbose):
    """List the installed models: name, aliases, id, variant, levels, bit-rate range, size.

    A .spk file names its model by id; `decode` finds it among these. Registered
    models that are not installed (e.g. retired ones) are listed too. Models are
    looked up in $SPIKECODEC_CHECKPOINTS, the package, the source tree and
    ~/.local/share/spikecodec/models (see docs/models.md).
    """
    _set_verbosity(verbose, False)
    d = _models_dict()
    if as_json:
        click.echo(json.dumps(d, separators=(",", ":")))
    else:
        click.echo(_models_text(d))
    raise click.exceptions.Exit(0)


# --------------------------------------------------------------------------- help

@cli.command("help")
@click.argument("command", required=False, metavar="[COMMAND]")
@click.pass_context
def help_cmd(ctx, command):
    """Show the help of spikecodec, or of COMMAND (same as COMMAND --help)."""
    group = ctx.parent.command
    if command is None:
        click.echo(group.get_help(ctx.parent))
        return
    cmd = group.get_command(ctx.parent, command)
    if cmd is None:
        raise click.UsageError(f"no such command '{command}'; commands: {', '.join(group.list_commands(ctx.parent))}")
    with click.Context(cmd, info_name=command, parent=ctx.parent) as sub:
        click.echo(cmd.get_help(sub))


# --------------------------------------------------------------------------- other command groups

def _register_extensions(group: click.Group) -> None:
    """Add the event tools (plot, edit, concat, analyze; spikecodec/events/cli.py) when present.

    They import neither torch nor matplotlib at import time, so ``info`` stays fast. A broken
    or missing extension must not take encode/decode/info down with it.
    """
    try:
        from spikecodec.events.cli import register
    except Exception:  # noqa: BLE001
        return
    register(group)


_register_extensions(cli)


# --------------------------------------------------------------------------- entry point

def _exit_code(call) -> int:
    """Run the group (``call``) and turn every way it ends into an exit status, with one line on stderr:
    the one guard around the commands (each command's own is clitools.guard)."""
    try:
        rv = call()
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        show_click_error(e)
        return e.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        err("interrupted")
        return 130
    except runner.Terminated as e:
        err("terminated")
        return 128 + e.signum
    except BrokenPipeError:
        silence_stdout()
        return 1
    except Exception as e:  # noqa: BLE001 -- never a traceback unless -v
        if _VERBOSE:
            traceback.print_exc()
        err(reason(e))
        return 1


def main(argv: Optional[list] = None) -> None:
    """Console-script entry point (``spikecodec``)."""
    runner.catch_termination()
    code = _exit_code(lambda: cli.main(args=argv, prog_name=PROG, standalone_mode=False))
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001
        silence_stdout()
    sys.exit(code)
