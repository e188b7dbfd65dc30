"""Digital silence through a model: file size per second per channel, and the decoded peak.

    python docs/scripts/silence_rate.py [MODEL]     (default: the default model)
"""
import sys

import numpy as np
import torch

import spikecodec

torch.set_num_threads(1)
m = spikecodec.load_model(sys.argv[1] if len(sys.argv) > 1 else "default", device="cpu")
for sr, secs in ((22050, 6), (44100, 60)):
    x = np.zeros((int(sr*secs), 2), np.float32)
    d = spikecodec.encode(x, sr, model=m)
    y, _ = spikecodec.decode(d, model=m)
    print(sr, secs, "bytes", len(d), "bps/ch", 8*len(d)/secs/2, "max|y|", float(np.abs(y).max()))
