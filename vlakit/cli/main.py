"""Entry point of the ``vlakit`` command: the root group, error handling, exit codes.

User errors (:class:`~vlakit.errors.VlakitError`) print one message to stderr and exit 2;
``--debug`` (or ``VLAKIT_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import math
import os
import sys
import traceback
from pathlib import Path
from typing import get_args

import click

from vlakit import __version__
from vlakit.environ import restored_environ
from vlakit.errors import VlakitError
from vlakit.recipes.schema import Decoding

#: set by ``--debug``, so that processes a command starts show tracebacks too
DEBUG_ENV = "VLAKIT_DEBUG"

#: ``--decoding`` of the commands that run a bundle's policy (``eval``, ``run``).
decoding_option = click.option(
    "--decoding",
    type=click.Choice(get_args(Decoding)),
    help="How action tokens become values: argmax (the most likely bin) or expectation (the "
    "probability-weighted mean of the bins). Default: the recipe's model.decoding.",
)

#: ``--robot`` of the commands that run a bundle's policy on a robot (``eval``, ``run``).
robot_option = click.option(
    "--robot",
    metavar="TYPE|YAML",
    help="A registered robot type (`vlakit plugins --kind robot` lists them) or a YAML file holding the robot block. "
    "Default: the recipe's eval.robot.",
)



class FiniteFloatRange(click.FloatRange):
    """A :class:`click.FloatRange` that also refuses NaN and infinity."""

    name = "finite float range"

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201  (click's signature)
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def _check_device(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``--device``: a torch device that exists on this machine (``cpu``, ``cuda:1``, ``mps``)."""
    import torch

    try:
        torch.empty(0, device=torch.device(value))
    except (RuntimeError, AssertionError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise click.BadParameter(f"{value!r} is not a usable torch device here ({first})") from None
    return value


#: ``--device`` of the commands that run a bundle's policy (``eval``, ``run``).
device_option = click.option(
    "--device",
    default="cpu",
    show_default=True,
    callback=_check_device,
    help="Torch device of the policy (cpu, cuda, cuda:1, mps).",
)


#: ``--require-signature`` of the commands that load or verify a bundle.
require_signature_option = click.option(
    "--require-signature",
    "trusted_keys",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PUBKEY",
    help="Refuse the bundle unless its manifest is signed by this public key (repeatable: any of them).",
)

#: ``--base`` of the commands that load a bundle.
base_option = click.option(
    "--base",
    type=click.Path(file_okay=False, path_type=Path),
    help="Base model directory of an adapter-only bundle (its hash must match the recorded one).",
)


def bundle_load_options(command):
    """``--base`` and ``--require-signature`` of the commands that load a bundle (``eval``, ``run``)."""
    return base_option(require_signature_option(command))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vlakit")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option(
    "-p",
    "--plugin",
    "plugin_choices",
    multiple=True,
    metavar="[no:]NAME",
    help="Load only the plugin NAME (repeatable), or skip it with no:NAME (entry-point or "
    "distribution name); as VLAKIT_LOAD_PLUGINS / VLAKIT_DISABLE_PLUGINS for one command.",
)
def cli(debug: bool, plugin_choices: tuple[str, ...]) -> None:
    """Compose, train and run vision-language-action robot policies from plugins."""
    if debug:
        os.environ[DEBUG_ENV] = "1"


def apply_plugin_choices(argv: list[str]) -> None:
    """Read the root group's ``-p [no:]NAME`` options (before the command name) into the
    environment, so plugins are chosen before they load (their commands join the CLI)."""
    disabled: list[str] = []
    selected: list[str] = []
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        arg = argv[i]
        value = None
        if arg in ("-p", "--plugin") and i + 1 < len(argv):
            value, i = argv[i + 1], i + 1
        elif arg.startswith("--plugin="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-p") and len(arg) > 2:
            value = arg[2:]
        if value is not None:
            (disabled if value.startswith("no:") else selected).append(value.removeprefix("no:"))
        i += 1
    from vlakit.plugins.manager import DISABLE_ENV, LOAD_ENV

    if disabled:
        os.environ[DISABLE_ENV] = ",".join(filter(None, [os.environ.get(DISABLE_ENV, ""), *disabled]))
    if selected:
        os.environ[LOAD_ENV] = ",".join(selected)


def _register_builtin_commands() -> None:
    from vlakit.cli import commands  # noqa: F401  (registers on import)


def build_cli() -> click.Group:
    """The root group with vlakit's commands and every plugin's ``register_commands``."""
    _register_builtin_commands()
    from vlakit.plugins import get_loader

    get_loader().add_commands(cli)
    return cli


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 failure, 2 user error, 130 interrupted).

    Called as the program (``argv`` ``None``), it leaves at once (``os._exit``, output flushed)
    when a stalled policy's thread is still running, which could otherwise abort the interpreter's
    shutdown.
    """
    if argv is None:
        code = _main(list(sys.argv[1:]))
        _exit_now_if_threads_were_abandoned(code)
        return code
    from vlakit.plugins.manager import DISABLE_ENV, LOAD_ENV

    # else a call in-process (tests, notebooks) leaves ``--debug`` and ``-p`` behind for the next
    with restored_environ(DEBUG_ENV, DISABLE_ENV, LOAD_ENV):
        return _main(list(argv))


def _exit_now_if_threads_were_abandoned(code: int) -> None:
    runtime = sys.modules.get("vlakit.runtime.worker")
    if runtime is not None and runtime.abandoned_threads():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _main(argv: list[str]) -> int:
    debug = _debug_requested(argv)
    try:
        apply_plugin_choices(argv)
        group = build_cli()
        group.main(args=argv, prog_name="vlakit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except VlakitError as exc:
        if debug:
            traceback.print_exc()
        else:
            click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    return 0

