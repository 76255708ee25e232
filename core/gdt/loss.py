"""The generalized contrastive loss, eq. (1) of the ICCV GDT paper.

    L = - 1/|P| * sum_{(T,T') in P} log( exp(<z_T, z_T'>/rho) / sum_{T''} w(T,T'') exp(<z_T, z_T''>/rho) )

with P the positive pairs (c * w = 1) and z the L2-normalised embeddings. The denominator is a masked
log-sum-exp over the weighted pairs, so it is stable at any temperature. Every embedding receives
gradient, both as anchor and as key (the reference implementation detached the keys).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.gdt.contrast import BatchStructure


def gdt_loss(embeddings: torch.Tensor, structure: BatchStructure, temperature: float = 0.07) -> torch.Tensor:
    """Scalar float32 loss for (K, d) embeddings in tuple order (fp32 or bf16, any device).

    The structure comes from the configuration (`core.gdt.contrast.batch_structure`):

        >>> import torch
        >>> from core.gdt.config import GDTConfig
        >>> from core.gdt.contrast import batch_structure
        >>> from core.gdt.loss import gdt_loss
        >>> config = GDTConfig.build({"TR": "invariant", "MOD": "invariant"}, clip_budget=16)
        >>> structure = batch_structure(config)
        >>> embeddings = torch.randn(config.batch_size, 8, requires_grad=True)
        >>> gdt_loss(embeddings, structure, temperature=0.07).backward()
        >>> embeddings.grad.shape
        torch.Size([16, 8])

    Equal embeddings make every key of an anchor equally likely: the loss is log(keys per anchor), here
    log 8 (the 8 clips of the other modality; within-modal pairs are off by default):

        >>> gdt_loss(torch.ones(16, 8), structure)
        tensor(2.0794)
    """
    if embeddings.shape[0] != structure.weight.shape[0]:
        raise ValueError(
            f"{embeddings.shape[0]} embeddings for a batch structure of {structure.weight.shape[0]} tuples"
        )
    # Similarities in fp32 even for bf16 inputs: bf16's 8-bit mantissa at 1/rho = 14 would cost ~0.1 nats.
    z = F.normalize(embeddings.float(), dim=1)
    logits = z @ z.T / temperature
    log_denominator = logits.masked_fill(~structure.weight, float("-inf")).logsumexp(dim=1, keepdim=True)
    log_prob = logits - log_denominator
    # A masked sum, not log_prob[positive]: boolean indexing makes the device report how many elements
    # it selected, a host-device synchronisation on every training step.
    return -torch.where(structure.positive, log_prob, 0.0).sum() / structure.positive_count
