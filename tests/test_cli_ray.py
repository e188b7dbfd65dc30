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


@pytest.mark.parametrize("address,ok", [(None, True), ("local", True), ("auto", True), ("10.0.0.5:6379", True),
                                        ("ray://head.example:10001", True), ("head-1:6379", True),
                                        ("music", False), ("music/", False), ("song.wav", False), ("", False)])
def test_check_address(address, ok):
    from spikecodec.batch import check_address

    if ok:
        assert check_address(address) == address
    else:
        with pytest.raises(ValueError, match="not a Ray address"):
            check_address(address)


def test_remove_parts_removes_only_the_temporary_files_of_the_given_outputs(tmp_path):
    from spikecodec.batch import _remove_parts

    keep = [".a.wav.x.wav.zzzz9999.part", "a.wav", ".b.wav.abcd1234.part", ".a.wav.part", "a.wav.abcd1234.part"]
    for n in keep + [".a.wav.abcd_123.part", ".a.wav.k0z_1234.part"]:  # tempfile.mkstemp's 8 random characters
        (tmp_path / n).write_bytes(b"x")
    _remove_parts([str(tmp_path / "a.wav")])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


def test_worker_refuses_a_model_that_differs_from_the_drivers(default_model):
    """A node with other checkpoints must not write other bits under the same names."""
    from spikecodec.batch import _Coder
    from spikecodec.cli import Options

    w = _Coder("encode", Options(model="default", device="cpu"), "0123456789abcdef", 1)
    where, error = w.describe()
    assert "(cpu)" in where and "0123456789abcdef" in error and default_model.model_id in error, error
    assert "install the same spikecodec and models on every node" in error
    w = _Coder("encode", Options(model="default", device="cpu"), default_model.model_id, 1)
    assert w.describe()[1] is None
