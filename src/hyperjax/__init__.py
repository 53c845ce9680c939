"""hyperjax: meta-RL with hypernetwork policies in JAX (Beck et al., CoRL 2022)."""

from hyperjax import compile_cache, quiet

quiet.install()
compile_cache.install()

__version__ = "0.1.0"
