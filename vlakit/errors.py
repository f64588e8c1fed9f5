"""Errors a user can cause. The CLI prints them as one message and exits with status 2."""

from __future__ import annotations


class VlakitError(Exception):
    """A problem with the user's input (recipe, plugin name, file, port, bundle).

    The message says what is wrong and where; the CLI shows it without a traceback
    (``--debug`` shows the traceback) and exits with :attr:`exit_code`.
    """

    exit_code = 2


class RecipeError(VlakitError):
    """A recipe that cannot be read, resolved or validated."""


class PluginError(VlakitError):
    """A plugin that failed to load or registered something invalid."""


class UnknownComponentError(VlakitError):
    """A lookup of a component name that no plugin registered."""


class BundleError(VlakitError):
    """A bundle that is missing, incomplete, tampered with, or from incompatible versions."""


class RobotError(VlakitError):
    """A robot that cannot be reached or that refuses a command."""


class CheckpointError(VlakitError):
    """A training checkpoint that is missing, unreadable, or holds more than tensors and plain data."""
