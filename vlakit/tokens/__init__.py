"""Action symbols in a language model's vocabulary, and decoding constrained to them.

* :class:`ActionTokenMapping` (``append`` / ``tail``), :class:`TokenMappingError`;
* :func:`constrained_greedy`, vlakit's KV-cached greedy loop (imported lazily: it needs torch).
"""

from __future__ import annotations

from vlakit.lazy import lazy_attributes
from vlakit.tokens.mapping import MODES, ActionTokenMapping, TokenMappingError

__all__ = [
    "MODES",
    "ActionTokenMapping",
    "SymbolConstraint",
    "TokenMappingError",
    "constrained_greedy",
]

_LAZY = {
    "SymbolConstraint": "vlakit.tokens.constrained",
    "constrained_greedy": "vlakit.tokens.constrained",
}


__getattr__ = lazy_attributes(__name__, _LAZY)
