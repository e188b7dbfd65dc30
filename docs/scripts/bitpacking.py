"""Why the container packs bits with numpy rather than bitarray (formats/spk-v1.md, notes).

Packs a 10-minute song's worth of clip bit vectors (80 units x 256 frames, 101 clips, uint8 0/1, as
the layouts produce them) into bytes and back, with numpy.packbits/unpackbits and with bitarray.

    python docs/scripts/bitpacking.py
"""
import time

import numpy as np
from bitarray import bitarray


def best(f, n=5):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return min(out)


def main() -> None:
    rng = np.random.default_rng(0)
    clips = [(rng.random(80 * 256) < 0.1).astype(np.uint8) for _ in range(101)]
    bits = np.concatenate(clips)
    packed = np.packbits(bits).tobytes()

    def with_bitarray():
        b = bitarray(endian="big")
        for c in clips:
            b.pack(c.tobytes())  # bitarray's own C path from 0/1 bytes
        return b.tobytes()

    def unpack_bitarray():
        b = bitarray(endian="big")
        b.frombytes(packed)
        return np.frombuffer(b.unpack(), dtype=np.uint8)

    assert with_bitarray() == packed and np.array_equal(unpack_bitarray()[: len(bits)], bits)
    rows = [("pack, numpy.packbits", best(lambda: np.packbits(np.concatenate(clips)).tobytes())),
            ("pack, bitarray.pack", best(with_bitarray)),
            ("unpack, numpy.unpackbits", best(lambda: np.unpackbits(np.frombuffer(packed, np.uint8)))),
            ("unpack, bitarray.unpack", best(unpack_bitarray))]
    for name, t in rows:
        print(f"{name:28s} {1000 * t:7.2f} ms for {len(bits)} bits")


if __name__ == "__main__":
    main()
