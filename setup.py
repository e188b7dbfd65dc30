"""Only the optional C accelerator of the .spk v2 ctx layout; everything else is in pyproject.toml.

`optional=True`: where no C compiler is at hand the build goes on without it, and
spikecodec.bitstream.ctx codes the same words with numpy and constriction (slower, equal bytes)."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("spikecodec.bitstream._ctxcore", ["spikecodec/bitstream/_ctxcore.c"],
                             extra_compile_args=["-O2"], optional=True)])
