"""Batch encode and decode of file trees on a Ray cluster (``--ray``, ``pip install 'spikecodec[ray]'``).

    from spikecodec.batch import encode_tree, decode_tree
    report = encode_tree("music/", "coded/", ray_address="auto")   # an existing cluster
    report = decode_tree("coded/", "decoded/")                      # a local Ray instance
    assert report.ok, report.failed

The command line (``spikecodec encode|decode ... --ray [ADDRESS]``) plans its jobs exactly as
in local folder mode (spikecodec/jobs.py: names mirrored under ``-O``, existing outputs refused
without ``-f``, failures listed at the end, exit status) and hands the file jobs to
:func:`run_jobs`, which yields one ``jobs.Result`` per job as it completes.

Each worker is a Ray actor (:class:`_Coder`) that loads the model once and then codes many
files with the command line's own per-file code (``filejobs.run``): outputs are byte-identical to
local mode, and written atomically (a hidden temporary file in the destination folder,
renamed into place when complete). Workers use a GPU when the cluster has one (one worker
per GPU), otherwise one worker per CPU.

Files are read and written by the workers through their paths: every node must see the
inputs and the output folders at the same absolute paths (a shared filesystem such as NFS),
and have the same spikecodec and models installed (a worker whose model differs from the
driver's refuses to start).

A job whose worker is lost (its process or its node died) is given to another worker, up to
``max_attempts`` times, and a replacement worker is started; it joins when the cluster has
room for it. The lost attempt's temporary file is removed; an output that was renamed into
place before the loss counts as done.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

from .errors import CodecError

__all__ = ["encode_tree", "decode_tree", "run_jobs", "TreeReport", "RayUnavailable", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'spikecodec[ray]'"
IN_FLIGHT = 2  # jobs queued per worker: one running, one waiting, so a worker never idles between files
OBJECT_STORE_BYTES = 200 * 1024 * 1024  # for a local instance: results are a few hundred bytes each


class RayUnavailable(ImportError):
    """Ray is not installed (the ``ray`` extra)."""


def require_ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailable(f"Ray is not installed; install the extra: {INSTALL_HINT}") from None
    return ray


def check_address(address: Optional[str]) -> Optional[str]:
    """None/"local" (start a local instance), "auto", HOST:PORT or ray://HOST:PORT; else ValueError.

    ``--ray`` takes an optional value, so ``--ray songs/`` would read the folder as an address:
    refuse what does not look like one.
    """
    if address is None or address in ("local", "auto"):
        return address
    if re.fullmatch(r"(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d+", address):
        return address
    raise ValueError(f"{address!r} is not a Ray address (auto, local, HOST:PORT or ray://HOST:PORT); "
                     "write --ray=ADDRESS, or put --ray after the inputs")


# --------------------------------------------------------------------------- the worker

class _Coder:
    """One Ray actor: loads the model once, then codes files with the CLI's per-file code."""

    def __init__(self, kind: str, opts, model_id: Optional[str], threads: int):
        import socket

        self.kind, self.error = kind, None
        self.where = f"{socket.gethostname()} pid {os.getpid()}"
        try:
            import torch

            from spikecodec import filejobs
            from spikecodec.device import resolve_device

            torch.set_num_threads(max(1, threads))
            with contextlib.suppress(RuntimeError):
                torch.set_num_interop_threads(1)
            self.opts = dataclasses.replace(opts, device=resolve_device(opts.device))
            self.where += f" ({self.opts.device})"
            spec = opts.model if kind == "decode" else (opts.model or "default")
            if spec:  # decode without -m loads the model each file names, once, on first use
                m = filejobs.get_model(spec, self.opts.device)
                if model_id and m.model_id != model_id:
                    raise CodecError(f"model {spec!r} here is {m.model_id}, the driver's is {model_id}: "
                                     "install the same spikecodec and models on every node")
        except Exception as e:  # noqa: BLE001 -- reported by describe(), not by an actor crash
            from spikecodec.clitools import reason

            self.error = reason(e)

    def describe(self) -> tuple:
        return self.where, self.error

    def run(self, job):
        from spikecodec import filejobs

        return filejobs.run(self.kind, job, self.opts)


# --------------------------------------------------------------------------- connecting

