"""Discovery and loading of plugins through the ``vlakit`` entry-point group.

Entry points are loaded one at a time. A plugin that fails to import, implements a hook that
does not exist, raises in a hook, or registers something invalid is recorded as a
:class:`~vlakit.plugins.registry.LoadFailure` and everything it registered is dropped; the
other plugins keep working.

Environment variables:

``VLAKIT_STRICT_PLUGINS=1``
    any plugin failure raises :class:`~vlakit.errors.PluginError` instead of being recorded.
``VLAKIT_BUILTINS_ONLY=1``
    load only vlakit's first-party plugin distributions (``vlakit-codecs``, ``vlakit-hf``, ...;
    see :mod:`vlakit.plugins.catalog`).
``VLAKIT_DISABLE_PLUGINS=NAME,...``
    skip these plugins (entry-point names or distribution names), as pytest's ``-p no:NAME``.
``VLAKIT_LOAD_PLUGINS=NAME,...``
    load only these plugins (as llm's ``LLM_LOAD_PLUGINS``); set but empty: load none.

The command line's ``vlakit -p no:NAME`` and ``vlakit -p NAME`` set the last two for one command.

A plugin declares the plugin API it was written for as a module attribute
``VLAKIT_PLUGIN_API = 1`` (see :data:`PLUGIN_API`); a plugin written for another API is
recorded as a failure with what to install, one that declares none loads (strict mode refuses it).
"""

from __future__ import annotations

import os
import traceback
from importlib import metadata
from typing import Any

import pluggy

from vlakit.errors import PluginError
from vlakit.plugins import hookspecs
from vlakit.plugins.catalog import FIRST_PARTY
from vlakit.plugins.registry import KINDS, LoadFailure, PluginInfo, Registration, Registry

GROUP = "vlakit"
STRICT_ENV = "VLAKIT_STRICT_PLUGINS"
BUILTINS_ONLY_ENV = "VLAKIT_BUILTINS_ONLY"
DISABLE_ENV = "VLAKIT_DISABLE_PLUGINS"
LOAD_ENV = "VLAKIT_LOAD_PLUGINS"
#: The plugin API this vlakit implements; a plugin's ``VLAKIT_PLUGIN_API`` must equal it.
PLUGIN_API = 1
#: The module attribute through which a plugin declares its plugin API.
API_ATTRIBUTE = "VLAKIT_PLUGIN_API"

_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def _names(value: str | None) -> set[str] | None:
    """``"a, b"`` -> ``{"a", "b"}``; ``None`` when the variable is unset."""
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def plugin_api_problem(obj: Any, name: str) -> str | None:
    """Why plugin ``obj`` cannot load under this vlakit's :data:`PLUGIN_API`, or ``None``."""
    declared = getattr(obj, API_ATTRIBUTE, None)
    if declared is None or declared == PLUGIN_API:
        return None
    return (
        f"plugin {name!r} was written for vlakit plugin API {declared!r}, and this vlakit implements "
        f"API {PLUGIN_API}; install a version of the plugin written for API {PLUGIN_API} (or a vlakit "
        f"that implements API {declared!r})"
    )


