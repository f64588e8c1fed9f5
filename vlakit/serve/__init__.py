"""Serving a bundle's policy over the network: openpi's websocket + msgpack protocol and
OpenVLA's HTTP ``POST /act`` on one port, with dynamic batching (``vlakit serve``), and the
robot-side client (``vlakit run --policy ws://HOST:PORT``).

No pickle anywhere: requests are msgpack or JSON, and arrays travel as raw bytes plus a
numeric dtype and a shape, checked before any array is built.
"""

from vlakit.serve.errors import BadRequest, PolicyServerError, PolicyServerLost

__all__ = ["BadRequest", "PolicyServerError", "PolicyServerLost"]