@contextlib.contextmanager
def _loopback_ok(ray, address: Optional[str]):
    """Keep a local instance, or a cluster given by a loopback address, on 127.0.0.1.

    Ray rewrites 127.0.0.1 to the machine's outward address unless it runs single-machine
    (its macOS/Windows mode); a local instance never needs to be reached from elsewhere.
    """
    host = (address or "").replace("ray://", "").rsplit(":", 1)[0]
    loopback = address in (None, "local") or host in ("localhost", "::1", "[::1]") or host.startswith("127.")
    consts = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if not loopback or consts is None or not hasattr(consts, "ENABLE_RAY_CLUSTER"):
        yield
        return
    old = consts.ENABLE_RAY_CLUSTER
    consts.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        consts.ENABLE_RAY_CLUSTER = old


@contextlib.contextmanager
def _session(ray, address: Optional[str]):
    """Connect (or start a local instance) unless Ray is already initialised; disconnect after."""
    if ray.is_initialized():
        yield
        return
    kw: dict = {"log_to_driver": False, "logging_level": logging.WARNING}
    # Ray's notice that a new local instance turned token authentication on (its default) is
    # not ours to print on every run.
    logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
    with _loopback_ok(ray, address):
        if address in (None, "local"):
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            ray.init(address="local", include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES, **kw)
        else:
            try:
                ray.init(address=address, **kw)
            except (ConnectionError, TimeoutError, ValueError) as e:
                raise CodecError(f"--ray {address}: cannot join the Ray cluster: {e}") from None
    try:
        yield
    finally:
        ray.shutdown()


# --------------------------------------------------------------------------- scheduling

_PART = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.part\Z")  # clitools.atomic_output's tempfile.mkstemp names


def _remove_parts(dsts) -> None:
    """Remove the hidden temporary files that killed attempts at the outputs ``dsts`` left behind
    (a lost worker, or an earlier run that was killed); one listing per folder."""
    by_dir: dict = collections.defaultdict(set)
    for dst in dsts:
        d, name = os.path.split(dst)
        by_dir[d or "."].add(name)
    for d, names in by_dir.items():
        with contextlib.suppress(OSError):
            for f in os.listdir(d):
                m = _PART.match(f)
                if m and m.group("name") in names:
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(d, f))


def _model_id(kind: str, spec: Optional[str]) -> Optional[str]:
    """The driver's model id, which every worker must match (encode, or decode with -m)."""
    spec = spec if kind == "decode" else (spec or "default")
    if not spec:
        return None
    with contextlib.suppress(Exception):
        from .checkpoint import file_id, resolve

        return file_id(resolve(spec))
    return None


def _abs_model(spec: Optional[str]) -> Optional[str]:
    """A checkpoint given as a relative path, made absolute for workers whose cwd differs."""
    if spec and (os.sep in spec or spec.endswith(".pt") or os.path.exists(spec)):
        return os.path.abspath(spec)
    return spec