def new_plugin_manager() -> pluggy.PluginManager:
    """A pluggy manager with vlakit's hookspecs and nothing registered."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


class PluginLoader:
    """Loads plugins into a :class:`Registry` and remembers the pluggy manager for CLI hooks."""

    def __init__(
        self,
        strict: bool | None = None,
        builtins_only: bool | None = None,
        disabled: set[str] | None = None,
        selected: set[str] | None = None,
    ) -> None:
        self.strict = _flag(STRICT_ENV) if strict is None else strict
        self.builtins_only = _flag(BUILTINS_ONLY_ENV) if builtins_only is None else builtins_only
        self.disabled = (_names(os.environ.get(DISABLE_ENV)) or set()) if disabled is None else disabled
        self.selected = _names(os.environ.get(LOAD_ENV)) if selected is None else selected
        #: plugins skipped by ``disabled`` / ``selected``: (entry-point name, distribution)
        self.skipped: list[tuple[str, str]] = []
        self.registry = Registry()
        self.pm = new_plugin_manager()

    def _fail(self, plugin: str, dist: str, version: str, error: BaseException) -> None:
        tb = "".join(traceback.format_exception(error))
        message = str(error) if isinstance(error, PluginError) else f"{type(error).__name__}: {error}"
        if self.strict:
            raise PluginError(
                f"plugin {plugin!r} from {dist} {version} failed to load: {message} "
                f"(unset {STRICT_ENV} to skip failing plugins)"
            ) from error
        self.registry.failures.append(LoadFailure(plugin, dist, version, message, tb))

    def load_entry_points(self) -> Registry:
        """Load every entry point of the ``vlakit`` group (built-ins first)."""
        seen: set[tuple[str, str]] = set()
        eps = []
        for ep in metadata.entry_points(group=GROUP):
            dist = ep.dist.metadata["Name"] if ep.dist is not None else "<unknown>"
            key = (dist, ep.name)
            if key in seen:
                continue
            seen.add(key)
            eps.append((dist != "vlakit" and dist not in FIRST_PARTY, dist, ep))
        eps.sort(key=lambda item: (item[0], item[1], item[2].name))
        for third_party, dist, ep in eps:
            if third_party and self.builtins_only:
                continue
            if not self.wanted(ep.name, dist):
                self.skipped.append((ep.name, dist))
                continue
            version = ep.dist.version if ep.dist is not None else ""
            try:
                obj = ep.load()
            except BaseException as exc:  # noqa: BLE001 - any import failure is isolated
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self._fail(ep.name, dist, version, exc)
                continue
            self.add_plugin(obj, ep.name, dist, version, builtin=not third_party)
        return self.registry

    def wanted(self, name: str, dist: str) -> bool:
        """Whether plugin ``name`` of distribution ``dist`` passes the disable / select lists."""
        if {name, dist} & self.disabled:
            return False
        return self.selected is None or bool({name, dist} & self.selected)

    def add_plugin(
        self, obj: Any, name: str, dist: str = "<local>", version: str = "", builtin: bool = False
    ) -> bool:
        """Register one plugin object (a module or class with hookimpls); False if it failed."""
        problem = plugin_api_problem(obj, name)
        if problem is None and self.strict and getattr(obj, API_ATTRIBUTE, None) is None:
            problem = f"plugin {name!r} declares no plugin API ({API_ATTRIBUTE} = {PLUGIN_API} in its module)"
        if problem is not None:
            self._fail(name, dist, version, PluginError(problem))
            return False
        try:
            self.pm.register(obj, name=name)
        except BaseException as exc:  # noqa: BLE001
            self._fail(name, dist, version, exc)
            return False
        staged: list[Registration] = []
        try:
            self._check_hooks(obj, name)
            staged = self._collect(name, dist, version)
            for reg in staged:
                self.registry.add(reg)
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            for reg in staged:  # drop what this plugin added before it failed
                if self.registry.components[reg.kind].get(reg.name) is reg:
                    del self.registry.components[reg.kind][reg.name]
            self.pm.unregister(name=name)
            self._fail(name, dist, version, exc)
            return False
        self.registry.plugins.append(PluginInfo(name, dist, version, builtin, getattr(obj, API_ATTRIBUTE, None)))
        return True

    def _check_hooks(self, obj: Any, name: str) -> None:
        """Refuse hook implementations that match no hookspec (a misspelled hook name)."""
        for hook in self.pm.get_hookcallers(obj) or []:
            if hook.spec is None:
                raise PluginError(
                    f"plugin {name!r} implements unknown hook {hook.name!r}; hooks are "
                    + ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("register_")))
                )
        self.pm.check_pending()

    def _collect(self, name: str, dist: str, version: str) -> list[Registration]:
        """Call this plugin's register hooks and return what it registered, validated."""
        staged: list[Registration] = []
        others = [p for p in self.pm.get_plugins() if self.pm.get_name(p) != name]
        for kind, (_, hook_name) in KINDS.items():
            caller = self.pm.subset_hook_caller(hook_name, remove_plugins=others)

            def register(
                comp_name: str,
                factory: Any,
                config: Any = None,
                description: str = "",
                example: dict[str, Any] | None = None,
                writer: Any = None,
                load: Any = None,
                _kind: str = kind,
            ) -> None:
                reg = Registration(
                    kind=_kind,
                    name=comp_name,
                    factory=factory,
                    config=config,
                    description=description,
                    example=example,
                    writer=writer,
                    load=load,
                    plugin=name,
                    dist=dist,
                    version=version,
                )
                for earlier in staged:
                    if earlier.kind == reg.kind and earlier.name == reg.name:
                        raise PluginError(f"plugin {name!r} registered {_kind} {comp_name!r} twice")
                staged.append(reg)

            caller(register=register)
        return staged

    def add_commands(self, cli: Any) -> None:
        """Let every loaded plugin add its CLI commands; failures are recorded, not raised."""
        for plugin in list(self.pm.get_plugins()):
            name = self.pm.get_name(plugin)
            others = [p for p in self.pm.get_plugins() if p is not plugin]
            caller = self.pm.subset_hook_caller("register_commands", remove_plugins=others)
            try:
                caller(cli=cli)
            except BaseException as exc:  # noqa: BLE001
                if isinstance(exc, KeyboardInterrupt):
                    raise
                info = next((p for p in self.registry.plugins if p.name == name), None)
                self._fail(name, info.dist if info else "?", info.version if info else "", exc)


_LOADER: PluginLoader | None = None


def get_loader() -> PluginLoader:
    """The process-wide loader, loading entry points on first use."""
    global _LOADER
    if _LOADER is None:
        loader = PluginLoader()
        loader.load_entry_points()
        _LOADER = loader
    return _LOADER


def get_registry() -> Registry:
    """The process-wide registry of every installed plugin's components."""
    return get_loader().registry


def reset_plugins() -> None:
    """Forget the loaded plugins (the next :func:`get_registry` loads them again)."""
    global _LOADER
    _LOADER = None
