"""The vqa-json dataset reads LLaVA-style conversation files with local images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from vlakit_vqa_json.config import VQAJsonConfig
from vlakit_vqa_json.dataset import VQAJsonDataset, VQAJsonError

from vlakit.testing import check_dataset

RECORDS = [
    {
        "id": "a",
        "image": "imgs/red.png",
        "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is the square?"},
            {"from": "gpt", "value": "Red."},
            {"from": "human", "value": "Is it large?"},
            {"from": "gpt", "value": "yes"},
        ],
    },
    {"id": "text-only", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
    {
        "id": "b",
        "image": "imgs/blue.png",
        "conversations": [
            {"from": "human", "value": "How many objects?\n<image>"},
            {"from": "gpt", "value": "two"},
        ],
    },
]


def make_files(root: Path, records=RECORDS, suffix: str = ".json") -> Path:
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), (200, 10, 10)).save(root / "imgs/red.png")
    Image.new("RGB", (20, 20), (10, 10, 200)).save(root / "imgs/blue.png")
    path = root / f"convs{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        path.write_text(json.dumps(records))
    return path


def build(path: Path, tmp_path: Path, **params) -> VQAJsonDataset:
    ds = VQAJsonDataset(VQAJsonConfig(path=str(path), **params))
    ds.prepare(tmp_path / "cache")
    return ds


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_each_answered_turn_is_a_sample(tmp_path, suffix):
    ds = build(make_files(tmp_path, suffix=suffix), tmp_path, camera="top")
    assert len(ds) == 3  # two turns of "a", one of "b"; the text-only record is skipped
    got = [(ds[i].text, ds[i].answer) for i in range(3)]
    assert got == [("What colour is the square?", "Red."), ("Is it large?", "yes"), ("How many objects?", "two")]
    first = ds[0]
    assert list(first.images) == ["top"] and first.images["top"].shape == (30, 40, 3)
    assert tuple(first.images["top"][0, 0]) == (200, 10, 10)
    assert first.action is None
    assert set(ds.texts()) == {"What colour is the square?", "Red.", "Is it large?", "yes", "How many objects?", "two"}


def test_images_are_resized_and_relative_to_the_image_folder(tmp_path):
    path = make_files(tmp_path / "data")
    (tmp_path / "data/imgs").rename(tmp_path / "imgs")  # the images live beside the data folder
    ds = build(path, tmp_path, image_folder=str(tmp_path), image_size=16)
    assert ds[2].images["image"].shape == (16, 16, 3)
    assert np.all(ds[2].images["image"][..., 2] > 150)


def test_missing_image_or_bad_file_is_a_clear_error(tmp_path):
    path = make_files(tmp_path)
    (tmp_path / "imgs/blue.png").unlink()
    with pytest.raises(VQAJsonError, match="record 2 \\(id b\\).*blue.png does not exist"):
        build(path, tmp_path)
    path.write_text("{not json")
    with pytest.raises(VQAJsonError, match="not valid JSON"):
        build(path, tmp_path)
    with pytest.raises(VQAJsonError, match="does not exist"):
        build(tmp_path / "nope.json", tmp_path)
    path.write_text(json.dumps([{"id": "x", "image": "imgs/red.png"}]))
    with pytest.raises(VQAJsonError, match="no 'conversations' list"):
        build(path, tmp_path)


def test_text_only_records_can_be_refused(tmp_path):
    with pytest.raises(VQAJsonError, match="text-only.*has no image"):
        build(make_files(tmp_path), tmp_path, skip_without_image=False)


def test_conformance(tmp_path):
    check_dataset(VQAJsonDataset(VQAJsonConfig(path=str(make_files(tmp_path)))), tmp_path / "cache")
