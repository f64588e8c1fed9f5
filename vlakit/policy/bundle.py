"""Bundles: a trained policy as plain files (safetensors, JSON, YAML) with a hash manifest.

Layout::

    manifest.json      format, file -> sha256
    model.safetensors  vision backbone, projector, state projector
    language/          the language model's own save_weights output: full (LoRA merged) or
                       adapters plus a reference to the base, with its tokenizer
    recipe.yaml        the resolved recipe the weights belong to
    codec.json         fitted codec state        mapping.json   codec symbol -> token id mapping
    robot.json         action space, cameras, state width, action statistics
    versions.json      vlakit and key library versions at export

No pickle anywhere. Loading verifies every hash and the versions before any weights are read.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from vlakit.errors import BundleError

FORMAT = 1
MANIFEST = "manifest.json"
#: libraries whose major version must match between export and load
KEY_LIBRARIES = ("torch", "transformers", "peft", "timm", "tokenizers", "safetensors")


def library_versions() -> dict[str, str]:
    """Installed versions of vlakit, Python and the key libraries."""
    out = {"vlakit": _version("vlakit"), "python": platform.python_version()}
    for lib in KEY_LIBRARIES + ("numpy", "lightning"):
        out[lib] = _version(lib)
    return out


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class BundleContents:
    """The verified, parsed small files of a bundle; weights stay on disk until loaded."""

    path: Path
    manifest: dict[str, Any]
    recipe: dict[str, Any]
    codec: dict[str, Any]
    mapping: dict[str, Any]
    robot: dict[str, Any]
    versions: dict[str, str]

    @property
    def weights(self) -> Path:
        return self.path / "model.safetensors"

    @property
    def language_dir(self) -> Path:
        return self.path / "language"


def write_bundle(
    directory: str | Path,
    write_weights: Any,
    recipe: dict[str, Any],
    codec: dict[str, Any],
    mapping: dict[str, Any],
    robot: dict[str, Any],
) -> Path:
    """Write a bundle into ``directory`` atomically (a temp folder renamed into place).

    ``write_weights(folder)`` writes ``model.safetensors`` and ``language/`` into ``folder``.
    """
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write_weights(tmp)
        (tmp / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
        for name, data in (("codec", codec), ("mapping", mapping), ("robot", robot), ("versions", library_versions())):
            (tmp / f"{name}.json").write_text(json.dumps(data, indent=2))
        files = {
            str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()
        }
        manifest = {"format": FORMAT, "files": files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _major(version: str) -> str:
    return version.split(".")[0]


def check_versions(saved: dict[str, str]) -> None:
    """Refuse a bundle from another vlakit minor version or another major of a key library."""
    here = library_versions()
    problems = []
    v_saved, v_here = saved.get("vlakit", "?"), here["vlakit"]
    if v_saved.split(".")[:2] != v_here.split(".")[:2]:
        problems.append(f"vlakit {v_saved} (installed: {v_here})")
    for lib in KEY_LIBRARIES:
        s, h = saved.get(lib), here[lib]
        if s and s != "not installed" and _major(s) != _major(h):
            problems.append(f"{lib} {s} (installed: {h})")
    if problems:
        raise BundleError("bundle was exported with incompatible versions: " + "; ".join(problems))


def read_bundle(directory: str | Path) -> BundleContents:
    """Verify a bundle's manifest, hashes and versions, and parse its small files."""
    path = Path(directory)
    if not path.is_dir():
        raise BundleError(f"bundle not found: {path} (expected a directory with {MANIFEST})")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        raise BundleError(f"{path} is not a bundle: {MANIFEST} is missing") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path / MANIFEST} is not valid JSON: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: bundle format {manifest.get('format')!r} is not supported (expected {FORMAT})")
    for name, digest in manifest.get("files", {}).items():
        file = path / name
        if not file.is_file():
            raise BundleError(f"{path}: file {name} listed in the manifest is missing")
        if sha256_file(file) != digest:
            raise BundleError(f"{path}: file {name} does not match its hash in {MANIFEST} (modified or corrupt)")
    required = ("model.safetensors", "recipe.yaml", "codec.json", "mapping.json", "robot.json", "versions.json")
    for name in required:
        if name not in manifest.get("files", {}):
            raise BundleError(f"{path}: the manifest does not list {name}")
    if not any(name.startswith("language/") for name in manifest.get("files", {})):
        raise BundleError(f"{path}: the manifest lists no language model files")
    versions = json.loads((path / "versions.json").read_text())
    check_versions(versions)
    return BundleContents(
        path=path,
        manifest=manifest,
        recipe=yaml.safe_load((path / "recipe.yaml").read_text()),
        codec=json.loads((path / "codec.json").read_text()),
        mapping=json.loads((path / "mapping.json").read_text()),
        robot=json.loads((path / "robot.json").read_text()),
        versions=versions,
    )
