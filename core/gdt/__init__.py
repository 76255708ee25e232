"""GDT algebra: the factor catalogue, configurations and their validity, hierarchical sampling,
contrast / weight masks, the eq. (1) loss, and the paper's presets."""

from core.gdt.config import GDTConfig, InvalidConfiguration
from core.gdt.contrast import BatchStructure, batch_structure
from core.gdt.factors import CATALOGUE, Choice, Factor
from core.gdt.loss import gdt_loss
from core.gdt.presets import PRESETS, preset
from core.gdt.sampling import GDTBatch, HierarchicalSampler
from core.gdt.validity import validate

__all__ = [
    "CATALOGUE",
    "PRESETS",
    "BatchStructure",
    "Choice",
    "Factor",
    "GDTBatch",
    "GDTConfig",
    "HierarchicalSampler",
    "InvalidConfiguration",
    "batch_structure",
    "gdt_loss",
    "preset",
    "validate",
]
