"""Errors of the classifier baselines, and the guarded import of their optional dependency."""

from __future__ import annotations

from ethan.errors import EthanError, MissingDependencyError

INSTALL_HINT = "pip install 'ethan-geo[baselines]'"


class WeightsUnavailableError(EthanError, RuntimeError):
    """A pretrained model's weights could not be loaded (offline, or not on disk)."""


def missing_torch() -> MissingDependencyError:
    return MissingDependencyError(f"the classifier baselines need PyTorch: {INSTALL_HINT}")
