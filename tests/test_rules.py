"""One home for each rule (docs/architecture.md, "Where each rule lives"): each home, and that the
API's words name no command-line flag while the CLI's stay as they were."""
from __future__ import annotations

import os
import types

import numpy as np
import pytest

from conftest import write_clip
from spikecodec.atomic import atomic_write
from spikecodec.bitstream import NUM_LEVELS, Header, write_spk
from spikecodec.bitstream.layouts import LEVEL_BITS
from spikecodec.clitools import is_expected
from spikecodec.device import DeviceError, resolve_device
from spikecodec.errors import CodecError, EditError, InputError, SpikecodecError, SpkFormatError
from spikecodec.ratecontrol import SEARCH_LEVELS, RateControl, RateControlError


# ----------------------------------------------------------------- errors

def test_one_error_hierarchy():
    for cls in (CodecError, SpkFormatError, EditError, InputError, RateControlError, DeviceError):
        assert issubclass(cls, SpikecodecError)
        assert is_expected(cls("x"))
    assert issubclass(SpkFormatError, ValueError) and issubclass(EditError, ValueError)
    import spikecodec
    import spikecodec.bitstream
    import spikecodec.events
    assert spikecodec.SpkFormatError is spikecodec.bitstream.SpkFormatError is SpkFormatError
    assert spikecodec.events.EditError is EditError


def test_a_bug_is_not_a_user_error_and_libsndfile_errors_are():
    import soundfile

    assert not is_expected(KeyError("x")) and not is_expected(AttributeError("x"))
    assert is_expected(soundfile.LibsndfileError(1))


# ----------------------------------------------------------------- rate control and level range

def test_level_range_is_the_formats():
    assert NUM_LEVELS == 1 << LEVEL_BITS and SEARCH_LEVELS[1] == NUM_LEVELS - 1
    h = Header(model_name="m", model_id="00", source_sample_rate=8000, model_sample_rate=8000, channels=1,
               num_samples=512 * 4, num_frames=4, units=3, frames_per_clip=4, hop=512, has_levels=True)
    z = [np.zeros((3, 4), bool)]
    write_spk(h, z, [np.array([NUM_LEVELS - 1])])
    with pytest.raises(ValueError, match=f"0..{NUM_LEVELS - 1}"):
        write_spk(h, z, [np.array([NUM_LEVELS])])


def _model(num_levels):
    return types.SimpleNamespace(name="m", config=types.SimpleNamespace(num_levels=num_levels))


@pytest.mark.parametrize("rate,problem,fields", [
    (RateControl(level=3, target_kbps=2.0), "several", ("level", "target_kbps")),
    (RateControl(target_kbps=2.0, quality_floor=1.0), "several", ("target_kbps", "quality_floor")),
    (RateControl(level=NUM_LEVELS), "range", ("level",)),
    (RateControl(target_kbps=0.0), "range", ("target_kbps",)),
    (RateControl(quality_floor=-1.0), "range", ("quality_floor",)),
])
def test_rate_control_checks_without_a_model(rate, problem, fields):
    with pytest.raises(RateControlError) as e:
        rate.validate()
    assert (e.value.problem, e.value.fields) == (problem, fields)
    assert "--" not in str(e.value)


def test_rate_control_checks_against_the_model():
    RateControl().validate(_model(0))
    RateControl(level=5).validate(_model(32))
    with pytest.raises(RateControlError) as e:
        RateControl(quality_floor=0.5).validate(_model(0))
    assert (e.value.problem, e.value.fields) == ("no_levels", ("quality_floor",)) and "--" not in str(e.value)
    with pytest.raises(RateControlError, match="0..15"):
        RateControl(level=20).validate(_model(16))


def test_cli_words_rate_control_errors_with_its_flags(cli_run, tmp_path):
    src = write_clip(tmp_path / "a.wav", seconds=0.2)
    r = cli_run("encode", src, "--level", "3", "--target-kbps", "2")
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines()[-1] == ("spikecodec: error: --level and --target-kbps exclude each other "
                                                 "(give one rate control) (see 'cli encode --help')")
    assert not (tmp_path / "a.spk").exists()


# ----------------------------------------------------------------- device, sample rate, model config

def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda") and resolve_device(None) in ("cpu", "cuda")
    with pytest.raises(DeviceError) as e:
        resolve_device("tpu")
    assert "--" not in str(e.value)


def test_sample_rate_limits_are_audios():
    from spikecodec import audio
    from spikecodec.compress import check_sample_rate

    assert check_sample_rate(audio.MIN_RATE) == audio.MIN_RATE and check_sample_rate(audio.MAX_RATE) == audio.MAX_RATE
    for bad in (audio.MIN_RATE - 1, audio.MAX_RATE + 1):
        with pytest.raises(CodecError, match="out of range"):
            check_sample_rate(bad)


def test_model_config_reads_the_legacy_levels_key():
    from spikecodec.model import ModelConfig

    old = ModelConfig.from_dict({"units": 8, "levels": 32, "default_level": 13, "retired_option": 1})
    assert old.num_levels == 32 and old.units == 8
    assert "num_levels" in old.to_dict() and "levels" not in old.to_dict()
    assert ModelConfig.from_dict(old.to_dict()) == old


# ----------------------------------------------------------------- atomic writes

def test_atomic_write_never_clobbers_a_file_that_appears_meanwhile(tmp_path):
    """(atomic_output's own behaviour is tests/test_cli_errors.py's.)"""
    p = tmp_path / "out.bin"
    with pytest.raises(FileExistsError):
        with atomic_write(p, replace=False) as f:
            f.write(b"mine")
            p.write_bytes(b"theirs")     # another process takes the name while we write
    assert p.read_bytes() == b"theirs" and os.listdir(tmp_path) == ["out.bin"]
    with atomic_write(p) as f:           # replace=True takes it back
        f.write(b"mine")
    assert p.read_bytes() == b"mine" and os.listdir(tmp_path) == ["out.bin"]
