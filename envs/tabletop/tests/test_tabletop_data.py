"""The tabletop datasets: demonstrations (generation, cache, chunks) and VQA (content, splits)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from typing import get_args

import numpy as np
import pytest
from pydantic import ValidationError
from vlakit_tabletop.config import QuestionKind, TabletopDemosConfig, TabletopVQAConfig
from vlakit_tabletop.demos import (
    DEMO_SEED_BASE,
    TabletopDemos,
    cache_key,
    demo_task_seed,
    generate,
    save_atomic,
)
from vlakit_tabletop.splits import HELD_OUT_COMBOS, SEEN_TABLES, VQA_ONLY_COLOURS
from vlakit_tabletop.vocab import COLOURS
from vlakit_tabletop.vqa import LOCATE_GRID, QUESTIONS, TabletopVQA, make_qa, region

from vlakit.plugins import get_registry
from vlakit.testing import check_dataset


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> TabletopDemos:
    ds = TabletopDemos(TabletopDemosConfig(episodes=60, seed=3))
    ds.horizon = 4
    ds.prepare(tmp_path_factory.mktemp("cache"))
    return ds


def test_demos_conform(tmp_path):
    check_dataset(TabletopDemos(TabletopDemosConfig(episodes=10)), tmp_path, horizon=3)
    check_dataset(TabletopDemos(TabletopDemosConfig(episodes=10)), tmp_path)  # horizon 1, from cache
    reg = get_registry().get("dataset", "tabletop-demos")
    check_dataset(reg.build(reg.example), tmp_path / "example", horizon=8)


def test_vqa_conforms(tmp_path):
    check_dataset(TabletopVQA(TabletopVQAConfig(samples=50)), tmp_path)


def test_demos_cache_roundtrip(tmp_path):
    config = TabletopDemosConfig(episodes=8, families=["pick"])
    first = TabletopDemos(config)
    first.prepare(tmp_path)
    assert not first.loaded_from_cache and first.cache_path.exists()
    assert first.cache_path.name == f"tabletop-demos-{cache_key(config)}.npz"
    # no temp files left behind; the (empty) lock file that generation held stays, as lock files do
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".{first.cache_path.name}.lock", first.cache_path.name]
    mtime = first.cache_path.stat().st_mtime_ns
    second = TabletopDemos(TabletopDemosConfig(episodes=8, families=["pick"]))
    second.prepare(tmp_path)
    assert second.loaded_from_cache and second.cache_path.stat().st_mtime_ns == mtime
    assert len(second) == len(first)
    for i in (0, len(first) - 1):
        assert np.array_equal(first[i].images["top"], second[i].images["top"])
        assert first[i].text == second[i].text
    assert cache_key(TabletopDemosConfig(episodes=8, families=["pick"], seed=1)) != cache_key(config)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "other arrays"])
def test_a_corrupt_demonstration_cache_is_generated_again(damage, tmp_path, caplog):
    config = TabletopDemosConfig(episodes=3, families=["pick"])
    first = TabletopDemos(config)
    first.prepare(tmp_path)
    good = first.cache_path.read_bytes()
    if damage == "truncated":
        first.cache_path.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        first.cache_path.write_bytes(b"\x00not a zip file" * 100)
    elif damage == "empty":
        first.cache_path.write_bytes(b"")
    else:
        np.savez(first.cache_path, images=np.zeros(3))
    again = TabletopDemos(config)
    with caplog.at_level("WARNING"):
        again.prepare(tmp_path)
    assert not again.loaded_from_cache and f"demonstration cache {first.cache_path}" in caplog.text
    assert first.cache_path.read_bytes() == good and len(again) == len(first)
    with np.load(first.cache_path, allow_pickle=False) as npz:  # no pickled objects inside
        assert npz["instructions"].dtype.kind == "U"


GENERATE_WHEN_TOLD = """
import sys, time
from pathlib import Path
from vlakit_tabletop.config import TabletopDemosConfig
from vlakit_tabletop.demos import TabletopDemos

