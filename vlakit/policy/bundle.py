"""Bundles: a trained policy as plain files (safetensors, JSON, YAML) with a hash manifest.

Layout::

    manifest.json      format, file -> sha256 (every other file; nothing unlisted is accepted)
    signature.json     optional: an Ed25519 signature of manifest.json (see signing.py)
    model.safetensors  vision backbone, projector, state projector
    language/          the language model's own save_weights output: full (LoRA merged) or
                       adapters plus the hash of the base they need, with its tokenizer
    recipe.yaml        the resolved recipe the weights belong to
    codec.json         fitted codec state        mapping.json   codec symbol -> token id mapping
    robot.json         action space, cameras, state width, action statistics
    versions.json      vlakit and key library versions at export
    plugins.json       the plugin of each component: name, distribution, version

No pickle anywhere. Loading confines every manifest entry to the bundle (no absolute paths, no
``..``, no symlinks), refuses unlisted files, verifies every hash, every safetensors header, the
versions and the plugins before any weights are read. See docs/bundles.md.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from vlakit.digest import sha256_file
from vlakit.errors import BundleError
from vlakit.plugins.registry import Registry
from vlakit.policy.safetensors_header import check_safetensors
from vlakit.policy.signing import SIGNATURE, verify_manifest

FORMAT = 2
MANIFEST = "manifest.json"
#: libraries whose major version must match between export and load
KEY_LIBRARIES = ("torch", "transformers", "peft", "timm", "tokenizers", "safetensors")
#: the small files every bundle has (the weights and language/ come on top)
REQUIRED = ("model.safetensors", "recipe.yaml", "codec.json", "mapping.json", "robot.json", "versions.json", "plugins.json")
#: the recipe slots whose components a bundle needs at load time
PLUGIN_SLOTS = {"vision": "vision", "language": "language", "codec": "codec"}
#: largest manifest read (bytes); a real one is a few KB
MAX_MANIFEST = 16 << 20

__all__ = ["FORMAT", "MANIFEST", "BundleContents", "read_bundle", "sha256_file", "write_bundle"]


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
    plugins: dict[str, dict[str, str]]
    #: id of the trusted key that signed the manifest, when a signature was required
    signed_by: str | None = None

    @property
    def weights(self) -> Path:
        return self.path / "model.safetensors"

    @property
    def language_dir(self) -> Path:
        return self.path / "language"


class _PlainDumper(yaml.SafeDumper):
    """Writes repeated values out in full: loading refuses YAML aliases in a bundle's recipe."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def plugin_records(model: dict[str, Any], registry: Registry) -> dict[str, dict[str, str]]:
    """``slot -> {type, kind, dist, version}`` of the components a bundle of ``model`` needs."""
    records = {}
    for slot, kind in PLUGIN_SLOTS.items():
        block = model.get(slot)
        if block is None:
            continue
        reg = registry.get(kind, block["type"])
        records[slot] = {"type": reg.name, "kind": kind, "dist": reg.dist, "version": reg.version}
    return records


