"""What a composition costs before you train it: parameters, training speed, policy latency.

``bench_recipe`` builds the recipe's VLA (random weights, the codec fitted on the recipe's data)
and measures, in one run on this machine:

* parameter counts (total, trainable);
* training samples/s through vlakit (Lightning) and through a hand-written PyTorch loop over the
  same model, batches and optimizer, interleaved (plain, vlakit, plain, vlakit) and compared as
  a ratio (target >= 0.95);
* ``Policy.act`` latency p50/p99 against the bare model work it must do (vision forward, prefill,
  ``K`` KV-cached decode steps with a plain argmax), target <= 1.10, and against transformers'
  ``generate`` without constraints (OpenVLA's way);
* peak resident memory.
"""

from __future__ import annotations

import copy
import resource
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from vlakit.data.mixture import WeightedMixture
from vlakit.model import VLA
from vlakit.policy.policy import Policy
from vlakit.recipes import load_recipe
from vlakit.train.datamodule import MixtureDataModule
from vlakit.train.module import VLATrainingModule
from vlakit.train.run import prepare_training
from vlakit.types import ActionSpace, Observation


class _StepTimer(L.Callback):
    """Wall time of each training step (batch start to batch end)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._t = 0.0

    def on_train_batch_start(self, *args: Any) -> None:
        self._t = time.perf_counter()

    def on_train_batch_end(self, *args: Any) -> None:
        self.times.append(time.perf_counter() - self._t)


class _ListData(L.LightningDataModule):
    def __init__(self, batches: list[dict[str, Any]]) -> None:
        super().__init__()
        self.batches = batches

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.batches, batch_size=None, shuffle=False)


def _optimizer_of(module: VLATrainingModule) -> tuple[torch.optim.Optimizer, Any]:
    conf = module.configure_optimizers()
    return conf["optimizer"], conf["lr_scheduler"]["scheduler"]


def plain_loop_step_times(module: VLATrainingModule, batches: list[dict[str, Any]], clip: float | None) -> list[float]:
    """The hand-written loop: forward, backward, clip, AdamW step, schedule step."""
    optimizer, scheduler = _optimizer_of(module)
    module.train()
    times = []
    for batch in batches:
        t = time.perf_counter()
        loss = module.vla(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_([p for p in module.parameters() if p.requires_grad], clip)
        optimizer.step()
        scheduler.step()
        times.append(time.perf_counter() - t)
    return times


def lightning_step_times(module: VLATrainingModule, batches: list[dict[str, Any]], clip: float | None) -> list[float]:
    """The same steps through vlakit's Lightning module and a Trainer (no logging to disk)."""
    timer = _StepTimer()
    trainer = L.Trainer(
        max_steps=len(batches),
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=clip,
        callbacks=[timer],
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=_ListData(batches))
    return timer.times


def _percentile_ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q))


def _prefix(vla: VLA, images: dict[str, torch.Tensor], state: torch.Tensor | None, prompt: torch.Tensor) -> None:
    """Build the prefix of ``prompt`` ids ``[1, T]`` the way the policy does (the work it costs)."""
    mask = torch.ones_like(prompt)
    vla.prefix(images, state, prompt, mask, mask)


@torch.inference_mode()
def bare_model_work(
    vla: VLA,
    embeds: torch.Tensor,
    mask: torch.Tensor,
    images: dict[str, torch.Tensor],
    state: torch.Tensor | None,
    prompt: torch.Tensor,
) -> None:
    """The prefix (conditioning, vision forward, state token, prompt embeddings), prefill and
    ``K`` cached decode steps with a plain argmax (no constraint). ``prompt``: the prompt's token
    ids ``[1, T]``."""
    _prefix(vla, images, state, prompt)
    out = vla.language(embeds, attention_mask=mask, use_cache=True)
    past = out.past_key_values
    ids = out.logits[:, -1].argmax(-1, keepdim=True)
    for _ in range(vla.codec.max_length - 1):
        mask = torch.cat([mask, torch.ones_like(ids)], dim=1)
        out = vla.language(vla.language.embed_tokens(ids), attention_mask=mask, past_key_values=past, use_cache=True)
        past = out.past_key_values
        ids = out.logits[:, -1].argmax(-1, keepdim=True)


@torch.inference_mode()
def hf_generate(
    vla: VLA,
    embeds: torch.Tensor,
    mask: torch.Tensor,
    images: dict[str, torch.Tensor],
    state: torch.Tensor | None,
    prompt: torch.Tensor,
) -> None:
    """transformers ``generate`` (greedy, no constraint) from the same prefix, OpenVLA's way."""
    _prefix(vla, images, state, prompt)
    model = getattr(vla.language, "model", None)
    model.generate(
        inputs_embeds=embeds,
        attention_mask=mask,
        max_new_tokens=vla.codec.max_length,
        min_new_tokens=vla.codec.max_length,
        do_sample=False,
        pad_token_id=vla.prompts.pad,
    )