go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.01)
ds = TabletopDemos(TabletopDemosConfig(episodes=1500, families=["pick"]))
ds.prepare(Path(sys.argv[1]))
print("read" if ds.loaded_from_cache else "generated", len(ds), flush=True)
"""


def test_processes_needing_the_same_missing_cache_generate_it_once(tmp_path):
    """Like the ranks of a DDP run, which prepare their data at the same time: one generates,
    the other waits for its file and reads it (both generated it before, each writing the file)."""
    script, go = tmp_path / "prepare.py", tmp_path / "go"
    script.write_text(GENERATE_WHEN_TOLD)
    processes = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "cache"), str(go)],
                                  stdout=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(3)  # both have imported and wait for the word
    go.touch()
    outputs = sorted(p.communicate(timeout=120)[0].split()[0] for p in processes)
    assert [p.returncode for p in processes] == [0, 0]
    assert outputs == ["generated", "read"]


def test_worker_processes_generate_the_same_demonstrations_as_one_process():
    """Workers roll out blocks of attempts in parallel; the first ``episodes`` successes by attempt
    are kept whatever the number of processes."""
    config = TabletopDemosConfig(episodes=700, families=["pick", "place-on-number"], seed=5)
    alone, parallel = generate(config, progress=False, workers=1), generate(config, progress=False, workers=2)
    assert alone.keys() == parallel.keys()
    for name in alone:
        assert np.array_equal(alone[name], parallel[name], equal_nan=alone[name].dtype.kind == "f"), name
    assert len(alone["seeds"]) == 700


def test_a_worker_that_ends_early_is_an_error_not_a_hang(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")  # each worker exits 1 at once
    with pytest.raises(RuntimeError, match=r"a demonstration worker ended early \(exit code 1\)"):
        generate(TabletopDemosConfig(episodes=50, families=["pick"]), progress=False, workers=2)


def test_a_cache_written_from_parts_reads_as_the_joined_arrays(tmp_path):
    parts = [np.arange(6, dtype=np.float32).reshape(3, 2), np.full((1, 2), 7, dtype=np.float32)]
    save_atomic(tmp_path / "c.npz", {"x": parts, "name": np.asarray("config"), "n": np.arange(4)})
    with np.load(tmp_path / "c.npz", allow_pickle=False) as npz:
        assert np.array_equal(npz["x"], np.concatenate(parts)) and npz["x"].dtype == np.float32
        assert str(npz["name"]) == "config" and np.array_equal(npz["n"], np.arange(4))
    with pytest.raises(ValueError, match="parts of one array differ"):
        save_atomic(tmp_path / "d.npz", {"x": [np.zeros((1, 2)), np.zeros((1, 3))]})
    assert not (tmp_path / "d.npz").exists()


def test_demos_are_deterministic(tmp_path):
    a, b = TabletopDemos(TabletopDemosConfig(episodes=5)), TabletopDemos(TabletopDemosConfig(episodes=5))
    a.prepare(tmp_path / "a")
    b.prepare(tmp_path / "b")
    assert len(a) == len(b)
    assert np.array_equal(a.actions(), b.actions())
    assert np.array_equal(a[len(a) // 2].images["top"], b[len(b) // 2].images["top"])


def test_demo_chunks_pad_with_the_last_action(demos):
    ends = np.cumsum([len(demos.episode(e)) for e in range(demos.num_episodes)])
    last = int(ends[0]) - 1
    sample = demos[last - 1]  # two steps before the end of episode 0: one real step, then padding
    ep = demos.episode(0)
    assert sample.action.shape == (4, 4) and sample.action.dtype == np.float32
    assert np.array_equal(sample.action[0], ep.actions[-2])
    assert np.array_equal(sample.action[1:], np.repeat(ep.actions[-1:], 3, axis=0))
    assert sample.text == ep.instruction
    chunks = demos.actions()
    assert chunks.shape == (len(demos), 4, 4)
    for i in (0, 7, last, len(demos) - 1):
        assert np.array_equal(chunks[i], demos[i].action)


def test_demos_are_seen_split_only(demos):
    assert demos.num_episodes == 60
    cyan = np.array(COLOURS["cyan"], dtype=np.uint8)
    images = np.stack([demos[i].images["top"] for i in range(len(demos))])
    assert not np.all(images == cyan, axis=-1).any(), "a demonstration shows the VQA-only colour"
    for e in range(demos.num_episodes):
        ep = demos.episode(e)
        assert not any(c in ep.instruction for c in VQA_ONLY_COLOURS)
        assert ep.metadata["seed"] >= DEMO_SEED_BASE  # eval seeds below 2**40 never replay a demo
        assert ep.states.shape == (len(ep), 3) and ep.images["top"].shape == (len(ep), 64, 64, 3)
    assert demo_task_seed(0, 5) == DEMO_SEED_BASE + 5


def test_vqa_content_and_split_hygiene():
    kinds, answers = Counter(), Counter()
    cyan_answers = 0
    for i in range(600):
        scene, kind, (question, answer, *_) = make_qa(0, i)
        kinds[kind] += 1
        answers[answer] += 1
        assert 1 <= len(answer.split()) <= 2, (question, answer)
        assert question.endswith("?")
        assert scene.table in SEEN_TABLES
        assert all((o.colour, o.shape) not in HELD_OUT_COMBOS for o in scene.objects)
        cyan_answers += "cyan" in answer or "cyan" in question
    assert set(kinds) == set(QUESTIONS), f"question kinds never drawn: {set(QUESTIONS) - set(kinds)}"
    assert cyan_answers >= 30, "the VQA-only colour must be well represented"
    assert answers["yes"] and answers["no"] and answers["cyan"]


def test_vqa_is_deterministic():
    ds = TabletopVQA(TabletopVQAConfig(samples=10, seed=4))
    a, b = ds[3], TabletopVQA(TabletopVQAConfig(samples=10, seed=4))[3]
    assert (a.text, a.answer) == (b.text, b.answer)
    assert np.array_equal(a.images["top"], b.images["top"])
    other = TabletopVQA(TabletopVQAConfig(samples=10, seed=5))[3]
    assert (other.text, other.answer) != (a.text, a.answer) or not np.array_equal(
        other.images["top"], a.images["top"]
    )
    with pytest.raises(IndexError):
        ds[10]


def test_locate_answers_the_cell_of_the_named_object():
    seen = 0
    for i in range(300):
        scene, kind, (question, answer, *_) = make_qa(1, i, ["locate"])
        assert kind == "locate"
        obj = next(o for o in scene.objects if o.name in question)
        col, row = (int(w) for w in answer.split())
        assert (col, row) == (int(obj.x * LOCATE_GRID), int(obj.y * LOCATE_GRID)), (question, answer)
        seen += 1
    assert seen == 300


def test_vqa_samples_aim_at_the_one_thing_their_question_is_about():
    """Questions about one object (or digit pad) carry its position as the sample's aim: the
    named object, or the object (pad) the answer names; questions about several carry none."""
    ds = TabletopVQA(TabletopVQAConfig(samples=400, seed=2))
    aimed = Counter()
    for i in range(len(ds)):
        scene, kind, qa = make_qa(2, i)
        sample = ds[i]
        if kind in ("count", "relation"):
            assert sample.targets.get("aim") is None, qa
            continue
        if sample.targets.get("aim") is None:
            assert kind in ("exists", "gripper") and qa.answer in ("no", "nothing", "yes"), qa
            continue
        aimed[kind] += 1
        assert sample.targets.get("aim").dtype == np.float32
        things = [(o.x, o.y, o) for o in scene.objects] + [(m.x, m.y, m) for m in scene.markers]
        x, y, thing = min(things, key=lambda t: (t[0] - sample.targets.get("aim")[0]) ** 2 + (t[1] - sample.targets.get("aim")[1]) ** 2)
        assert np.allclose(sample.targets.get("aim"), (x, y)), qa
        q, answer = qa.question, qa.answer
        if kind == "number":
            assert answer == thing.digit or f"number {thing.digit}" in q, qa
        elif kind == "colour":
            assert answer == thing.colour and thing.shape in q, qa
        elif kind == "shape":
            assert answer == thing.shape and thing.colour in q, qa
        elif kind in ("extreme", "closest", "gripper"):
            assert answer == thing.name, qa  # the thing the answer names
        elif kind == "size":
            assert answer == thing.name or (thing.name in q and answer == thing.size), qa
        else:  # where, locate, from-gripper, exists: the thing the question names
            assert thing.name in q, qa
    assert {"closest", "where", "locate", "from-gripper", "colour", "shape", "number"} <= set(aimed), aimed


def test_vqa_questions_option_limits_the_kinds(tmp_path):
    ds = TabletopVQA(TabletopVQAConfig(samples=50, questions=["from-gripper", "where"]))
    texts = list(ds.texts())
    assert all("gripper" in q or "where" in q or "part of the table" in q for q in texts[::2])
    assert {ds[i].text for i in range(50)} <= set(texts[::2])
    with pytest.raises(ValidationError, match="questions"):
        TabletopVQAConfig(questions=["teleport"])
    with pytest.raises(ValueError, match="unknown tabletop-vqa question kinds"):
        make_qa(0, 0, ["teleport"])


def test_question_kinds_of_the_config_are_the_generators():
    assert set(get_args(QuestionKind)) == set(QUESTIONS)


def test_region_names():
    assert region(0.1, 0.1) == "top left"
    assert region(0.5, 0.5) == "centre"
    assert region(0.9, 0.5) == "right"
    assert region(0.34, 0.5) is None  # too close to a border to answer


def test_demo_samples_carry_the_experts_aim(demos):
    """Every frame has an aim on the table; it starts each episode at an object and moves on to a
    drop point in the place families."""
    aims = np.stack([demos[i].targets.get("aim") for i in range(len(demos))])
    assert aims.dtype == np.float32 and aims.shape == (len(demos), 2)
    assert np.all((aims >= 0.0) & (aims <= 1.0))
    start = 0
    for e in range(demos.num_episodes):
        episode = demos.episode(e)
        frames = aims[start : start + len(episode)]
        start += len(episode)
        if episode.task.startswith("place"):
            assert not np.allclose(frames[0], frames[-1]), f"demo {e} ({episode.task}) never aims at a goal"


def test_demo_samples_carry_the_anchor_of_relational_tasks(demos):
    """Every frame of a "closest to the X" demonstration carries the X's position as its anchor;
    place demonstrations carry one on the frames that hold something (the reference), pick and
    pick-size demonstrations none."""
    start, counted = 0, Counter()
    for e in range(demos.num_episodes):
        episode = demos.episode(e)
        samples = [demos[i] for i in range(start, start + len(episode))]
        start += len(episode)
        anchored = [s.targets.get("anchor") is not None for s in samples]
        for s in samples:
            if s.targets.get("anchor") is not None:
                assert s.targets.get("anchor").dtype == np.float32 and np.all((s.targets.get("anchor") >= 0.0) & (s.targets.get("anchor") <= 1.0))
        if episode.task == "pick-closest":
            assert all(anchored)
            assert not np.allclose(samples[0].targets.get("anchor"), samples[0].targets.get("aim"))  # the reference is not the target
        elif episode.task in ("pick", "pick-size"):
            assert not any(anchored)
        else:
            assert not anchored[0] and any(anchored)  # none before the first grasp, then the reference
            assert all(s.state[2] == 1.0 for s, a in zip(samples, anchored) if a)
        counted[episode.task] += 1
    assert counted["pick-closest"] > 0 and counted["place-next-to"] > 0


def test_vqa_closest_questions_carry_the_named_object_as_anchor():
    ds = TabletopVQA(TabletopVQAConfig(samples=60, seed=3, questions=["closest", "where"]))
    kinds = Counter()
    for i in range(len(ds)):
        scene, kind, qa = make_qa(3, i, ["closest", "where"])
        sample = ds[i]
        kinds[kind] += 1
        if kind != "closest":
            assert sample.targets.get("anchor") is None
            continue
        named = next(o for o in scene.objects if f"closest to the {o.name}?" in qa.question)
        assert sample.targets.get("anchor").dtype == np.float32 and np.allclose(sample.targets.get("anchor"), named.position)
    assert kinds["closest"] > 0 and kinds["where"] > 0


def test_demos_show_recoveries(demos):
    """With mistakes on, some steps see a closed gripper whose clean label opens it mid-episode."""
    data = np.stack([demos[i].state for i in range(len(demos))])
    labels = demos.actions()[:, 0]
    reopen = (data[:, 2] == 1.0) & (labels[:, 2] == 0.0) & (labels[:, 3] == 0.0)
    assert reopen.any()
    clean = TabletopDemos(TabletopDemosConfig(episodes=60, seed=3, mistakes=0.0))
    assert cache_key(clean.config) != cache_key(demos.config)
