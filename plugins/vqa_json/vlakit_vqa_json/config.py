"""Recipe parameters of the ``vqa-json`` dataset."""

from __future__ import annotations

from pydantic import Field

from vlakit import ComponentConfig


class VQAJsonConfig(ComponentConfig):
    """A LLaVA-style conversation file (.json list or .jsonl) and the folder of its images."""

    path: str = Field(description="the conversation file: a JSON list of records, or JSON lines")
    image_folder: str | None = Field(
        None, description="folder the records' image paths are relative to (default: the file's folder)"
    )
    camera: str = Field(
        "image",
        description="camera name the image is given as; co-training with robot data: the robot's camera name",
    )
    image_size: int | None = Field(
        None, ge=8, le=4096, description="resize every image to this square side, pixels (default: as stored)"
    )
    skip_without_image: bool = Field(
        True, description="skip records without an image (text-only); false: they are an error"
    )
