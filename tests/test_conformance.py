"""The .spk v1 and v2 conformance vectors in formats/vectors/ decode as their JSON says,
and make_vectors.py regenerates them byte for byte."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from spikecodec.bitstream import Header, SpkFormatError, inspect_spk, read_spk, write_spk

VEC = Path(__file__).resolve().parents[1] / "formats" / "vectors"
NAMES = sorted(p.stem for p in VEC.glob("*.json"))


def test_vectors_present():
    assert {"empty", "full", "paper", "coo", "units", "stereo_levels", "multiclip_short", "damaged",
            "truncated", "version3", "v2_paper", "v2_ctx", "v2_mixed", "v2_damaged"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_vector_decodes(name):
    data = (VEC / f"{name}.spk").read_bytes()
    exp = json.loads((VEC / f"{name}.json").read_text())
    assert len(data) == exp["size_bytes"]
    if exp["error"]:
        assert exp["error"]["type"] == "SpkFormatError"
        with pytest.raises(SpkFormatError, match=exp["error"]["message_contains"]):
            read_spk(data)
        with pytest.raises(SpkFormatError):
            inspect_spk(data)
        return
    out = read_spk(data)
    assert out.header == Header(**exp["header"])
    assert len(out.z) == len(exp["z"])
    for zc, rows in zip(out.z, exp["z"]):
        want = np.array([[ch == "1" for ch in row] for row in rows], dtype=bool).reshape(zc.shape[0], -1)
        assert np.array_equal(zc, want)
    if exp["levels"] is None:
        assert out.levels is None
    else:
        assert [list(map(int, lv)) for lv in out.levels] == exp["levels"]
    assert len(out.damaged) == len(exp["damaged"])
    for got, want in zip(out.damaged, exp["damaged"]):
        assert got[:2] == tuple(want[:2])
        assert got[2:] == pytest.approx(tuple(want[2:]))
    info = inspect_spk(data)
    assert [c.to_dict() for c in info.clips] == exp["clips"]
    assert info.bits_by_part == exp["bits_by_part"]
    if not out.damaged:  # an undamaged vector is exactly what the writer produces
        assert write_spk(out.header, out.z, out.levels, version=out.header.format_version) == data


def test_paper_vector_bits():
    """paper.spk holds the example's time-layout record right after the group header."""
    data = (VEC / "paper.spk").read_bytes()
    hlen = int.from_bytes(data[5:7], "big")
    payload = data[hlen + 16:]
    bits = "".join(format(b, "08b") for b in payload)
    record = "10" + "000111" + "0011000001001001000100110110" + "001011100110"
    assert bits == record + "0" * (-len(record) % 8)


def test_make_vectors_is_deterministic():
    spec = importlib.util.spec_from_file_location("make_vectors", VEC / "make_vectors.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    built = mod.build()
    assert sorted(built) == NAMES
    for name, (data, exp) in built.items():
        assert (VEC / f"{name}.spk").read_bytes() == data, name
        assert json.loads((VEC / f"{name}.json").read_text()) == json.loads(json.dumps(exp)), name


def test_v1_vectors_are_v1_and_v2_vectors_use_ctx():
    for name in NAMES:
        exp = json.loads((VEC / f"{name}.json").read_text())
        if exp["error"]:
            continue
        assert exp["header"]["format_version"] == (2 if name.startswith("v2_") else 1), name
    layouts = {n: {c["layout"] for c in json.loads((VEC / f"{n}.json").read_text())["clips"]}
               for n in ("v2_paper", "v2_ctx", "v2_mixed")}
    assert layouts["v2_paper"] == {"time"} and layouts["v2_ctx"] == {"ctx"}
    assert {"ctx", "coo", "dense"} <= layouts["v2_mixed"]


def test_v2_paper_vector_bits():
    """v2_paper.spk: the same time-layout record as paper.spk behind a 3-bit tag."""
    data = (VEC / "v2_paper.spk").read_bytes()
    assert data[4] == 2
    hlen = int.from_bytes(data[5:7], "big")
    bits = "".join(format(b, "08b") for b in data[hlen + 16:])
    record = "010" + "000111" + "0011000001001001000100110110" + "001011100110"
    assert bits == record + "0" * (-len(record) % 8)