def _time_calls(fn: Any, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def bench_recipe(
    recipe_path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    steps: int = 20,
    warmup: int = 3,
    act_calls: int = 50,
    threads: int | None = None,
) -> dict[str, Any]:
    """Measure the recipe's composition on this machine; see the module docstring."""
    if threads:
        torch.set_num_threads(threads)
    recipe = load_recipe(recipe_path, overrides)
    torch.manual_seed(recipe.trainer.seed)
    module, sources = prepare_training(recipe)
    module.configure_model()
    vla = module.vla
    total = sum(p.numel() for p in vla.parameters())
    trainable = sum(p.numel() for p in vla.parameters() if p.requires_grad)

    data = MixtureDataModule(sources, recipe.trainer.batch_size, 0, recipe.data.seed)
    data.attach(vla)
    collate = data.collator()
    stream = iter(WeightedMixture(sources.datasets, sources.weights, recipe.data.seed))
    n = warmup + steps
    batches = [collate([next(stream) for _ in range(recipe.trainer.batch_size)]) for _ in range(n)]
    initial = copy.deepcopy(module.state_dict())
    clip = recipe.trainer.gradient_clip
    plain: list[float] = []
    framework: list[float] = []
    for _ in range(2):
        module.load_state_dict(initial)
        plain += plain_loop_step_times(module, batches, clip)[warmup:]
        module.load_state_dict(initial)
        framework += lightning_step_times(module, batches, clip)[warmup:]
    bs = recipe.trainer.batch_size
    plain_sps = bs / float(np.median(plain))
    vlakit_sps = bs / float(np.median(framework))

    space = ActionSpace.from_dict(module.hparams.action_space)
    policy = Policy(vla, space, recipe)
    sample = sources.datasets[0][0]
    obs = Observation(images=sample.images, state=sample.state)
    instruction = sample.text
    embeds, mask = policy.prefix([obs], [instruction])
    images = {cam: torch.from_numpy(np.asarray(obs.images[cam]))[None] for cam in vla.cameras}
    state = None if obs.state is None else torch.from_numpy(np.asarray(obs.state, dtype=np.float32))[None]
    prompt = torch.tensor([vla.prompts.prompt_ids(instruction, robot=True)])
    for _ in range(3):
        policy.act(obs, instruction)
        bare_model_work(vla, embeds, mask, images, state, prompt)
    act_t, bare_t, gen_t = [], [], []
    for _ in range(act_calls):  # interleaved so machine noise hits all three alike
        act_t += _time_calls(lambda: policy.act(obs, instruction), 1)
        bare_t += _time_calls(lambda: bare_model_work(vla, embeds, mask, images, state, prompt), 1)
        if getattr(vla.language, "model", None) is not None:
            gen_t += _time_calls(lambda: hf_generate(vla, embeds, mask, images, state, prompt), 1)
    result = {
        "recipe": recipe.name,
        "params_total": total,
        "params_trainable": trainable,
        "batch_size": bs,
        "train_samples_per_s_vlakit": vlakit_sps,
        "train_samples_per_s_plain": plain_sps,
        "train_ratio": vlakit_sps / plain_sps,
        "act_p50_ms": _percentile_ms(act_t, 50),
        "act_p99_ms": _percentile_ms(act_t, 99),
        "bare_p50_ms": _percentile_ms(bare_t, 50),
        "act_over_bare": float(np.median(act_t) / np.median(bare_t)),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "threads": torch.get_num_threads(),
    }
    if gen_t:
        result["generate_p50_ms"] = _percentile_ms(gen_t, 50)
        result["act_over_generate"] = float(np.median(act_t) / np.median(gen_t))
    return result


def format_result(r: dict[str, Any]) -> str:
    """A short human-readable report of :func:`bench_recipe`'s result."""
    lines = [
        f"recipe {r['recipe']}  (torch threads: {r['threads']})",
        f"  parameters        {r['params_total']:,} total, {r['params_trainable']:,} trainable",
        f"  training          {r['train_samples_per_s_vlakit']:.1f} samples/s through vlakit, "
        f"{r['train_samples_per_s_plain']:.1f} in a plain PyTorch loop: ratio {r['train_ratio']:.3f} (target >= 0.95)",
        f"  policy.act        p50 {r['act_p50_ms']:.1f} ms, p99 {r['act_p99_ms']:.1f} ms",
        f"  bare model work   p50 {r['bare_p50_ms']:.1f} ms: act / bare = {r['act_over_bare']:.3f} (target <= 1.10)",
    ]
    if "generate_p50_ms" in r:
        lines.append(
            f"  HF generate       p50 {r['generate_p50_ms']:.1f} ms (unconstrained): act / generate = {r['act_over_generate']:.3f}"
        )
    lines.append(f"  peak memory       {r['peak_rss_mb']:.0f} MB resident")
    return "\n".join(lines)
