"""The optional API key: ``Authorization: Api-Key KEY`` (openpi-client's header) or, on the
websocket, a first message ``{"api_key": KEY}`` for clients that cannot set headers."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

HEADER = "Authorization"
SCHEME = "Api-Key"


def header_key(headers: Mapping[str, str]) -> str | None:
    """The key an ``Authorization: Api-Key KEY`` header carries, or ``None``."""
    value = headers.get(HEADER, "")
    scheme, _, key = value.partition(" ")
    return key.strip() if scheme == SCHEME and key.strip() else None


def key_matches(expected: str | None, given: Any) -> bool:
    """True when no key is required, or ``given`` equals it (constant-time comparison)."""
    if expected is None:
        return True
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())
