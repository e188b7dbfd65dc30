"""``python -m spikecodec``: the command line (see spikecodec/cli.py)."""
from spikecodec.cli import main

if __name__ == "__main__":  # guarded: spawn-started workers import this module too
    main()
