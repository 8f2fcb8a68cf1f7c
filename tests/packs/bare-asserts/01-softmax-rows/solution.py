import torch


def softmax_rows(x: torch.Tensor) -> torch.Tensor:
    weights = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return weights / weights.sum(dim=-1, keepdim=True)
