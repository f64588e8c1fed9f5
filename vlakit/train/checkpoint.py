"""Reading training checkpoints without unpickling arbitrary objects.

A Lightning checkpoint is a torch pickle. vlakit keeps everything in it plain (the module's
hyper-parameters are dicts, lists, strings and numbers; the rest is tensors and Lightning's own
plain state), so it is always read with ``torch.load(weights_only=True)``: a file that names any
other object (an ``os.system`` hidden in a ``__reduce__``) is refused before anything in it runs.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from vlakit.errors import CheckpointError

#: hyper-parameter -> the plain type it must have (what ``VLATrainingModule`` saves)
HPARAM_TYPES: dict[str, type] = {
    "recipe": dict,
    "codec_state": dict,
    "cameras": list,
    "state_dim": int,
    "action_space": dict,
    "action_stats": dict,
}

_UNSUPPORTED = re.compile(r"Unsupported global: GLOBAL ([\w.]+)|unsupported (?:global|class):? ([\w.]+)", re.I)


def read_checkpoint(path: str | Path, map_location: Any = "cpu", mmap: bool = False) -> dict[str, Any]:
    """The checkpoint at ``path`` as plain containers and tensors; refuses anything else.

    ``mmap``: map the tensors instead of reading them (cheap when only the hyper-parameters are
    needed).

    Raises :class:`CheckpointError` (one line: what and where) for a missing, unreadable or
    hostile file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(str(path), map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        found = _UNSUPPORTED.search(str(exc))
        if found is None:
            raise CheckpointError(f"cannot read checkpoint {path}: corrupt or not a torch checkpoint") from None
        raise CheckpointError(
            f"refused checkpoint {path}: it holds objects other than tensors and plain data "
            f"({next(g for g in found.groups() if g)}); nothing in it was run. vlakit reads only "
            "checkpoints it wrote itself"
        ) from None
    except Exception as exc:  # noqa: BLE001  (torch raises many types for a corrupt file)
        raise CheckpointError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"cannot read checkpoint {path}: not a Lightning checkpoint (a {type(ckpt).__name__})")
    return ckpt


def checkpoint_hparams(ckpt: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """The ``VLATrainingModule`` hyper-parameters of a checkpoint read by :func:`read_checkpoint`."""
    hparams = ckpt.get("hyper_parameters")
    if not isinstance(hparams, dict):
        raise CheckpointError(f"{path} is not a vlakit training checkpoint: it has no hyper_parameters")
    for name, kind in HPARAM_TYPES.items():
        if not isinstance(hparams.get(name), kind):
            raise CheckpointError(
                f"{path} is not a vlakit training checkpoint: hyper-parameter {name!r} should be a "
                f"{kind.__name__}, found {type(hparams.get(name)).__name__}"
            )
    if not isinstance(ckpt.get("state_dict"), dict):
        raise CheckpointError(f"{path} is not a vlakit training checkpoint: it has no state_dict")
    return {name: hparams[name] for name in HPARAM_TYPES}
