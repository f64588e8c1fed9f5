"""Plugin discovery and the component registry."""

from vlakit.plugins.hookspecs import hookimpl, hookspec
from vlakit.plugins.manager import PLUGIN_API, PluginLoader, get_loader, get_registry, reset_plugins
from vlakit.plugins.registry import (
    KINDS,
    ComponentConfig,
    LoadFailure,
    PluginInfo,
    Registration,
    Registry,
)

__all__ = [
    "KINDS",
    "PLUGIN_API",
    "ComponentConfig",
    "LoadFailure",
    "PluginInfo",
    "PluginLoader",
    "Registration",
    "Registry",
    "get_loader",
    "get_registry",
    "hookimpl",
    "hookspec",
    "reset_plugins",
]
