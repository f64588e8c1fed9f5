"""The hf language model plugin: inline and saved models, LoRA, trainable token rows, bundles."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from pydantic import ValidationError
from vlakit_hf.testing import tiny_gpt2_dir, tiny_llama_dir, tiny_qwen2_dir

from vlakit import BundleError, RecipeError, get_registry, sha256_tree
from vlakit.testing import check_language_model

LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}


def build(**params):
    return get_registry().get("language", "hf").build(params)


def trainable(lm) -> list[str]:
    return [n for n, p in lm.named_parameters() if p.requires_grad]


def setup_actions(lm, n: int = 6, lora=LORA) -> list[int]:
    """The composer's order: append action tokens, apply LoRA, mark their rows trainable."""
    old = lm.vocab_size
    lm.resize_token_embeddings(old + n)
    lm.apply_lora(lora)
    ids = list(range(old, old + n))
    lm.trainable_token_rows(ids)
    return ids


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"llama": tiny_llama_dir(root), "gpt2": tiny_gpt2_dir(root), "qwen2": tiny_qwen2_dir(root)}


def test_registered_with_light_import():
    reg = get_registry().get("language", "hf")
    assert reg.dist == "vlakit-hf" and get_registry().get("language", "llava")
    code = "import sys, vlakit_hf; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_default_is_a_tiny_inline_llama():
    lm = build()
    assert type(lm.model).__name__ == "LlamaForCausalLM"
    assert (lm.hidden_size, lm.vocab_size) == (64, len(lm.tokenizer)) == (64, 260)
    assert lm.source == {"config": {**lm.source["config"], "model_type": "llama"}}
    check_language_model(lm)


def test_inline_config_of_the_design_page():
    lm = build(config={"model_type": "llama", "hidden_size": 128, "num_hidden_layers": 2,
                       "intermediate_size": 256, "num_attention_heads": 4})
    assert lm.hidden_size == 128 and lm.vocab_size == 260
    assert lm.tokenizer.decode(lm.tokenizer.encode("héllo, robot!"), skip_special_tokens=True) == "héllo, robot!"


@pytest.mark.parametrize("name", ["gpt2", "qwen2"])
def test_from_saved_directory(saved, name):
    lm = build(path=str(saved[name]))
    assert lm.source == {"path": str(saved[name].resolve())}
    assert lm.tokenizer.pad_token_id is not None
    check_language_model(lm)


def test_bfloat16(saved):
    lm = build(path=str(saved["llama"]), dtype="bfloat16")
    assert lm.model.dtype == torch.bfloat16
    out = lm(lm.embed_tokens(torch.tensor([[1, 70, 71]])))
    assert out.logits.shape == (1, 3, 260)


@pytest.mark.parametrize(
    ("targets", "expected"),
    [(["q_proj", "v_proj"], 2 * 2 * 2), ("all-linear", 2 * 7 * 2)],
)
def test_lora_targets(targets, expected):
    lm = build()
    assert lm.apply_lora({"r": 4, "target_modules": targets})
    names = trainable(lm)
    assert len(names) == expected and all(".lora_" in n for n in names)
    assert not any("lm_head" in n or "embed_tokens" in n for n in names)
    assert lm.apply_lora({"r": 4, "target_modules": targets})  # idempotent
    with pytest.raises(ValueError, match="already applied"):
        lm.apply_lora({"r": 8})


def test_lora_from_config_and_gpt2_conv1d(saved):
    lm = build(path=str(saved["gpt2"]), lora={"r": 4, "target_modules": "all-linear"})
    assert lm.apply_lora()
    names = trainable(lm)
    assert names and all(".lora_" in n for n in names)
    assert any("c_attn" in n for n in names)
    assert not build().apply_lora()  # no LoRA settings: nothing to do


