"""The spiking auto-encoder (torch only; knows nothing of files or bitstreams)."""
from .autoencoder import MAX_LEVELS, ModelConfig, SpikingAutoencoder

__all__ = ["MAX_LEVELS", "ModelConfig", "SpikingAutoencoder"]
