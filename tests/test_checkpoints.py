"""Checkpoints are read without unpickling arbitrary objects: a hostile file is refused before it runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hostile import ShellPayload
from test_training import TINY_LLAMA, make_recipe

from vlakit.cli.main import main
from vlakit.errors import CheckpointError
from vlakit.train.checkpoint import checkpoint_hparams, read_checkpoint


def hostile_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    """A Lightning-shaped checkpoint whose hyper-parameters hold a ``__reduce__`` payload."""
    marker = tmp_path / "PWNED"
    path = tmp_path / "hostile.ckpt"
    torch.save(
        {
            "epoch": 0,
            "global_step": 1,
            "state_dict": {"vla.w": torch.zeros(2)},
            "hyper_parameters": {"recipe": {}, "codec_state": ShellPayload(marker)},
        },
        path,
    )
    assert not marker.exists()
    return path, marker


def test_hostile_checkpoint_is_refused_by_export(tmp_path, capsys):
    ckpt, marker = hostile_checkpoint(tmp_path)
    assert main(["export", str(ckpt), str(tmp_path / "bundle")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused checkpoint" in err and "posix.system" in err
    assert not marker.exists()
    assert not (tmp_path / "bundle").exists()


def test_hostile_checkpoint_is_refused_by_resume(tmp_path, capsys):
    ckpt, marker = hostile_checkpoint(tmp_path)
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 1})
    run_dir = tmp_path / "run"
    assert main(["train", str(recipe), "--resume", str(ckpt), "--run-dir", str(run_dir), "--no-eval"]) == 2
    err = capsys.readouterr().err
    assert "refused checkpoint" in err and "Traceback" not in err
    assert not marker.exists()
    assert not run_dir.exists()  # refused before anything was written


def test_corrupt_and_foreign_checkpoints_give_one_message(tmp_path, capsys):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"\x80\x04not a checkpoint at all" * 10)
    assert main(["export", str(garbage), str(tmp_path / "out")]) == 2
    assert "cannot read checkpoint" in capsys.readouterr().err
    plain = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"recipe": "not a dict"}}, plain)
    with pytest.raises(CheckpointError, match="hyper-parameter 'recipe' should be a dict"):
        checkpoint_hparams(read_checkpoint(plain), plain)
    assert main(["export", str(tmp_path / "missing.ckpt"), str(tmp_path / "out")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_export_never_replaces_a_folder_that_is_not_a_bundle(tmp_path, capsys):
    from vlakit.train.run import train

    result = train(make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 1}), progress=False)
    ckpt = result.run_dir / "checkpoints" / "last.ckpt"
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    assert main(["export", str(ckpt), str(precious)]) == 2
    assert "is not a bundle; not replacing it" in capsys.readouterr().err
    assert (precious / "notes.txt").read_text() == "keep me"
    assert main(["export", str(ckpt), str(result.bundle)]) == 0  # an earlier bundle is replaced
