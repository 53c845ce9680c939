"""hyperjax: meta-RL with hypernetwork policies in JAX (Beck et al., CoRL 2022)."""

__version__ = "0.1.0"
