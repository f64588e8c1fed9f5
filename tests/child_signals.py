"""Child processes that a test interrupts with SIGINT, as Ctrl-C in a terminal would."""

from __future__ import annotations

import signal


def sigint_as_in_a_terminal() -> None:
    """``preexec_fn`` for such a child: SIGINT's default disposition, so the child's Python installs
    its Ctrl-C handler. A suite run as a background job (``nohup ... &``) starts with SIGINT
    ignored, children inherit that, and the signal the test sends would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
