"""The convnet's conditioner, its instruction encoder: padding-blind, order-aware, trainable."""

from __future__ import annotations

import torch
from vlakit_convnet.condition import InstructionEncoder

from vlakit.interfaces import Conditioning


def test_padding_side_and_amount_change_nothing():
    torch.manual_seed(0)
    enc = InstructionEncoder(16, 6).eval()
    tokens = torch.randn(1, 5, 16)
    left = torch.cat([torch.randn(1, 3, 16), tokens], dim=1)
    right = torch.cat([tokens, torch.randn(1, 2, 16)], dim=1)
    out = enc(Conditioning(tokens, torch.ones(1, 5)))
    assert out.shape == (1, 6)
    torch.testing.assert_close(enc(Conditioning(left, torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1]]))), out, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(enc(Conditioning(right, torch.tensor([[1, 1, 1, 1, 1, 0, 0]]))), out, atol=1e-5, rtol=1e-4)


def test_word_order_matters():
    torch.manual_seed(0)
    enc = InstructionEncoder(16, 6).eval()
    tokens = torch.randn(1, 4, 16)
    swapped = tokens[:, [0, 3, 2, 1]]
    mask = torch.ones(1, 4)
    assert not torch.allclose(enc(Conditioning(tokens, mask)), enc(Conditioning(swapped, mask)), atol=1e-4)


def test_learns_which_of_two_words_comes_first():
    """Two word embeddings in either order: a bag of words cannot tell; the encoder must."""
    torch.manual_seed(0)
    words = torch.randn(2, 16)
    enc = InstructionEncoder(16, 1)
    opt = torch.optim.Adam(enc.parameters(), lr=3e-3)
    order = torch.tensor([0, 1] * 16)
    seqs = torch.stack([words[[o, 1 - o]] for o in order.tolist()])
    target = order.float()[:, None]
    for _ in range(150):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(enc(Conditioning(seqs, torch.ones(32, 2))), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = enc(Conditioning(seqs, torch.ones(32, 2))) > 0
    assert (pred.float() == target).all()


def test_the_state_token_changes_the_condition_not_the_padding():
    torch.manual_seed(0)
    enc = InstructionEncoder(16, 6).eval()
    tokens, mask = torch.randn(1, 4, 16), torch.ones(1, 4)
    opened, closed = torch.randn(1, 16), torch.randn(1, 16)
    assert not torch.allclose(enc(Conditioning(tokens, mask, opened)), enc(Conditioning(tokens, mask, closed)), atol=1e-4)
    padded = torch.cat([torch.randn(1, 2, 16), tokens], dim=1)
    torch.testing.assert_close(
        enc(Conditioning(padded, torch.tensor([[0, 0, 1, 1, 1, 1]]), opened)), enc(Conditioning(tokens, mask, opened)), atol=1e-5, rtol=1e-4
    )
