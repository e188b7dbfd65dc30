"""Issue 14, the repository around the codec: the torch install (points 8), commands that need
../shared (9), the man page (10)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


# ----------------------------------------------------------------- 8. make install and torch

def _stub_python(tmp_path, script: str) -> Path:
    """tmp_path/venv whose bin/python is the shell `script` (no network, nothing installed)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    py = venv / "bin" / "python"
    py.write_text("#!/bin/sh\n" + script)
    py.chmod(0o755)
    return venv


def _stub_venv(tmp_path, has_torch: bool) -> tuple[Path, Path]:
    """A .venv whose python only logs its arguments."""
    log = tmp_path / "python.log"
    venv = _stub_python(tmp_path, f'echo "$*" >> "{log}"\n'
                                  'case "$*" in\n'
                                  f'  "-c import torch") exit {0 if has_torch else 1};;\n'
                                  '  *import\\ torch*print*) echo 2.13.0+cu126;;\n'
                                  "esac\n"
                                  "exit 0\n")
    return venv, log


def _make_install(tmp_path, *args, has_torch=False):
    venv, log = _stub_venv(tmp_path, has_torch)
    r = subprocess.run(["make", "-C", str(REPO), "install", f"VENV={venv}", *args], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (venv / ".spikecodec-installed").exists()
    return [line for line in log.read_text().splitlines() if "pip install" in line], r.stdout


@needs_make
def test_make_install_default_is_plain_pip(tmp_path):
    pips, _ = _make_install(tmp_path)
    assert pips[0] == "-m pip install torch==2.13.0"  # whatever the user's pip is configured for
    assert pips[1] == "-m pip install -q -e .[dev,ray]"


@needs_make
def test_make_install_cpu_uses_the_cpu_index(tmp_path):
    pips, _ = _make_install(tmp_path, "CPU=1")
    assert pips[0] == "-m pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0"
    pips, _ = _make_install(tmp_path / "b", "TORCH_INDEX=https://mirror.example/whl", "TORCH_SPEC=torch==2.12.0")
    assert pips[0] == "-m pip install --index-url https://mirror.example/whl torch==2.12.0"


@needs_make
def test_make_install_keeps_a_torch_already_there(tmp_path):
    pips, out = _make_install(tmp_path, "CPU=1", has_torch=True)
    assert pips == ["-m pip install -q -e .[dev,ray]"]  # a user's own (CUDA) torch is not replaced
    assert "keeping 2.13.0+cu126" in out


def test_readme_tells_what_pip_really_installs():
    text = (REPO / "README.md").read_text()
    assert "CUDA build" in text and "make install CPU=1" in text and "download.pytorch.org/whl/cpu" in text


# ----------------------------------------------------------------- 9. commands that need ../shared

def _env(tmp_path):
    empty = tmp_path / "no-shared"
    empty.mkdir(exist_ok=True)
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    return dict(os.environ, PYTHONPATH=str(REPO), SPIKECODEC_SHARED=str(empty), TMPDIR=str(tmp),
                OMP_NUM_THREADS="1"), tmp


def _fails_at_once_with_one_line(cmd, tmp_path, needle):
    env, tmp = _env(tmp_path)
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    took = time.monotonic() - t0
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert "SPIKECODEC_SHARED" in lines[0] or "--shared" in lines[0]
    assert os.listdir(tmp) == []  # no temporary folder left behind
    assert took < 30
    return lines[0]


@pytest.mark.parametrize("cmd,needle", [
    ([sys.executable, "-m", "spikecodec.benchmarks", "--quick"], "make bench needs the evaluation data"),
    ([sys.executable, "-m", "spikecodec.training.evaluate", "--model", "default"], "evaluate needs the evaluation data"),
    ([sys.executable, "-m", "spikecodec.shareddata", "data"], "eval/dev/piano/manifest.csv"),
    ([sys.executable, "docs/scripts/shipped_events.py"], "no dev-set piano clips"),
])
def test_without_shared_each_command_fails_at_once(tmp_path, cmd, needle):
    _fails_at_once_with_one_line(cmd, tmp_path, needle)


def test_bench_removes_its_temporary_folder_on_an_error(tmp_path, monkeypatch):
    """The work folder goes on every exit path, not only after a complete run."""
    import spikecodec.benchmarks as bench

    made = []
    real = bench.tempfile.mkdtemp

    def mkdtemp(*a, **kw):
        made.append(real(*a, dir=str(tmp_path), **kw))
        return made[-1]

    def boom(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench.tempfile, "mkdtemp", mkdtemp)
    monkeypatch.setattr("spikecodec.shareddata.require", lambda *a, **kw: "/nowhere")
    monkeypatch.setattr(bench, "_run", boom)
    with pytest.raises(KeyboardInterrupt):
        bench.run(out=str(tmp_path / "out"))
    assert made and not os.path.exists(made[0])


def _stamp_prerequisites() -> list[str]:
    """What `make install`'s stamp depends on, read from the Makefile's rule."""
    rule = next(line for line in (REPO / "Makefile").read_text().splitlines() if line.startswith("$(STAMP):"))
    return rule.split(":", 1)[1].split()


@needs_make
@pytest.mark.parametrize("target", ["data", "bench"])
def test_make_checks_shared_before_installing_anything(tmp_path, target):
    """`make data`/`make bench` stop at the check, before apt-get or pip. The venv's python runs
    only the check (anything else is logged and refused) and `apt-get` is a logging stub, so a
    Makefile that gets the order wrong installs nothing while this test fails."""
    env, _ = _env(tmp_path)
    log = tmp_path / "calls.log"
    venv = _stub_python(tmp_path, f'case "$*" in "-m spikecodec.shareddata "*) exec "{sys.executable}" "$@";; esac\n'
                                  f'echo "python $*" >> "{log}"\nexit 1\n')
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for tool in ("apt-get", "sudo"):
        (stubs / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\nexit 1\n')
        (stubs / tool).chmod(0o755)
    env["PATH"] = f"{stubs}{os.pathsep}{env['PATH']}"
    stamp = venv / ".spikecodec-installed"
    stamp.touch()
    t = max((REPO / f).stat().st_mtime for f in _stamp_prerequisites()) + 10   # the install is up to date
    os.utime(stamp, (t, t))
    r = subprocess.run(["make", "-s", "-C", str(REPO), target, f"VENV={venv}"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode != 0
    errs = [l for l in r.stderr.splitlines() if l.startswith("spikecodec: error: ")]
    assert len(errs) == 1 and f"make {target} needs the evaluation data" in errs[0], r.stderr
    assert not log.exists(), log.read_text()  # neither apt-get nor pip ran


def test_docs_point_at_no_machine_paths():
    files = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "checkpoints").glob("*.md"))]
    for f in files:
        for m in re.finditer(r"(?<![\w.])/(work|root|home|Users|tmp)/[\w.-]+", f.read_text()):
            pytest.fail(f"{f.relative_to(REPO)}: absolute path {m.group(0)}")


# ----------------------------------------------------------------- 10. the man page

def test_man_page_is_up_to_date(tmp_path):
    """Rendered in a fresh process, as `make man` does (click caches each command's help option,
    so a test that built another group around the same commands would change it in this one)."""
    from spikecodec.manpage import DEFAULT_OUT

    assert DEFAULT_OUT == REPO / "docs" / "spikecodec.1"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "spikecodec.manpage", str(tmp_path / "spikecodec.1")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert DEFAULT_OUT.read_text() == (tmp_path / "spikecodec.1").read_text(), \
        "docs/spikecodec.1 is out of date: run `make man`"
    r = subprocess.run([sys.executable, "-m", "spikecodec.manpage", "--check"], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_man_page_covers_every_command():
    from spikecodec.cli import cli
    from spikecodec.manpage import render

    text = render()
    assert text.startswith('.\\"') and "\n.TH SPIKECODEC 1 " in text
    for name in cli.list_commands(None):
        assert f"\n.SS {name}\n" in text, name
    assert "\\-\\-target\\-kbps" in text and "\\-\\-float" in text


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
def test_man_page_renders(tmp_path):
    r = subprocess.run(["man", "-l", str(REPO / "docs" / "spikecodec.1")], capture_output=True, text=True,
                       env=dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat"), timeout=60)
    assert r.returncode == 0, r.stderr
    assert "spikecodec help [COMMAND]" in r.stdout and "EXIT STATUS" in r.stdout
