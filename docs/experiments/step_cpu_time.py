"""CPU time of one training step of a recipe: forward, backward, clip, AdamW, schedule.

One process, one thread, the recipe's batch size, on a few hundred of its demonstrations; prints
the median CPU milliseconds of ``--steps`` steps after ``--warmup``, and with ``--profile`` the
operators that took the most time (``torch.profiler``) over ten more.

    python docs/experiments/step_cpu_time.py recipes/tabletop-tiny.yaml [--profile] [OVERRIDE ...]

Compare two trees by running it under each (``PYTHONPATH=TREE``), one after the other, on a
quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vlakit.data.mixture import WeightedMixture
from vlakit.recipes import load_recipe
from vlakit.train.datamodule import MixtureDataModule
from vlakit.train.run import prepare_training

SMALL_DATA = ["data.train.0.episodes=200", "data.train.1.episodes=100"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--shapes", action="store_true", help="with --profile: one row per operator and input shapes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    recipe = load_recipe(args.recipe, SMALL_DATA + args.overrides)
    torch.manual_seed(recipe.trainer.seed)
    module, sources = prepare_training(recipe)
    module.configure_model()
    size = recipe.trainer.batch_size
    data = MixtureDataModule(sources, size, 0, recipe.data.seed)
    data.attach(module.vla)
    collate = data.collator()
    stream = iter(WeightedMixture(sources.datasets, sources.weights, recipe.data.seed))
    batches = [collate([next(stream) for _ in range(size)]) for _ in range(args.warmup + args.steps + 10)]
    configured = module.configure_optimizers()
    optimizer, scheduler = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    params = [p for p in module.parameters() if p.requires_grad]
    module.train()

    def step(batch: dict) -> None:
        loss = module.vla(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.trainer.gradient_clip:
            torch.nn.utils.clip_grad_norm_(params, recipe.trainer.gradient_clip)
        optimizer.step()
        scheduler.step()

    for batch in batches[: args.warmup]:
        step(batch)
    times = []
    for batch in batches[args.warmup : args.warmup + args.steps]:
        start = time.process_time()
        step(batch)
        times.append(time.process_time() - start)
    print(f"median CPU time per step: {1000 * statistics.median(times):.1f} ms (batch {size}, one thread)")
    if args.profile:
        from torch.profiler import profile

        with profile(record_shapes=args.shapes) as prof:
            for batch in batches[-10:]:
                step(batch)
        averages = prof.key_averages(group_by_input_shape=args.shapes)
        print(averages.table(sort_by="self_cpu_time_total", row_limit=40 if args.shapes else 25))


if __name__ == "__main__":
    main()
