"""The vectorised loss against eq. (1) written out with explicit loops over T, T', T''."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.gdt.config import GDTConfig
from core.gdt.factors import Choice
from core.gdt.loss import gdt_loss
from core.gdt.sampling import HierarchicalSampler
from core.gdt.validity import validate
from tests.core.gdt.strategies import gdt_configs


def brute_force_eq1(z: torch.Tensor, tuples: torch.Tensor, config: GDTConfig) -> torch.Tensor:
    """Eq. (1) from the definitions, pair by pair: c and w per factor, w_self, w_mod; / #positives."""
    z = z / z.norm(dim=1, keepdim=True)
    names, choices = config.factor_names, config.choices
    mod_column = names.index("MOD")
    pairs = config.modality_pairs

    def c(a, b):
        return all(tuples[a, m] == tuples[b, m] for m, ch in enumerate(choices) if ch is Choice.DISTINCTIVE)

    def w(a, b):
        if a == b or any(tuples[a, m] != tuples[b, m] for m, ch in enumerate(choices) if ch is Choice.IGNORE):
            return False
        if not config.uses_audio:
            return True
        ma, mb = int(tuples[a, mod_column]), int(tuples[b, mod_column])
        return (
            (ma != mb and pairs.cross_modal)
            or (ma == mb == 0 and pairs.intra_video)
            or (ma == mb == 1 and pairs.intra_audio)
        )

    k = len(tuples)
    total, positives = z.new_zeros(()), 0
    for t in range(k):
        denominator = sum(torch.exp(z[t] @ z[u] / config.temperature) for u in range(k) if w(t, u))
        for t2 in range(k):
            if c(t, t2) and w(t, t2):
                total = total - torch.log(torch.exp(z[t] @ z[t2] / config.temperature) / denominator)
                positives += 1
    return total / positives


@settings(max_examples=25, deadline=None)
@given(gdt_configs(max_batch=20), st.integers(0, 2**31 - 1), st.sampled_from([0.07, 0.2, 1.0]))
def test_vectorised_loss_and_gradients_match_brute_force(config, seed, temperature):
    config = GDTConfig(config.settings, config.clip_budget, temperature, config.modality_pairs)
    structure = validate(config)
    tuples = HierarchicalSampler(config, num_videos=config.k_videos, seed=seed).sample().tuples
    z = torch.randn(config.batch_size, 16, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)

    z_fast = z.clone().float().requires_grad_()
    fast = gdt_loss(z_fast, structure, temperature)
    fast.backward()

    z_slow = z.clone().requires_grad_()
    slow = brute_force_eq1(z_slow, tuples, config)
    slow.backward()

    assert fast.item() == pytest.approx(slow.item(), abs=1e-5, rel=1e-5)
    torch.testing.assert_close(z_fast.grad.double(), z_slow.grad, atol=1e-5, rtol=1e-4)


def test_every_embedding_gets_gradient_not_only_anchors():
    config = GDTConfig.build({"MOD": "invariant", "TR": "distinctive"}, clip_budget=32)
    z = torch.randn(config.batch_size, 8, requires_grad=True)
    gdt_loss(z, validate(config)).backward()
    assert (z.grad.norm(dim=1) > 0).all()


def test_loss_is_finite_at_extreme_similarities():
    """Masked log-sum-exp: identical embeddings at a tiny temperature neither overflow nor give NaN."""
    config = GDTConfig.build({"AUG": "invariant"}, clip_budget=16)
    z = torch.ones(16, 4, requires_grad=True)
    loss = gdt_loss(z, validate(config), temperature=1e-4)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    # Uniform over the 15 weighted pairs; logits of 1e4 leave float32 about 1e-3 of absolute precision.
    assert loss.item() == pytest.approx(math.log(15), abs=5e-3)


def test_perfect_embeddings_give_low_loss_and_random_ones_high():
    config = GDTConfig.build({"AUG": "invariant"}, clip_budget=32)
    structure = validate(config)
    video = structure.tuples[:, 0]
    perfect = torch.nn.functional.one_hot(video, 16).float()  # clips of a video coincide, videos orthogonal
    assert gdt_loss(perfect, structure).item() < 1e-3
    assert gdt_loss(torch.randn(32, 16), structure).item() > 1.0


def test_bf16_inputs_match_fp32_and_return_bf16_gradients():
    config = GDTConfig.build({"MOD": "invariant", "TS": "distinctive"}, clip_budget=64)
    structure = validate(config)
    z = torch.randn(64, 32)
    z16 = z.bfloat16().requires_grad_()
    loss16 = gdt_loss(z16, structure)
    loss16.backward()
    assert loss16.dtype == torch.float32 and z16.grad.dtype == torch.bfloat16
    assert loss16.item() == pytest.approx(gdt_loss(z.bfloat16().float(), structure).item(), rel=1e-5)


def test_wrong_number_of_embeddings_is_refused():
    structure = validate(GDTConfig.build({"AUG": "invariant"}, clip_budget=8))
    with pytest.raises(ValueError, match="7 embeddings for a batch structure of 8"):
        gdt_loss(torch.randn(7, 4), structure)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu():
    config = GDTConfig.build({"MOD": "invariant", "TR": "distinctive"}, clip_budget=64)
    structure = validate(config)
    z = torch.randn(64, 32)
    cpu = gdt_loss(z, structure)
    gpu = gdt_loss(z.cuda(), structure.to("cuda"))
    assert gpu.item() == pytest.approx(cpu.item(), rel=1e-4)
