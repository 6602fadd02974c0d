"""Topology clients: which node each operation goes to."""

from .default import DefaultClient

__all__ = ["DefaultClient"]