def _worker_count(ray, device: str, workers: Optional[int], cpus: float, gpus: Optional[float]) -> tuple:
    res = ray.cluster_resources()
    have_gpu = res.get("GPU", 0)
    if gpus is None:
        gpus = 1 if have_gpu >= 1 and device != "cpu" else 0
    if device == "cuda" and not have_gpu:
        raise CodecError("--device cuda: the Ray cluster has no GPU (use --device cpu or auto)")
    if not workers:
        workers = int(have_gpu // gpus) if gpus else int(res.get("CPU", 1) // cpus)
    return max(1, workers), gpus


def run_jobs(kind: str, jobs: list, opts, address: Optional[str] = None, workers: Optional[int] = None,
             cpus_per_worker: float = 1, gpus_per_worker: Optional[float] = None, max_attempts: int = 3,
             start_timeout: float = 600.0, log: Optional[Callable[[str], None]] = None,
             info: Optional[Callable[[str], None]] = None) -> Iterator:
    """Run ``jobs.Job``s (file paths, not '-') on Ray; yield one ``jobs.Result`` per job as it completes.

    ``workers``: actors to start (None or 0: one per GPU of the cluster, else one per
    ``cpus_per_worker`` CPUs). ``log``: warnings (a lost worker); ``info``: -v detail.
    """
    from .jobs import Result
    from .clitools import reason

    ray = require_ray()
    from ray.exceptions import RayError, RayTaskError

    log = log or (lambda m: None)
    info = info or (lambda m: None)
    opts = dataclasses.replace(opts, model=_abs_model(opts.model))
    model_id = _model_id(kind, opts.model)
    if not jobs:
        return
    with _session(ray, address):
        n, gpus = _worker_count(ray, opts.device, workers, cpus_per_worker, gpus_per_worker)
        n = min(n, len(jobs))
        threads = max(1, int(cpus_per_worker))
        actor_cls = ray.remote(_Coder).options(num_cpus=cpus_per_worker, num_gpus=gpus, max_restarts=0,
                                               max_task_retries=0)
        info(f"{n} Ray worker(s), {cpus_per_worker:g} CPU and {gpus:g} GPU each, on "
             f"{len([x for x in ray.nodes() if x.get('Alive')])} node(s)")

        pending = collections.deque(range(len(jobs)))
        attempts = [0] * len(jobs)
        sent = [dataclasses.replace(j, src=os.path.abspath(j.src), dst=os.path.abspath(j.dst)) for j in jobs]
        _remove_parts(j.dst for j in sent)  # what a killed earlier run of this job left
        starting: dict = {}  # describe() ref -> actor
        ready: dict = {}  # actor -> set of job refs in flight
        running: dict = {}  # job ref -> (actor, job index)
        replacements = [2 * n]  # how many lost workers may be replaced in all
        last_error = [""]
        last_progress = [time.monotonic()]

        def start() -> None:
            a = actor_cls.remote(kind, opts, model_id, threads)
            starting[a.describe.remote()] = a

        def lose(a, why: str) -> None:
            if a in ready:
                del ready[a]
                with contextlib.suppress(Exception):
                    ray.kill(a, no_restart=True)
                log(f"a Ray worker was lost ({why}); its files go to the other workers")
                if replacements[0] > 0:
                    replacements[0] -= 1
                    start()

        def fail(i: int, why: str):
            return Result(jobs[i].src, jobs[i].dst, False, error=why)

        for _ in range(n):
            start()
        try:
            while pending or running:
                for a, refs in ready.items():  # hand out work
                    while pending and len(refs) < IN_FLIGHT:
                        i = pending.popleft()
                        attempts[i] += 1
                        r = a.run.remote(sent[i])
                        refs.add(r)
                        running[r] = (a, i)
                if not ready and not starting:  # nobody left, nobody coming
                    why = last_error[0] or "no Ray worker is left"
                    while pending:
                        yield fail(pending.popleft(), why)
                    continue
                if not running and time.monotonic() - last_progress[0] > start_timeout:
                    why = f"no Ray worker started within {start_timeout:g} s (is the cluster full?)"
                    while pending:
                        yield fail(pending.popleft(), why)
                    continue
                done, _ = ray.wait(list(starting) + list(running), num_returns=1, timeout=1.0)
                for ref in done:
                    if ref in starting:
                        a = starting.pop(ref)
                        try:
                            where, error = ray.get(ref)
                        except RayError as e:  # lost while starting (its node died): replace it
                            where, error = "a Ray worker", f"lost while starting ({type(e).__name__})"
                            if replacements[0] > 0:
                                replacements[0] -= 1
                                start()
                        if error:
                            last_error[0] = f"{where}: {error}"
                            log(f"a Ray worker could not start: {last_error[0]}")
                            with contextlib.suppress(Exception):
                                ray.kill(a, no_restart=True)
                        else:
                            ready[a] = set()
                            last_progress[0] = time.monotonic()
                            info(f"Ray worker ready on {where}")
                        continue
                    a, i = running.pop(ref)
                    ready.get(a, set()).discard(ref)
                    last_progress[0] = time.monotonic()
                    try:
                        r = ray.get(ref)
                    except RayTaskError as e:  # filejobs.run turns every Exception into a Result
                        yield fail(i, reason(getattr(e, "cause", None) or e))
                        continue
                    except RayError as e:  # the worker (process or node) was lost
                        lose(a, type(e).__name__)
                        _remove_parts([sent[i].dst])
                        if not opts.force and os.path.exists(sent[i].dst):
                            yield Result(jobs[i].src, jobs[i].dst, True, output_written=True,
                                         detail="written before its worker was lost")
                        elif attempts[i] >= max_attempts:
                            yield fail(i, f"its Ray worker was lost {attempts[i]} times (last: {type(e).__name__})")
                        else:
                            pending.appendleft(i)
                        continue
                    yield dataclasses.replace(r, src=jobs[i].src, dst=jobs[i].dst)
        finally:
            lost = [i for _, i in running.values()]
            for a in list(ready) + list(starting.values()):
                with contextlib.suppress(Exception):
                    ray.kill(a, no_restart=True)
            if running:  # interrupted: let the killed attempts die, then sweep their temporary files
                with contextlib.suppress(Exception):
                    ray.wait(list(running), num_returns=len(running), timeout=5.0)
                _remove_parts(sent[i].dst for i in lost)


# --------------------------------------------------------------------------- Python API

@dataclass
class TreeReport:
    """What :func:`encode_tree` / :func:`decode_tree` did."""
    written: list = field(default_factory=list)  # output paths
    skipped: list = field(default_factory=list)  # outputs that already existed (force=False)
    failed: list = field(default_factory=list)  # (input path, one-line reason)

    @property
    def ok(self) -> bool:
        return not self.failed


def _tree(kind: str, src, dst, ray_address, opts, exts, out_name, workers, cpus_per_worker, gpus_per_worker,
          progress) -> TreeReport:
    from . import jobs

    check_address(ray_address)
    require_ray()
    inputs = tuple(str(s) for s in (src if isinstance(src, (list, tuple)) else [src]))
    plan, failures, _ = jobs.plan(inputs, None, str(dst), exts, out_name)
    plan, dir_failures = jobs.prepare_dirs(plan)
    report = TreeReport(failed=failures + dir_failures)
    todo = []
    for j in plan:
        if not opts.force and os.path.lexists(j.dst):
            report.skipped.append(j.dst)
        else:
            todo.append(j)
    bar = None
    if progress or (progress is None and sys.stderr.isatty() and len(todo) > 1):
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=kind, unit="file", file=sys.stderr, leave=False)
    try:
        for r in run_jobs(kind, todo, opts, ray_address, workers, cpus_per_worker, gpus_per_worker,
                          log=lambda m: print(f"spikecodec: warning: {m}", file=sys.stderr)):
            if r.ok:
                report.written.append(r.dst)
            else:
                report.failed.append((r.src, r.error))
            if bar:
                bar.update(1)
    finally:
        if bar:
            bar.close()
    return report


