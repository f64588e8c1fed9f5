"""Bundles and the policy that runs them."""

from vlakit.policy.bundle import read_bundle
from vlakit.policy.policy import Policy

__all__ = ["Policy", "read_bundle"]
