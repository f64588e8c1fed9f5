"""``vlakit plugins``: what is installed, from which distribution, and what failed to load."""

from __future__ import annotations

import json

import click

from vlakit.cli.main import cli
from vlakit.plugins import KINDS, get_loader, get_registry
from vlakit.plugins.manager import PLUGIN_API


@cli.command("plugins")
@click.argument("pattern", default="*")
@click.option("--kind", type=click.Choice(list(KINDS)), help="Only this kind of component.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_command(pattern: str, kind: str | None, as_json: bool) -> None:
    """List registered components (optionally matching a glob PATTERN) and plugin load errors."""
    registry = get_registry()
    skipped = get_loader().skipped
    regs = registry.list(kind, pattern)
    if as_json:
        out = {
            "components": [
                {
                    "kind": r.kind,
                    "name": r.name,
                    "description": r.description,
                    "plugin": r.plugin,
                    "distribution": r.dist,
                    "version": r.version,
                    "config": r.config.__name__,
                }
                for r in regs
            ],
            "plugin_api": PLUGIN_API,
            "plugins": [p.__dict__ for p in registry.plugins],
            "skipped": [{"plugin": name, "distribution": dist} for name, dist in skipped],
            "failures": [
                {"plugin": f.plugin, "distribution": f.dist, "version": f.version, "error": f.error}
                for f in registry.failures
            ],
        }
        click.echo(json.dumps(out, indent=2))
        return
    if not regs and not registry.plugins and not skipped and not registry.failures:
        click.echo(
            'no plugins installed; vlakit\'s own come with pip install "vlakit[all]" (from a clone of '
            "vlakit: pip install -c constraints.txt -r requirements/all.txt)"
        )
    elif not regs:
        click.echo("no components match" + (f" {pattern!r}" if pattern != "*" else ""))
    width = max((len(r.name) for r in regs), default=0)
    current = None
    for r in regs:
        if r.kind != current:
            current = r.kind
            click.secho(f"{KINDS[r.kind][0]}s ({r.kind})", bold=True)
        click.echo(f"  {r.name:<{width}}  {r.dist} {r.version}  {r.description}")
    undeclared = [p for p in registry.plugins if p.api is None]
    if undeclared:
        click.echo(
            "plugins that declare no plugin API (VLAKIT_PLUGIN_API): "
            + ", ".join(f"{p.name} ({p.dist} {p.version})" for p in undeclared)
        )
    if skipped:
        click.echo("plugins skipped (-p / VLAKIT_LOAD_PLUGINS / VLAKIT_DISABLE_PLUGINS): "
                   + ", ".join(f"{name} ({dist})" for name, dist in skipped))
    if registry.failures:
        click.secho(f"plugins that failed to load ({len(registry.failures)}):", fg="red", bold=True)
        for f in registry.failures:
            click.echo(f"  {f.plugin} ({f.dist} {f.version}): {f.error}")