def _train_steps(lm, ids: list[int], steps: int = 3) -> None:
    params = [p for p in lm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.1)
    lm.train()
    x = torch.tensor([[1, 70, 71, 72, *ids[:3]]])
    for _ in range(steps):
        logits = lm(lm.embed_tokens(x)).logits
        loss = torch.nn.functional.cross_entropy(logits[0, :-1], x[0, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    lm.eval()


@pytest.mark.parametrize("name", ["llama", "gpt2"])
def test_trainable_token_rows_update_only_their_rows(saved, name):
    lm = build(path=str(saved[name]))
    ids = setup_actions(lm, lora={"r": 4, "target_modules": "all-linear"})
    names = trainable(lm)
    assert all(".lora_" in n or "vlakit_" in n for n in names)
    assert any("vlakit_token_rows" in n for n in names)
    rows = lm.token_rows
    assert rows is not None and rows.tied == (name == "gpt2")
    emb0, (head0, _) = rows.merged_embedding().clone(), rows.merged_head()
    head0 = head0.clone()
    weight0 = lm.model.get_input_embeddings().weight.detach().clone()
    _train_steps(lm, ids)
    emb1, (head1, _) = rows.merged_embedding(), rows.merged_head()
    others = [i for i in range(lm.vocab_size) if i not in ids]
    assert torch.equal(lm.model.get_input_embeddings().weight, weight0)  # frozen matrix untouched
    assert torch.equal(emb1[others], emb0[others]) and torch.equal(head1[others], head0[others])
    assert not torch.allclose(emb1[ids], emb0[ids]) and not torch.allclose(head1[ids], head0[ids])
    # The hooks really use the rows: embedding output of an action id equals its trained row.
    assert torch.allclose(lm.embed_tokens(torch.tensor([ids])), emb1[ids].unsqueeze(0))
    check_language_model(lm)


def test_token_rows_marked_before_lora_stay_trainable():
    lm = build()
    lm.resize_token_embeddings(264)
    lm.trainable_token_rows([260, 261])
    assert lm.token_rows is None  # the whole matrix trains without LoRA
    lm.apply_lora(LORA)
    lm.trainable_token_rows([262])
    assert lm.token_rows is not None and lm.token_rows.ids == [260, 261, 262]
    assert sum("vlakit_" in n for n in trainable(lm)) == 2  # embedding rows + head rows
    lm.resize_token_embeddings(270)  # a resize after LoRA keeps rows and freezing
    assert lm.vocab_size == 270 and lm.token_rows.ids == [260, 261, 262]
    assert not lm.model.get_input_embeddings().weight.requires_grad


def _logits(lm, x=None):
    lm.eval()
    x = torch.tensor([[1, 70, 71, 72, 261, 262]]) if x is None else x
    with torch.no_grad():
        return lm(lm.embed_tokens(x)).logits


@pytest.mark.parametrize("export", ["adapters", "merged"])
def test_save_and_reload_give_identical_logits(saved, tmp_path, export):
    from vlakit_hf.model import HFLanguageModel

    config = {"path": str(saved["llama"]), "lora": LORA, "export": export}
    lm = build(**config)
    ids = setup_actions(lm)
    _train_steps(lm, ids)
    description = lm.save_weights(str(tmp_path / "lang"))
    assert description["format"] == ("adapters" if export == "adapters" else "full")
    files = set(description["files"])
    assert {"language.json", "tokenizer.json"} <= files
    if export == "adapters":
        assert "adapters.safetensors" in files and "model.safetensors" not in files
        assert description["base"] == {"path": str(saved["llama"].resolve()), "sha256": sha256_tree(saved["llama"])}
        assert description["token_rows"] == ids
    reference = _logits(lm)
    settings = get_registry().get("language", "hf").config.model_validate(config)
    again = HFLanguageModel.from_saved(str(tmp_path / "lang"), settings)
    assert torch.allclose(_logits(again), reference, atol=1e-5)
    fresh = build(**config)  # the generic route: build from the recipe, then load
    fresh.load_weights(str(tmp_path / "lang"))
    assert torch.allclose(_logits(fresh), reference, atol=1e-5)
    if export == "adapters":  # also after the composer's own set-up (resize, LoRA, rows)
        prepared = build(**config)
        setup_actions(prepared)
        prepared.load_weights(str(tmp_path / "lang"))
        assert torch.allclose(_logits(prepared), reference, atol=1e-5)


def test_adapters_refuse_a_different_base_and_take_base_from_the_caller(saved, tmp_path):
    """The base's hash is recorded: a different model at the recorded path is refused; the base
    may be given from another place (``base``), which is checked the same way."""
    import shutil

    from vlakit_hf.model import HFLanguageModel

    base = tmp_path / "base"
    shutil.copytree(saved["llama"], base)
    config = {"path": str(base), "lora": LORA}
    lm = build(**config)
    setup_actions(lm)
    lm.save_weights(str(tmp_path / "lang"))
    reference = _logits(lm)
    settings = get_registry().get("language", "hf").config.model_validate(config)
    moved = tmp_path / "moved"
    base.rename(moved)
    with pytest.raises(BundleError, match="needs its base model.*--base PATH"):
        HFLanguageModel.from_saved(str(tmp_path / "lang"), settings)
    again = HFLanguageModel.from_saved(str(tmp_path / "lang"), settings, base=str(moved))
    assert torch.allclose(_logits(again), reference, atol=1e-5)
    shutil.copytree(saved["gpt2"], base)  # another model where the base was
    with pytest.raises(BundleError, match="not the one these adapters were trained on"):
        HFLanguageModel.from_saved(str(tmp_path / "lang"), settings)


def test_inline_model_is_saved_in_full(tmp_path):
    from vlakit_hf.model import HFLanguageModel

    torch.manual_seed(1)
    lm = build(lora=LORA)
    setup_actions(lm)
    description = lm.save_weights(str(tmp_path))
    assert description["format"] == "full"  # random base: nothing to refer to
    again = HFLanguageModel.from_saved(str(tmp_path), lm.settings)
    assert again.lora is None and again.vocab_size == lm.vocab_size
    assert torch.allclose(_logits(again), _logits(lm), atol=1e-5)


def test_bundle_errors(saved, tmp_path):
    lm = build(path=str(saved["llama"]), lora=LORA)
    setup_actions(lm)
    lm.save_weights(str(tmp_path / "a"))
    other = build(config={"model_type": "llama", "hidden_size": 64, "intermediate_size": 64,
                          "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 300})
    with pytest.raises(BundleError, match="not the same base"):
        other.load_weights(str(tmp_path / "a"))
    with pytest.raises(BundleError, match="language.json"):
        lm.load_weights(str(tmp_path))


def test_config_errors(tmp_path):
    with pytest.raises(ValidationError, match="not both"):
        build(path=str(tmp_path), config={"model_type": "llama"})
    with pytest.raises(ValidationError, match="model_type"):
        build(config={"hidden_size": 64})
    with pytest.raises(ValidationError, match="set path"):
        build(load_in_4bit=True)
    with pytest.raises(ValidationError):
        build(lora={"r": 4, "rank": 8})
    with pytest.raises(RecipeError, match="never downloads"):
        build(path="meta-llama/Llama-2-7b-hf")
    with pytest.raises(RecipeError, match="vocab_size"):
        build(config={"model_type": "llama", "vocab_size": 100})
    with pytest.raises(ValueError, match="no linear layers named"):
        build().apply_lora({"target_modules": ["c_attn"]})


def test_word_tokenizer_from_a_fitted_vocabulary():
    from vlakit_hf.tokenizer import fit_vocabulary

    vocabulary = fit_vocabulary(["pick up the red star", "how many objects are red?", "the the"])
    assert vocabulary[:2] == ["the", "red"]  # most frequent first, then by spelling
    assert set(vocabulary) == {"pick", "up", "the", "red", "star", "how", "many", "objects", "are", "?"}
    lm = build(config={"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2}, tokenizer="words", vocabulary=vocabulary)
    tok = lm.tokenizer
    assert len(tok) == 4 + len(vocabulary)
    ids = tok("how many objects?").input_ids
    assert ids[0] == tok.bos_token_id and len(ids) == 5  # one token per word and one for "?"
    assert tok.decode(ids, skip_special_tokens=True) == "how many objects?"
    assert tok("the purple star").input_ids[2] == tok.unk_token_id  # an unknown word
    assert lm.vocab_size >= len(tok)


def test_tokenizer_settings_errors(tmp_path):
    with pytest.raises(ValidationError, match="inline-config"):
        build(path=str(tmp_path), tokenizer="words")
    with pytest.raises(ValidationError, match="only used with tokenizer: words"):
        build(vocabulary=["red"])
    with pytest.raises(RecipeError, match="needs a vocabulary"):
        build(tokenizer="words")


def test_quantization_needs_bitsandbytes(saved):
    pytest.importorskip("torch")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        with pytest.raises(RecipeError, match="bitsandbytes"):
            build(path=str(saved["llama"]), load_in_8bit=True)
    else:  # pragma: no cover - only where bitsandbytes is installed
        pytest.skip("bitsandbytes is installed")


def test_gradient_checkpointing_with_lora_trains_adapters():
    lm = build(gradient_checkpointing=True)
    setup_actions(lm)
    lm.train()
    logits = lm(lm.embed_tokens(torch.tensor([[1, 70, 71, 261]]))).logits
    logits.logsumexp(-1).mean().backward()
    grads = {n: p.grad for n, p in lm.named_parameters() if p.requires_grad}
    assert getattr(lm.model, "is_activation_checkpointing", None) or lm.model.is_gradient_checkpointing
    # lora_B starts at zero, so only lora_A's gradient is zero on the first step.
    assert all(g is not None and g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n or "vlakit" in n)


def test_language_check_catches_a_model_that_ignores_its_cache():
    from vlakit_hf.model import HFLanguageModel

    class Forgetful(HFLanguageModel):
        def forward(self, inputs_embeds, attention_mask=None, past_key_values=None, use_cache=False, position_ids=None):
            out = super().forward(inputs_embeds, None, None, use_cache, None)
            return out

    lm = build()
    broken = Forgetful(lm.model, lm.tokenizer, lm.settings, lm.source)
    with pytest.raises(AssertionError, match="KV cache"):
        check_language_model(broken)
