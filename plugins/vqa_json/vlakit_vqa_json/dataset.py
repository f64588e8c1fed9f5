"""The ``vqa-json`` dataset: LLaVA-style conversations with local images.

A record (LLaVA's instruction-tuning format)::

    {"id": "0001", "image": "coco/000001.jpg",
     "conversations": [{"from": "human", "value": "<image>\\nWhat is on the table?"},
                       {"from": "gpt", "value": "A red cube."},
                       {"from": "human", "value": "What colour is it?"},
                       {"from": "gpt", "value": "Red."}]}

Each human turn followed by an assistant turn (``gpt`` or ``assistant``) is one sample: the
question (with LLaVA's ``<image>`` placeholder removed) and the answer, with the record's image.
The file is read at :meth:`prepare`; images are read per sample.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from vlakit_vqa_json.config import VQAJsonConfig

from vlakit import Dataset, Sample, VlakitError

HUMAN = ("human", "user")
ASSISTANT = ("gpt", "assistant")
IMAGE_TOKEN = "<image>"


class VQAJsonError(VlakitError):
    """A conversation file that cannot be read."""


def clean_question(text: str) -> str:
    """The question without LLaVA's ``<image>`` placeholder and surrounding blank space."""
    return " ".join(text.replace(IMAGE_TOKEN, " ").split())


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a ``.json`` list or a JSON-lines file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VQAJsonError(f"vqa-json: {path} does not exist") from None
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VQAJsonError(f"vqa-json: {path} is not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise VQAJsonError(f"vqa-json: {path} must hold a list of records, found {type(data).__name__}")
    return data


def qa_pairs(record: dict[str, Any], where: str) -> list[tuple[str, str]]:
    """(question, answer) of each human turn answered by the assistant in ``record``."""
    turns = record.get("conversations")
    if not isinstance(turns, list):
        raise VQAJsonError(f"vqa-json: {where} has no 'conversations' list")
    pairs = []
    for asked, answered in zip(turns, turns[1:]):
        if asked.get("from") in HUMAN and answered.get("from") in ASSISTANT:
            question, answer = clean_question(str(asked.get("value", ""))), str(answered.get("value", "")).strip()
            if question and answer:
                pairs.append((question, answer))
    return pairs


class VQAJsonDataset(Dataset):
    """Question/answer samples from a LLaVA-style conversation file (no actions)."""

    def __init__(self, config: VQAJsonConfig) -> None:
        self.config = config
        self.path = Path(config.path).expanduser()
        self.folder = Path(config.image_folder).expanduser() if config.image_folder else self.path.parent
        self._images: list[str] = []
        self._items: list[tuple[int, str, str]] = []  # (image index, question, answer)

    def prepare(self, cache_dir: Path) -> None:
        """Read the conversation file; every sample's image must exist."""
        images: dict[str, int] = {}
        items = []
        for n, record in enumerate(read_records(self.path)):
            where = f"{self.path} record {n} (id {record.get('id', '?')})"
            image = record.get("image")
            if not image:
                if self.config.skip_without_image:
                    continue
                raise VQAJsonError(f"vqa-json: {where} has no image")
            if not (self.folder / image).is_file():
                raise VQAJsonError(f"vqa-json: {where}: image {self.folder / image} does not exist")
            k = images.setdefault(str(image), len(images))
            items.extend((k, q, a) for q, a in qa_pairs(record, where))
        if not items:
            raise VQAJsonError(f"vqa-json: {self.path} holds no question answered by the assistant")
        self._images = list(images)
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def _image(self, k: int) -> np.ndarray:
        with Image.open(self.folder / self._images[k]) as im:
            im = im.convert("RGB")
            size = self.config.image_size
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            return np.asarray(im)

    def __getitem__(self, index: int) -> Sample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"vqa-json index {index} out of range for {n} samples")
        k, question, answer = self._items[int(index) % n]
        return Sample(images={self.config.camera: self._image(k)}, text=question, answer=answer)

    def texts(self) -> Iterator[str]:
        """Every question and answer, without reading the images."""
        for _, question, answer in self._items:
            yield question
            yield answer
