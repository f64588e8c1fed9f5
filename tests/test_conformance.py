"""Every registered component passes the conformance check of its kind (vlakit.testing).

A new first-party plugin is checked here without writing new tests: it is built from its
registration's ``example`` params (or its defaults).
"""

from __future__ import annotations

import pytest

import vlakit.testing as conformance
from vlakit.plugins import get_registry

CHECKS = {
    "codec": "check_action_codec",
    "vision": "check_vision_backbone",
    "language": "check_language_model",
    "robot": "check_robot_driver",
    "dataset": "check_dataset",
}


def registrations():
    registry = get_registry()
    return [pytest.param(reg, id=f"{reg.kind}:{reg.name}") for kind in CHECKS for reg in registry.list(kind)]


def test_builtin_plugins_load_cleanly():
    registry = get_registry()
    assert not registry.failures, [f.error for f in registry.failures]
    for kind in CHECKS:
        assert registry.list(kind), f"no {kind} registered"


def needs_files(reg) -> list[str]:
    """Required params of a registration without an example (a dataset on disk: its path)."""
    if reg.example is not None:
        return []
    return [name for name, field in reg.config.model_fields.items() if field.is_required()]


@pytest.mark.parametrize("reg", registrations())
def test_component_conforms(reg, tmp_path):
    required = needs_files(reg)
    if required:
        pytest.skip(f"{reg.name} needs {required} (files on disk); its plugin's own tests run the check")
    component = reg.build(reg.example or {})
    check = getattr(conformance, CHECKS[reg.kind])
    if reg.kind == "dataset":
        check(component, tmp_path)
    elif reg.kind == "codec":
        check(component, factory=lambda: reg.build(reg.example or {}))
    else:
        check(component)


@pytest.mark.parametrize("reg", [p for p in registrations() if p.values[0].kind == "language"])
def test_language_model_rebuilds_from_its_saved_weights(reg, tmp_path):
    """What a bundle relies on: save_weights, then the registration's load_saved, same logits."""
    conformance.check_saved_language_model(reg, reg.example or {}, tmp_path / "language")