def write_bundle(
    directory: str | Path,
    write_weights: Any,
    recipe: dict[str, Any],
    codec: dict[str, Any],
    mapping: dict[str, Any],
    robot: dict[str, Any],
    plugins: dict[str, dict[str, str]],
) -> Path:
    """Write a bundle into ``directory`` atomically (a temp folder renamed into place).

    ``write_weights(folder)`` writes ``model.safetensors`` and ``language/`` into ``folder``;
    ``plugins`` is :func:`plugin_records` of the recipe's model.
    """
    target = Path(directory)
    if target.is_symlink() or target.exists() and not _replaceable(target):
        raise BundleError(f"{target} exists and is not a bundle; not replacing it (choose a new folder)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}"
    tmp.mkdir()  # not mkdtemp: the bundle gets the user's umask, not mode 0700
    try:
        write_weights(tmp)
        (tmp / "recipe.yaml").write_text(yaml.dump(recipe, Dumper=_PlainDumper, sort_keys=False))
        small = {"codec": codec, "mapping": mapping, "robot": robot, "versions": library_versions(), "plugins": plugins}
        for name, data in small.items():
            (tmp / f"{name}.json").write_text(json.dumps(data, indent=2))
        files = {
            p.relative_to(tmp).as_posix(): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()
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


def _replaceable(target: Path) -> bool:
    """An earlier bundle or an empty folder may be replaced by a new export; nothing else."""
    return target.is_dir() and ((target / MANIFEST).is_file() or not any(target.iterdir()))


def _major(version: str) -> str:
    return version.split(".")[0]


def check_versions(saved: dict[str, str]) -> None:
    """Refuse a bundle from another vlakit minor version or another major of a key library."""
    here = library_versions()
    problems = []
    v_saved, v_here = str(saved.get("vlakit", "?")), here["vlakit"]
    if v_saved.split(".")[:2] != v_here.split(".")[:2]:
        problems.append(f"vlakit {v_saved} (installed: {v_here})")
    for lib in KEY_LIBRARIES:
        s, h = saved.get(lib), here[lib]
        if s and s != "not installed" and _major(str(s)) != _major(h):
            problems.append(f"{lib} {s} (installed: {h})")
    if problems:
        raise BundleError("bundle was exported with incompatible versions: " + "; ".join(problems))


def _release(version: str) -> list[str]:
    """The part of a version that must match: the major, or major.minor for 0.x releases."""
    parts = version.split(".")
    return parts[:2] if parts[0] == "0" else parts[:1]


def check_plugins(path: Path, plugins: dict[str, Any], registry: Registry) -> None:
    """Refuse a bundle whose components' plugins are not installed (naming the package to
    install) or whose distribution is installed in another release series (another major
    version; minor for 0.x). A component now shipped by another distribution (a first-party
    plugin installed on its own instead of with vlakit) is accepted; the weight checks still apply."""
    for slot, rec in plugins.items():
        if not (isinstance(rec, dict) and all(isinstance(rec.get(k), str) for k in ("type", "kind", "dist", "version"))):
            raise BundleError(f"{path}: plugins.json: entry {slot!r} needs type, kind, dist and version strings")
        kind, name, dist, version = rec["kind"], rec["type"], rec["dist"], rec["version"]
        if kind not in PLUGIN_SLOTS.values():
            raise BundleError(f"{path}: plugins.json: entry {slot!r} has unknown kind {kind!r}")
        reg = registry.components[kind].get(name)
        if reg is None:
            raise BundleError(
                f"{path} needs the {kind} {name!r} from the distribution {dist} {version}, which is not "
                f"installed or not enabled (see vlakit plugins): pip install '{dist}=={version}' "
                "(or a compatible release)"
            )
        if reg.dist == dist and _release(reg.version) != _release(version):
            raise BundleError(
                f"{path} needs {dist} {version} (for {kind} {name!r}); installed is {reg.version}: "
                f"pip install '{dist}=={version}'"
            )


def _member(root: Path, name: Any) -> Path:
    """The path of manifest entry ``name`` inside ``root``; refuses names that could leave it."""
    if not isinstance(name, str) or not name or "\\" in name or "\0" in name:
        raise BundleError(f"{root}: manifest entry {name!r} is not a relative file name")
    pure = PurePosixPath(name)
    if pure.is_absolute() or any(part in ("", ".", "..") for part in name.split("/")):
        raise BundleError(f"{root}: manifest entry {name!r} points outside the bundle; refused")
    path = root
    for part in pure.parts:
        path = path / part
        if path.is_symlink():
            raise BundleError(f"{root}: {path.relative_to(root).as_posix()} is a symlink; bundles hold plain files only")
    return path


def _unlisted(root: Path, listed: set[str]) -> list[str]:
    """Files or links under ``root`` that the manifest does not list (manifest and signature aside)."""
    extra = []
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        for name in dirs:
            if (base / name).is_symlink():
                extra.append((base / name).relative_to(root).as_posix())
        for name in files:
            rel = (base / name).relative_to(root).as_posix()
            if rel not in listed and rel not in (MANIFEST, SIGNATURE):
                extra.append(rel)
    return sorted(extra)


def _read_manifest(path: Path) -> tuple[bytes, dict[str, Any]]:
    file = path / MANIFEST
    if file.is_symlink():
        raise BundleError(f"{file} is a symlink; bundles hold plain files only")
    try:
        with open(file, "rb") as f:
            raw = f.read(MAX_MANIFEST + 1)
    except FileNotFoundError:
        raise BundleError(f"{path} is not a bundle: {MANIFEST} is missing") from None
    if len(raw) > MAX_MANIFEST:
        raise BundleError(f"{file} is larger than {MAX_MANIFEST} bytes; not a bundle manifest")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{file} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise BundleError(f"{file}: expected an object with format and files")
    if manifest.get("format") != FORMAT:
        raise BundleError(
            f"{path}: bundle format {manifest.get('format')!r} is not supported (expected {FORMAT}); "
            "export it again from its checkpoint: vlakit export CHECKPOINT OUTPUT"
        )
    return raw, manifest


def _json(path: Path, name: str) -> dict[str, Any]:
    try:
        data = json.loads((path / name).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path / name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path / name}: expected a JSON object, found {type(data).__name__}")
    return data


def _recipe(path: Path) -> dict[str, Any]:
    """``recipe.yaml`` parsed without YAML aliases (a bundle's recipe never needs them)."""
    file = path / "recipe.yaml"
    try:
        text = file.read_text(encoding="utf-8")
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise BundleError(f"{file} uses YAML aliases; a bundle's recipe is written without them")
        data = yaml.safe_load(text)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        where = getattr(exc, "problem_mark", None)
        detail = f"{getattr(exc, 'problem', None) or exc}" + (f" (line {where.line + 1})" if where else "")
        raise BundleError(f"{file} is not valid YAML: {detail.splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise BundleError(f"{file}: expected a recipe mapping, found {type(data).__name__}")
    return data


def read_bundle(
    directory: str | Path, trusted_keys: Sequence[str | Path] = (), registry: Registry | None = None
) -> BundleContents:
    """Verify a bundle and parse its small files.

    Checks, in order: the manifest; the signature when ``trusted_keys`` (public key files) are
    given; that every entry stays inside the bundle as a plain file; that no file is unlisted;
    every hash; every safetensors header; the versions; and, with a ``registry``, that each
    component's plugin is installed. Any failure is one :class:`BundleError`.
    """
    given = Path(directory)
    if not given.is_dir():
        raise BundleError(f"bundle not found: {given} (expected a directory with {MANIFEST})")
    path = given.resolve()
    raw, manifest = _read_manifest(path)
    if isinstance(trusted_keys, (str, Path)):
        trusted_keys = [trusted_keys]  # one key file, not a sequence of characters
    signed_by = verify_manifest(path, raw, trusted_keys) if trusted_keys else None
    files: dict[str, Any] = manifest["files"]
    for name, digest in files.items():
        file = _member(path, name)
        if not file.is_file():
            raise BundleError(f"{path}: file {name} listed in the manifest is missing")
        if sha256_file(file) != digest:
            raise BundleError(f"{path}: file {name} does not match its hash in {MANIFEST} (modified or corrupt)")
    extra = _unlisted(path, set(files))
    if extra:
        raise BundleError(f"{path}: {', '.join(extra[:5])} not listed in {MANIFEST} (added after export?); refused")
    for name in REQUIRED:
        if name not in files:
            raise BundleError(f"{path}: the manifest does not list {name}")
    if not any(name.startswith("language/") for name in files):
        raise BundleError(f"{path}: the manifest lists no language model files")
    for name in files:
        if name.endswith(".safetensors"):
            check_safetensors(path / name, where=f"{path}: {name}")
    versions = _json(path, "versions.json")
    check_versions(versions)
    plugins = _json(path, "plugins.json")
    if registry is not None:
        check_plugins(path, plugins, registry)
    return BundleContents(
        path=path,
        manifest=manifest,
        recipe=_recipe(path),
        codec=_json(path, "codec.json"),
        mapping=_json(path, "mapping.json"),
        robot=_json(path, "robot.json"),
        versions=versions,
        plugins=plugins,
        signed_by=signed_by,
    )
