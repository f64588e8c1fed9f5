"""Sources whose images would not stack in one batch (another size, another camera name) are
found before training, with a message that names both sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_training import TINY_LLAMA, make_recipe

from vlakit import Dataset, Sample
from vlakit.cli.main import main
from vlakit.errors import RecipeError
from vlakit.testing import check_dataset
from vlakit.train.sources import check_images_agree

pytest.importorskip("vlakit_tabletop")


class Questions(Dataset):
    """A vision-language source of ``n`` samples; image ``i`` is ``sizes[i % len(sizes)]`` pixels."""

    def __init__(self, camera: str = "top", sizes: tuple[int, ...] = (32,), n: int = 4) -> None:
        self.camera, self.sizes, self.n = camera, sizes, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < self.n:
            raise IndexError(index)
        side = self.sizes[index % len(self.sizes)]
        image = np.full((side, side, 3), 40, np.uint8)
        return Sample(images={self.camera: image}, text="what colour is it?", answer="grey")

    def texts(self):
        yield from ("what colour is it?", "grey")


def test_a_vision_language_source_of_another_image_size_is_refused_before_training(tmp_path: Path, capsys) -> None:
    vqa = {"type": "tabletop-vqa", "samples": 8, "image_size": 48}
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 1})
    text = recipe.read_text().replace("train:\n", f"train:\n  - {vqa}\n".replace("'", ""), 1)
    recipe.write_text(text)
    assert main(["train", str(recipe), "--no-eval", "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "data.train.0 (tabletop-vqa) gives images 'top' 48x48x3 (sample 0)" in err
    assert "data.train.1 (tabletop-demos) gives 'top' 32x32x3" in err and "Traceback" not in err


def test_a_source_with_another_camera_name_is_refused(tmp_path: Path) -> None:
    from vlakit_tabletop.config import TabletopDemosConfig
    from vlakit_tabletop.demos import TabletopDemos

    demos = TabletopDemos(TabletopDemosConfig(episodes=1, image_size=32))
    demos.prepare(tmp_path)
    check_images_agree([demos, Questions("top")], ["tabletop-demos", "questions"])
    with pytest.raises(RecipeError, match=r"data.train.1 \(questions\) gives images 'image' 32x32x3 \(sample 0\) but "
                       r"data.train.0 \(tabletop-demos\) gives 'top' 32x32x3"):
        check_images_agree([demos, Questions("image")], ["tabletop-demos", "questions"])


def test_a_source_whose_own_images_differ_in_size_is_refused(tmp_path: Path) -> None:
    from vlakit_tabletop.config import TabletopDemosConfig
    from vlakit_tabletop.demos import TabletopDemos

    demos = TabletopDemos(TabletopDemosConfig(episodes=1, image_size=32))
    demos.prepare(tmp_path)
    check_dataset(Questions(sizes=(32, 48), n=3), tmp_path)  # a dataset alone may vary; a batch may not
    with pytest.raises(RecipeError, match=r"data.train.1 \(questions\) gives images 'top' 48x48x3 \(sample 1\)"):
        check_images_agree([demos, Questions(sizes=(32, 48), n=3)], ["tabletop-demos", "questions"])