def encode_tree(src, dst, ray_address: Optional[str] = None, *, model: str = "default", device: str = "auto",
                force: bool = False, level: Optional[int] = None, quality_floor: Optional[float] = None,
                target_kbps: Optional[float] = None, workers: Optional[int] = None, cpus_per_worker: float = 1,
                gpus_per_worker: Optional[float] = None, progress: Optional[bool] = None) -> TreeReport:
    """Encode the audio files under ``src`` (a folder, a file, or a list of them) into ``dst``, mirrored,
    on Ray, as ``spikecodec encode SRC -O DST --ray ADDRESS`` does.

    ``ray_address``: None or "local" starts a local Ray instance (or uses the one this process
    already initialised); "auto" or HOST:PORT joins a running cluster. Existing outputs are
    skipped (``report.skipped``) unless ``force``. Paths must be visible to every node.
    """
    from . import filejobs

    opts = filejobs.Options(model=model, device=device, force=force, level=level, quality_floor=quality_floor,
                       target_kbps=target_kbps)
    return _tree("encode", src, dst, ray_address, opts, filejobs.AUDIO_EXTS, filejobs.spk_name, workers, cpus_per_worker,
                 gpus_per_worker, progress)


def decode_tree(src, dst, ray_address: Optional[str] = None, *, model: Optional[str] = None, device: str = "auto",
                force: bool = False, format: str = "wav", sample_rate: Optional[int] = None,
                workers: Optional[int] = None, cpus_per_worker: float = 1, gpus_per_worker: Optional[float] = None,
                progress: Optional[bool] = None) -> TreeReport:
    """Decode the .spk files under ``src`` into ``dst`` (WAV or FLAC), mirrored, on Ray; see :func:`encode_tree`."""
    from . import filejobs

    if format not in filejobs.DECODE_FORMATS:
        raise ValueError(f"format must be one of {', '.join(filejobs.DECODE_FORMATS)}")
    opts = filejobs.Options(model=model, device=device, force=force, sample_rate=sample_rate, format=format)
    return _tree("decode", src, dst, ray_address, opts, {filejobs.SPK_EXT}, filejobs.audio_name("." + format), workers,
                 cpus_per_worker, gpus_per_worker, progress)
