"""Scores that say what job an attention head does, from its weights alone.

Two jobs are easy to see in a trained language model:

- a **previous-token** head puts its weight on the token just before each query;
- an **induction** head, on a sequence that repeats, looks at the token that *followed* the
  current token's earlier occurrence: having seen "A B ... A", it attends to "B", which lets
  the model predict that "B" comes again.

Each score is a mean weight between 0 and 1, per head, for ``weights`` of shape
``(..., n_head, T, T)`` (leading axes, such as the batch, are averaged over).
"""

from __future__ import annotations

import torch

__all__ = ["induction_scores", "previous_token_scores", "repeated_sequence"]


def previous_token_scores(weights: torch.Tensor) -> list[float]:
    """Per head, the mean weight a query puts on the key just before it (queries 1 to T-1)."""
    heads = _heads(weights)
    length = heads.shape[-1]
    if length < 2:
        raise ValueError("a previous-token score needs at least two tokens")
    rows = torch.arange(1, length)
    return heads[:, rows, rows - 1].mean(dim=-1).tolist()


def induction_scores(weights: torch.Tensor, period: int) -> list[float]:
    """Per head, on a sequence made of one block of ``period`` tokens said twice, the mean
    weight each query of the second block puts on the token after its earlier occurrence."""
    heads = _heads(weights)
    if heads.shape[-1] < 2 * period or period < 2:
        raise ValueError("an induction score needs a block of at least 2 tokens said twice")
    rows = torch.arange(period, 2 * period)
    return heads[:, rows, rows - period + 1].mean(dim=-1).tolist()


def repeated_sequence(vocab_size: int, period: int, seed: int) -> torch.Tensor:
    """``(1, 2 * period)`` token ids: ``period`` random ids, then the same ids again."""
    generator = torch.Generator().manual_seed(seed)
    block = torch.randint(vocab_size, (period,), generator=generator)
    return block.repeat(2).unsqueeze(0)


def _heads(weights: torch.Tensor) -> torch.Tensor:
    """``weights`` as ``(n_head, T, T)`` in float64, leading axes averaged."""
    if weights.dim() < 3 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(f"weights of shape {tuple(weights.shape)}, not (..., n_head, T, T)")
    tensor = weights.detach().to(torch.float64)
    return tensor.reshape(-1, *tensor.shape[-3:]).mean(dim=0)
