"""Lemma 6/7 validity: every anchor needs a positive and a negative, checked on the real batch structure.

Eq. (1) is degenerate otherwise: without a positive the anchor contributes nothing, without a
negative its softmax is constant. The error names the factors to change.
"""

from __future__ import annotations

from core.gdt.config import GDTConfig, InvalidConfiguration
from core.gdt.contrast import BatchStructure, batch_structure
from core.gdt.factors import Choice


def validate(config: GDTConfig) -> BatchStructure:
    """The batch structure of `config`, or InvalidConfiguration saying which factors make it degenerate."""
    structure = batch_structure(config)
    without_positive = ~structure.positive.any(dim=1)
    without_negative = ~structure.negative.any(dim=1)
    if without_positive.any():
        message, factors = _why_no_positives(config)
        raise InvalidConfiguration(_anchors(structure, without_positive, config) + message, factors)
    if without_negative.any():
        message, factors = _why_no_negatives(config)
        raise InvalidConfiguration(_anchors(structure, without_negative, config) + message, factors)
    return structure


def _by_choice(config: GDTConfig, choice: Choice) -> list[str]:
    """Factors with `choice` that actually vary within a batch (K_m >= 2)."""
    return [n for n, c, k in zip(config.factor_names, config.choices, config.ks, strict=True) if c is choice and k > 1]


def _mod_switches(config: GDTConfig) -> str:
    p = config.modality_pairs
    return f"cross_modal={p.cross_modal}, intra_video={p.intra_video}, intra_audio={p.intra_audio}"


def _why_no_positives(config: GDTConfig) -> tuple[str, tuple[str, ...]]:
    invariant = _by_choice(config, Choice.INVARIANT)
    if not invariant:
        blocking = _by_choice(config, Choice.DISTINCTIVE)[1:] + _by_choice(config, Choice.IGNORE)
        detail = f" ({', '.join(f'{n}={config.setting(n).choice}' for n in blocking)})" if blocking else ""
        return (
            "no positives: no factor is invariant with K_m >= 2, so every other clip differs in a distinctive"
            f" or ignored factor{detail}; make at least one factor invariant with K_m >= 2",
            tuple(blocking) or tuple(config.factor_names[1:]),
        )
    return (
        f"no positives: the pairs that differ only in the invariant factor(s) {', '.join(invariant)} are all"
        f" removed by the modality pair switches ({_mod_switches(config)})",
        ("MOD", *(n for n in invariant if n != "MOD")),
    )


def _why_no_negatives(config: GDTConfig) -> tuple[str, tuple[str, ...]]:
    # With DS distinctive and K_i >= 2 (checked by GDTConfig) another video's clip at the same slots is
    # always a negative, so this guards the structure check rather than a reachable configuration.
    blocking = _by_choice(config, Choice.INVARIANT) + _by_choice(config, Choice.IGNORE)
    return (
        "no negatives: every factor that differs between tuples is invariant or ignored"
        f" ({', '.join(f'{n}={config.setting(n).choice}' for n in blocking) or 'no factor varies'})",
        tuple(blocking),
    )


def _anchors(structure: BatchStructure, failing, config: GDTConfig) -> str:
    """Which anchors fail, by modality when that is the distinction."""
    count = int(failing.sum())
    if config.uses_audio and count < len(failing):
        kinds = sorted({("video", "audio")[int(m)] for m in structure.modality[failing]})
        return f"{'/'.join(kinds)} anchors ({count} of {len(failing)}): "
    return ""
