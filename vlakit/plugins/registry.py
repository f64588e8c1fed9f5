"""The component registry: what plugins registered, by kind and name (the timm-style factory)."""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from vlakit.errors import BundleError, PluginError, UnknownComponentError

#: kind -> (human name, hook name)
KINDS: dict[str, tuple[str, str]] = {
    "vision": ("vision backbone", "register_vision_backbones"),
    "language": ("language model", "register_language_models"),
    "codec": ("action codec", "register_action_codecs"),
    "dataset": ("dataset", "register_datasets"),
    "robot": ("robot driver", "register_robots"),
    "objective": ("objective", "register_objectives"),
    "document": ("document kind", "register_document_kinds"),
}

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class ComponentConfig(BaseModel):
    """Base class for a plugin's own config model: unknown keys are errors, and so are NaN and
    infinite numbers.

    A plugin's config model should derive from this (or set ``extra="forbid"`` itself).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    def preflight(self) -> list[str]:
        """Problems this block has that need no weights, no data and no hardware to see: a
        model name the library does not know, a local path that is missing, a free-form config
        the library refuses. ``vlakit validate`` and ``vlakit train`` (before it prepares data)
        call it for every component block of a recipe.

        Each problem is one sentence that starts with the field it is about (``"path: ..."``,
        ``"config.num_hiden_layers: ..."``); empty when there is none. It may import the plugin's
        libraries; it must not load weights, download or open a device.
        """
        return []

    def task_splits(self) -> tuple[str, ...] | None:
        """The task splits the robot built from this config offers (a
        :class:`~vlakit.interfaces.TaskEnvironment`'s ``splits``), so that a recipe's
        ``eval.split`` is checked before anything is built; ``None`` when not known."""
        return None

    def fitted_to_texts(self, texts: Callable[[], Iterable[str]]) -> dict[str, Any] | None:
        """Settings the component learns from the training texts, merged into its recipe block
        before it is built (for example a tokenizer's word vocabulary); ``None``: nothing to learn.

        ``texts()`` gives every instruction, question, answer and the prompt template; it is only
        called when needed. ``vlakit train`` calls this for the ``language`` block.
        """
        return None

    def without_weights(self) -> dict[str, Any] | None:
        """Settings that build the same architecture without reading the weights this config
        names (a pretrained file), merged into the recipe block when a bundle, which brings every
        weight itself, is loaded; ``None``: nothing to change."""
        return None


@dataclass(frozen=True)
class Registration:
    """One registered component: ``factory(config)`` builds it from a validated ``config``."""

    kind: str
    name: str
    factory: Callable[[Any], Any]
    config: type[BaseModel]
    description: str = ""
    plugin: str = ""
    dist: str = ""
    version: str = ""
    #: params of a small, fast instance (docs and conformance checks); defaults when ``None``
    example: dict[str, Any] | None = None
    #: datasets only: ``writer(root, spec)`` returns a :class:`vlakit.interfaces.writer.EpisodeWriter`
    #: that records episodes in this dataset's format (``vlakit run --record``, ``vlakit dataset export``)
    writer: Callable[..., Any] | None = None
    #: ``load(config, directory, base)`` rebuilds the component from what its ``save_weights``
    #: wrote into ``directory`` without reading the weights the recipe names (``base``: a
    #: user-given path to base weights, for saves that hold only adapters); ``None``: build
    #: from the recipe, then ``load_weights(directory)``
    load: Callable[[Any, str, str | None], Any] | None = None

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind][0]

    def build(self, config: BaseModel | dict[str, Any] | None = None) -> Any:
        """Validate ``config`` (a dict of params or an instance) and call the factory."""
        if not isinstance(config, self.config):
            config = self.config.model_validate(config or {})
        return self.factory(config)

    def load_saved(self, config: BaseModel | dict[str, Any] | None, directory: str, base: str | None = None) -> Any:
        """Rebuild the component from the ``save_weights`` output in ``directory`` (see :attr:`load`)."""
        if not isinstance(config, self.config):
            config = self.config.model_validate(config or {})
        if self.load is not None:
            return self.load(config, directory, base)
        if base is not None:
            raise BundleError(f"{self.kind_label} {self.name!r} saves its weights in full; it takes no base model")
        component = self.factory(config)
        component.load_weights(directory)
        return component


@dataclass
class LoadFailure:
    """A plugin that could not be loaded or registered something invalid."""

    plugin: str
    dist: str
    version: str
    error: str
    traceback: str = ""


@dataclass
class PluginInfo:
    """A plugin that loaded: its entry-point name and the distribution it came from."""

    name: str
    dist: str
    version: str
    builtin: bool
    #: the plugin API it declares (``VLAKIT_PLUGIN_API``); ``None``: it declares none
    api: int | None = None


def validate_registration(reg: Registration) -> None:
    """Raise :class:`PluginError` when ``reg`` is not a valid registration."""
    where = f"plugin {reg.plugin!r} ({reg.dist} {reg.version})"
    if not isinstance(reg.name, str) or not _NAME.match(reg.name):
        raise PluginError(
            f"{where} registered the {KINDS[reg.kind][0]} name {reg.name!r}: names are lowercase "
            "letters, digits, '.', '_' and '-', starting with a letter or digit"
        )
    if not callable(reg.factory):
        raise PluginError(f"{where} registered {reg.kind} {reg.name!r} with a factory that is not callable")
    if reg.load is not None and not callable(reg.load):
        raise PluginError(f"{where} registered {reg.kind} {reg.name!r} with a load that is not callable")
    if not (isinstance(reg.config, type) and issubclass(reg.config, BaseModel)):
        raise PluginError(
            f"{where} registered {reg.kind} {reg.name!r} without a pydantic config model "
            f"(got {reg.config!r})"
        )
    if reg.config.model_config.get("extra") != "forbid":
        raise PluginError(
            f"{where} registered {reg.kind} {reg.name!r} with config {reg.config.__name__} that "
            "accepts unknown keys; derive it from vlakit.ComponentConfig or set extra='forbid'"
        )
    if reg.example is not None:
        try:
            reg.config.model_validate(reg.example)
        except Exception as exc:  # noqa: BLE001
            raise PluginError(f"{where}: example params of {reg.kind} {reg.name!r} are invalid: {exc}") from None
    if reg.writer is not None and (reg.kind != "dataset" or not callable(reg.writer)):
        raise PluginError(
            f"{where} registered {reg.kind} {reg.name!r} with a writer: only datasets take one, and it "
            "must be callable as writer(root, spec)"
        )
    if "type" in reg.config.model_fields:
        raise PluginError(f"{where}: config of {reg.kind} {reg.name!r} may not define a field 'type'")


def suggest(name: str, known: list[str]) -> str | None:
    """The known name closest to ``name``, if any is close."""
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if match:
        return match[0]
    folded = {k.replace("_", "-").lower(): k for k in known}
    return folded.get(name.replace("_", "-").lower())


@dataclass
class Registry:
    """All registered components, the plugins they came from, and the plugins that failed."""

    components: dict[str, dict[str, Registration]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    plugins: list[PluginInfo] = field(default_factory=list)
    failures: list[LoadFailure] = field(default_factory=list)

    def conflict(self, reg: Registration) -> Registration | None:
        """The existing registration that ``reg`` would collide with, if any."""
        return self.components[reg.kind].get(reg.name)

    def add(self, reg: Registration) -> None:
        """Add ``reg``; a name already taken is a :class:`PluginError` naming both owners."""
        validate_registration(reg)
        other = self.conflict(reg)
        if other is not None:
            raise PluginError(
                f"{KINDS[reg.kind][0]} {reg.name!r} is registered twice: by {other.dist} "
                f"{other.version} (plugin {other.plugin!r}) and by {reg.dist} {reg.version} "
                f"(plugin {reg.plugin!r})"
            )
        self.components[reg.kind][reg.name] = reg

    def names(self, kind: str) -> list[str]:
        """Sorted names of the components of ``kind``."""
        return sorted(self.components[kind])

    def list(self, kind: str | None = None, pattern: str = "*") -> list[Registration]:
        """Registrations of ``kind`` (all kinds when ``None``) whose name matches the glob."""
        kinds = [kind] if kind else list(KINDS)
        for k in kinds:
            if k not in KINDS:
                raise UnknownComponentError(f"unknown kind {k!r}; kinds are {', '.join(KINDS)}")
        return [
            reg
            for k in kinds
            for name, reg in sorted(self.components[k].items())
            if fnmatch.fnmatchcase(name, pattern)
        ]

    def get(self, kind: str, name: str) -> Registration:
        """The registration of ``name``; a miss lists what exists and the likely intended name."""
        if kind not in KINDS:
            raise UnknownComponentError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
        try:
            return self.components[kind][name]
        except KeyError:
            pass
        label = KINDS[kind][0]
        known = self.names(kind)
        message = f"unknown {label} {name!r}"
        guess = suggest(str(name), known)
        if guess:
            message += f"; did you mean {guess!r}?"
        message += f" (registered: {', '.join(known) if known else 'none'})"
        if self.failures:
            message += f"; {len(self.failures)} plugin(s) failed to load, see `vlakit plugins`"
        raise UnknownComponentError(message)

    def writer(self, name: str | None = None) -> Registration:
        """The dataset registration whose format ``name`` writes; ``None``: the only dataset that
        declares a writer. A miss says which datasets can write."""
        writers = [reg for reg in self.components["dataset"].values() if reg.writer is not None]
        names = sorted(reg.name for reg in writers)
        if name is None:
            if len(writers) == 1:
                return writers[0]
            raise UnknownComponentError(
                "name the dataset format to write (" + (", ".join(names) if names else "no installed dataset "
                "plugin can write one") + ")"
            )
        reg = self.get("dataset", name)
        if reg.writer is None:
            raise UnknownComponentError(
                f"dataset {name!r} cannot be written; formats that can: {', '.join(names) if names else 'none'}"
            )
        return reg

    def build(self, kind: str, block: dict[str, Any]) -> Any:
        """Build a component from a recipe block ``{type: NAME, ...params}``."""
        params = dict(block)
        name = params.pop("type")
        return self.get(kind, name).build(params)

    def build_without_weights(self, kind: str, block: dict[str, Any]) -> Any:
        """Build a component of ``block`` with its config's :meth:`~ComponentConfig.without_weights`
        applied: the architecture only, for weights that come from a bundle."""
        params = dict(block)
        reg = self.get(kind, params.pop("type"))
        config = reg.config.model_validate(params)
        update = config.without_weights() if isinstance(config, ComponentConfig) else None
        return reg.build(config.model_copy(update=update) if update else config)

    def load_saved(self, kind: str, block: dict[str, Any], directory: str, base: str | None = None) -> Any:
        """Rebuild a component of recipe block ``block`` from its saved weights in ``directory``."""
        params = dict(block)
        name = params.pop("type")
        return self.get(kind, name).load_saved(params, directory, base)
