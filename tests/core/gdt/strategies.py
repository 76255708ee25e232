"""Hypothesis strategies for random GDT configurations, shared by the core tests."""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from core.gdt.config import GDTConfig, InvalidConfiguration, ModalityPairs
from core.gdt.validity import validate

# Small K_m ranges keep brute-force loops over K^3 triples fast.
_MAX_K = {"TS": 3, "TR": 2, "SP": 3, "AUG": 3}


@st.composite
def gdt_configs(
    draw, choices=("invariant", "distinctive", "ignore", "off"), max_batch: int = 24, intra_modal: bool = True
) -> GDTConfig:
    """A random *valid* configuration (K <= max_batch) with the given per-factor choices available."""
    # K_m drawn within what the budget still allows, so few draws are rejected.
    room = max_batch // 2  # clips per video that leave room for K_i >= 2
    settings = {}
    if draw(st.booleans()):
        settings["MOD"] = ("invariant", 2)
        room //= 2
    for name in draw(st.permutations(list(_MAX_K))):
        choice = draw(st.sampled_from(choices))
        max_k = min(_MAX_K[name], room)
        if choice == "off" or max_k < 2:
            settings[name] = ("off", 1)
            continue
        k = draw(st.integers(2, max_k))
        settings[name] = (choice, k)
        room //= k
    pairs = ModalityPairs()
    if intra_modal:
        pairs = ModalityPairs(*draw(st.tuples(st.booleans(), st.booleans(), st.booleans())))
    clips = 1
    for _, k in settings.values():
        clips *= k
    budget = draw(st.integers(2 * clips, max_batch))
    try:
        config = GDTConfig.build(settings, clip_budget=budget, modality_pairs=pairs)
        validate(config)
    except InvalidConfiguration:
        assume(False)
    return config
