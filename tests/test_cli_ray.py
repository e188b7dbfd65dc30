"""--ray's usage errors, which need neither Ray nor a model: Ray missing, a bad address, '-'."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO, run_module, write_clip

# Run the CLI with `import ray` failing, as on a machine without the ray extra.
_WITHOUT_RAY = "import sys; sys.modules['ray'] = None; from spikecodec.cli import main; main(sys.argv[1:])"


def _run_without_ray(*args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return subprocess.run([sys.executable, "-c", _WITHOUT_RAY, *[str(a) for a in args]], capture_output=True,
                          env=env, timeout=120)


@pytest.mark.parametrize("command", ["encode", "decode"])
@pytest.mark.parametrize("ray_args", [["--ray"], ["--ray", "auto"], ["--ray=127.0.0.1:6379"]])
def test_ray_option_without_ray_is_a_one_line_usage_error_naming_the_extra(tmp_path, command, ray_args):
    if command == "encode":
        src = write_clip(tmp_path / "in" / "a.wav")
    else:
        src = tmp_path / "in" / "a.spk"
        src.parent.mkdir()
        src.write_bytes(b"never read: the option is refused first")
    r = _run_without_ray(command, src.parent, "-O", tmp_path / "out", *ray_args)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert err.count("\n") == 1 and err.startswith("spikecodec: error: --ray:"), err
    assert "pip install 'spikecodec[ray]'" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_ray_value_that_is_not_an_address_is_a_usage_error(tmp_path):
    a = write_clip(tmp_path / "a.wav")
    b = write_clip(tmp_path / "b.wav")
    r = run_module("encode", "--ray", a, b, "-O", tmp_path / "out")  # --ray swallowed a.wav as its value
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert "is not a Ray address" in err and "--ray=ADDRESS" in err and err.count("\n") == 1, err


def test_ray_refuses_standard_input_and_output(tmp_path):
    a = write_clip(tmp_path / "a.wav")
    r = run_module("encode", "-", "--ray", input=a.read_bytes())
    assert r.returncode == 2 and "standard input and output" in r.stderr.decode(), r.stderr.decode()
    r = run_module("encode", a, "-o", "-", "--ray")
    assert r.returncode == 2 and r.stdout == b"", r.stderr.decode()
