"""Conformance checks for plugin authors.

Call the check for your component's kind from your own tests::

    from vlakit.testing import check_action_codec
    check_action_codec(MyCodec(MyCodec.Config()))

Each check raises ``AssertionError`` with a message that says which contract was broken.
vlakit's own test suite runs them over every registered component.
"""

from __future__ import annotations

from vlakit.lazy import lazy_attributes

__all__ = [
    "check_action_codec",
    "check_dataset",
    "check_language_model",
    "check_objective",
    "check_robot_driver",
    "check_saved_language_model",
    "check_vision_backbone",
]

_LAZY = {
    "check_action_codec": "vlakit.testing.codec",
    "check_dataset": "vlakit.testing.dataset",
    "check_robot_driver": "vlakit.testing.robot",
    "check_vision_backbone": "vlakit.testing.vision",
    "check_language_model": "vlakit.testing.language",
    "check_saved_language_model": "vlakit.testing.language",
    "check_objective": "vlakit.testing.objective",
}


__getattr__ = lazy_attributes(__name__, _LAZY)
