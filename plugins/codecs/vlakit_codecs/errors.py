"""Errors of the codecs plugin (light: no torch)."""

from __future__ import annotations

from vlakit import VlakitError


class NotFittedError(VlakitError):
    """The codec was used before :meth:`fit` (or :meth:`load_state_dict`)."""
