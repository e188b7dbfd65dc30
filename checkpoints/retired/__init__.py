"""spikecodec's retired models (docs/models.md, "Size budget"): released files that left the main package.

This folder is its own data-only package, `spikecodec-models-retired`. Installed, it declares itself under
the `spikecodec.models` entry point, so spikecodec finds these files by name or by the id in a .spk header:
    pip install ./checkpoints/retired      (from a clone; or copy a .pt into ~/.local/share/spikecodec/models)
"""
