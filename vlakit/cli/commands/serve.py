"""``vlakit serve``: one bundle's policy over the network (openpi websocket + OpenVLA HTTP)."""

from __future__ import annotations

from pathlib import Path

import click

from vlakit.cli.main import bundle_load_options, cli, decoding_option


@cli.command("serve")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default)."
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port (0: any free)."
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Most requests per model call.",
)
@click.option(
    "--max-wait-ms",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="How long the first request of a batch may wait for others, milliseconds.",
)
@click.option(
    "--api-key",
    envvar="VLAKIT_API_KEY",
    help="Require this key from clients (header 'Authorization: Api-Key KEY'). Also read from VLAKIT_API_KEY.",
)
@click.option(
    "--max-request-mb",
    type=click.FloatRange(min=0.01),
    default=16.0,
    show_default=True,
    help="Largest request accepted, MiB.",
)
@click.option("--device", default="cpu", show_default=True, help="Torch device of the policy (e.g. cuda).")
@decoding_option
@bundle_load_options
def serve_command(
    bundle: Path,
    host: str,
    port: int,
    batch_size: int,
    max_wait_ms: float,
    api_key: str | None,
    max_request_mb: float,
    device: str,
    decoding: str | None,
    base: Path | None,
    trusted_keys: tuple[Path, ...],
) -> None:
    """Serve BUNDLE's policy: openpi's websocket protocol at ws://HOST:PORT/, OpenVLA's
    POST /act, GET /metadata and GET /healthz, on one port. Ctrl-C stops it."""
    from vlakit.policy.policy import Policy
    from vlakit.serve.server import PolicyServer, exposure_warning
    from vlakit.serve.spec import PolicySpec

    warning = exposure_warning(host, api_key)
    if warning:
        click.echo(warning, err=True)
    policy = Policy.load(bundle, device=device, decoding=decoding, base=base, trusted_keys=trusted_keys)
    spec = PolicySpec.from_bundle(bundle, policy, trusted_keys=trusted_keys)
    server = PolicyServer(
        policy,
        spec,
        host=host,
        port=port,
        max_batch_size=batch_size,
        max_wait=max_wait_ms / 1000.0,
        api_key=api_key,
        max_request_bytes=int(max_request_mb * 2**20),
    )

    def announce(bound: int) -> None:
        shape = f"[{spec.horizon}, {spec.action_space.dim}]"
        click.echo(
            f"serving {bundle} on ws://{host}:{bound} (websocket, openpi protocol) and http://{host}:{bound}/act; "
            f"cameras {list(spec.cameras)}, state {spec.state_dim}, actions {shape}; Ctrl-C stops",
        )

    server.serve_forever(on_start=announce)
