"""The hooks a vlakit plugin can implement (pluggy project ``vlakit``).

Each ``register_*`` hook receives a ``register`` callback; call it once per component::

    @vlakit.hookimpl
    def register_action_codecs(register):
        register("my-codec", MyCodec, config=MyCodecConfig, description="...")

``factory(config)`` is called with a validated instance of ``config`` (a pydantic model) and
returns the component. ``example={...}`` optionally gives the params of a small, fast instance:
vlakit's conformance tests build that (or the defaults when no example is given).
``load=fn`` (optional) rebuilds a component from what its ``save_weights`` wrote into a bundle,
``fn(config, directory, base)``, without reading the weights its recipe names, so a bundle loads
on its own (see :class:`vlakit.plugins.registry.Registration`).
A dataset that can also write its format passes ``writer=factory``: ``factory(root, spec)`` returns a
:class:`vlakit.interfaces.writer.EpisodeWriter` (``vlakit run --record``, ``vlakit dataset export``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("vlakit")
hookimpl = pluggy.HookimplMarker("vlakit")

Register = Callable[..., None]


@hookspec
def register_vision_backbones(register: Register) -> None:
    """Register vision backbones (kind ``vision``)."""


@hookspec
def register_language_models(register: Register) -> None:
    """Register language models (kind ``language``)."""


@hookspec
def register_action_codecs(register: Register) -> None:
    """Register action codecs (kind ``codec``)."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets (kind ``dataset``)."""


@hookspec
def register_robots(register: Register) -> None:
    """Register robot drivers (kind ``robot``)."""


@hookspec
def register_objectives(register: Register) -> None:
    """Register objectives, auxiliary training losses (kind ``objective``)."""


@hookspec
def register_document_kinds(register: Register) -> None:
    """Register kinds of YAML document that ``vlakit validate FILE`` checks (kind ``document``).

    The name is the top-level key that marks a document of this kind (a recipe has none of
    them); ``config`` is the pydantic model of the whole document (unknown keys forbidden);
    ``factory(document)`` receives the validated document, runs any check beyond the model's
    (raising a :class:`vlakit.VlakitError`) and returns a one-line summary. For example a
    robot plugin registers its profiles: ``register("serial-arm", check_profile,
    config=ArmProfile, description="serial-bus arm profile")``.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``vlakit`` command line (``cli`` is the root click group)."""
