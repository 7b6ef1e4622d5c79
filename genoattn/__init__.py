"""genoattn: long-context DNA modelling with efficient attention patterns."""

__version__ = "0.1.0"
