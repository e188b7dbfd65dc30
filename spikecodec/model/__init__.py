"""The spiking auto-encoder (torch only; knows nothing of files or bitstreams)."""
from .autoencoder import ModelConfig, SpikingAutoencoder

__all__ = ["ModelConfig", "SpikingAutoencoder"]
