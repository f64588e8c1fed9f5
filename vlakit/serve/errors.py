"""What can go wrong between a robot and a policy server."""

from __future__ import annotations

from vlakit.errors import RobotError, VlakitError


class BadRequest(VlakitError):
    """A request the server refuses; the message (sent back to the client) says what is wrong.

    ``status`` is the HTTP status ``POST /act`` answers with.
    """

    status = 400


class InferenceFailed(BadRequest):
    """The policy raised on this request's inputs (the message says what it raised)."""

    status = 500


class ServerClosing(BadRequest):
    """The server is shutting down and takes no more requests."""

    status = 503


class PolicyServerError(RobotError):
    """The policy server answered a request with an error (its message is included)."""


class PolicyServerLost(RobotError):
    """The policy server cannot be reached or went away; the robot was brought to a safe state."""
