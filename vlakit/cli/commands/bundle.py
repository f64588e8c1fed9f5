"""``vlakit bundle``: verify a bundle, make signing keys, sign a bundle's manifest."""

from __future__ import annotations

from pathlib import Path

import click

from vlakit.cli.main import cli, require_signature_option


@cli.group("bundle")
def bundle_group() -> None:
    """Verify and sign bundles (signatures need: pip install 'vlakit[sign]')."""


@bundle_group.command("verify")
@click.argument("bundle", type=click.Path(path_type=Path))
@require_signature_option
def verify_command(bundle: Path, trusted_keys: tuple[Path, ...]) -> None:
    """Check BUNDLE without loading its weights: confinement, hashes, safetensors headers,
    versions, plugins, and the signature when a key is given."""
    from vlakit.plugins import get_registry
    from vlakit.policy.bundle import read_bundle
    from vlakit.policy.signing import SIGNATURE

    contents = read_bundle(bundle, trusted_keys=trusted_keys, registry=get_registry())
    n = len(contents.manifest["files"])
    plugins = ", ".join(f"{r['kind']} {r['type']} ({r['dist']} {r['version']})" for r in contents.plugins.values())
    click.echo(f"{contents.path}: {n} files match the manifest; plugins: {plugins}")
    if contents.signed_by:
        click.echo(f"signed by trusted key {contents.signed_by}")
    elif (contents.path / SIGNATURE).exists():
        click.echo("signed, but not checked: pass --require-signature PUBKEY to check it")
    else:
        click.echo("not signed")


@bundle_group.command("keygen")
@click.argument("key", type=click.Path(dir_okay=False, path_type=Path))
def keygen_command(key: Path) -> None:
    """Write a new Ed25519 private key to KEY (mode 0600) and its public key to KEY.pub."""
    from vlakit.policy.signing import generate_key, key_id, load_public_key

    private, public = generate_key(key)
    click.echo(f"private key: {private} (keep it secret)\npublic key: {public} (id {key_id(load_public_key(public))})")


@bundle_group.command("sign")
@click.argument("bundle", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--key", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Private key file (from keygen)."
)
def sign_command(bundle: Path, key: Path) -> None:
    """Verify BUNDLE, then sign its manifest with KEY (writes signature.json)."""
    from vlakit.plugins import get_registry
    from vlakit.policy.bundle import read_bundle
    from vlakit.policy.signing import sign_manifest

    read_bundle(bundle, registry=get_registry())  # never vouch for a bundle that does not verify
    click.echo(f"signed: {sign_manifest(bundle, key)}")
