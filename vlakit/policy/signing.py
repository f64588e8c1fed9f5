"""Optional Ed25519 signatures of a bundle's manifest (the ``cryptography`` package, extra ``sign``).

The signature covers the exact bytes of ``manifest.json`` (behind a fixed context string), and the
manifest holds the SHA-256 of every other file, so one signature vouches for the whole bundle.
It is stored beside the manifest as ``signature.json``::

    {"algorithm": "ed25519", "key_id": "<first 16 hex of sha256(public key)>",
     "signature": "<base64 of 64 bytes>"}

Keys are PEM files: a private key (PKCS #8, written with mode 0600) and its public key
(SubjectPublicKeyInfo) beside it as ``<name>.pub``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vlakit.errors import BundleError
from vlakit.io import atomic_write_bytes, atomic_write_text

SIGNATURE = "signature.json"
ALGORITHM = "ed25519"
#: prefixed to the manifest bytes before signing: a signature made for anything else never fits
CONTEXT = b"vlakit bundle manifest v1\n"


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise BundleError(
            "bundle signatures need the cryptography package: pip install 'vlakit[sign]'"
        ) from None
    return serialization, ed25519


def _raw_public(key: Any) -> bytes:
    serialization, _ = _crypto()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Any) -> str:
    """First 16 hex digits of the SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


def generate_key(path: str | Path) -> tuple[Path, Path]:
    """Write a new private key to ``path`` (mode 0600) and its public key to ``path.pub``."""
    serialization, ed25519 = _crypto()
    path = Path(path)
    public = path.with_name(path.name + ".pub")
    for p in (path, public):
        if p.exists():
            raise BundleError(f"{p} already exists; not overwriting a key")
    key = ed25519.Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    atomic_write_bytes(public, public_pem)
    return path, public


def load_private_key(path: str | Path) -> Any:
    """The Ed25519 private key in the PEM file ``path``."""
    return _load_key(path, private=True)


def load_public_key(path: str | Path) -> Any:
    """The Ed25519 public key in the PEM file ``path`` (written by :func:`generate_key` as ``.pub``)."""
    return _load_key(path, private=False)


def _load_key(path: str | Path, private: bool) -> Any:
    serialization, ed25519 = _crypto()
    data = _read_key_file(path)
    if not private and b"PRIVATE KEY" in data:
        raise BundleError(f"{path} is a private key; give its public key (the .pub file)")
    what = "an unencrypted PEM private key" if private else "a PEM public key"
    try:
        if private:
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"{path} is not {what} ({str(exc).splitlines()[0]})") from None
    expected = ed25519.Ed25519PrivateKey if private else ed25519.Ed25519PublicKey
    if not isinstance(key, expected):
        raise BundleError(f"{path} holds a {type(key).__name__}; bundles are signed with Ed25519 keys")
    return key


def _read_key_file(path: str | Path) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read key {path}: {exc.strerror or exc}") from None
    if len(data) > 64_000:
        raise BundleError(f"{path} is not a key file ({len(data)} bytes)")
    return data


def sign_manifest(bundle: str | Path, private_key: str | Path) -> Path:
    """Sign ``bundle``'s manifest with the key in ``private_key``; write ``signature.json``."""
    key = load_private_key(private_key)
    path = Path(bundle)
    try:
        manifest = (path / "manifest.json").read_bytes()
    except OSError:
        raise BundleError(f"{path} is not a bundle: manifest.json is missing") from None
    record = {
        "algorithm": ALGORITHM,
        "key_id": key_id(key.public_key()),
        "signature": base64.b64encode(key.sign(CONTEXT + manifest)).decode("ascii"),
    }
    atomic_write_text(path / SIGNATURE, json.dumps(record, indent=2) + "\n")
    return path / SIGNATURE


def verify_manifest(bundle: Path, manifest: bytes, trusted: Sequence[str | Path]) -> str:
    """Check that ``manifest`` (the bytes read from ``bundle``) is signed by one of the public keys
    in the files ``trusted``; return the matching key's id. Raises :class:`BundleError` otherwise.
    """
    keys = [load_public_key(p) for p in trusted]
    if not keys:
        raise BundleError("no trusted keys given to check the signature against")
    where = bundle / SIGNATURE
    try:
        record = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{bundle} is not signed ({SIGNATURE} is missing) and a signature is required") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(record, dict) or record.get("algorithm") != ALGORITHM:
        raise BundleError(f"{where}: expected an {ALGORITHM} signature record")
    try:
        signature = base64.b64decode(str(record.get("signature", "")), validate=True)
    except ValueError:
        raise BundleError(f"{where}: the signature is not base64") from None
    from cryptography.exceptions import InvalidSignature

    for key in keys:
        try:
            key.verify(signature, CONTEXT + manifest)
        except InvalidSignature:
            continue
        return key_id(key)
    ids = ", ".join(key_id(k) for k in keys)
    raise BundleError(
        f"{bundle}: the signature does not verify with the trusted key(s) {ids} (signed by key "
        f"{record.get('key_id', '?')}, or the manifest was changed after signing)"
    )
