"""Model-only speed: 60 s of noise through `encode_frames`, and z of 60 s at 10 % density through
`decode_frames`, wall and CPU time.

    python docs/scripts/model_speed.py [--models mu mu2] [--iterations 8 4] [--threads 1]

--iterations overrides a phase-retrieval model's Griffin-Lim iterations (the same weights).
"""
import argparse
import time

import torch

import spikecodec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["mu", "mu2"])
    ap.add_argument("--iterations", type=int, nargs="*", default=[])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=60.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    for name in a.models:
        model = spikecodec.load_model(name, device="cpu")
        c = model.config
        frames = int(a.seconds * c.sample_rate / c.hop)
        z = (torch.rand(1, c.units, frames, generator=torch.Generator().manual_seed(0)) < 0.1).float()
        x = torch.randn(1, frames * c.hop, generator=torch.Generator().manual_seed(0)) * 0.1
        with torch.inference_mode():
            model.net.encode_frames(x[:, : 100 * c.hop])
            w = time.perf_counter()
            model.net.encode_frames(x)
            print(f"{name} encode, {a.threads} thread(s): {a.seconds / (time.perf_counter() - w):.0f}x real time")
        for iters in (a.iterations if c.phase_iterations and a.iterations else [c.phase_iterations]):
            c.phase_iterations = iters
            with torch.inference_mode():
                model.net.decode_frames(z[:, :, :100])
                w, p = time.perf_counter(), time.process_time()
                model.net.decode_frames(z)
                wall, cpu = time.perf_counter() - w, time.process_time() - p
            print(f"{name} ({iters} phase iterations), {a.threads} thread(s): {a.seconds / wall:.0f}x real time "
                  f"(wall {wall:.2f} s, CPU {cpu:.2f} s for {a.seconds:.0f} s)")


if __name__ == "__main__":
    main()
