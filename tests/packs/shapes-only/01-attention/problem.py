import torch
from torch import nn


class SimpleAttention(nn.Module):
    def __init__(self, n_embd: int) -> None:
        super().__init__()
        self.query = nn.Linear(n_embd, n_embd)
        self.key = nn.Linear(n_embd, n_embd)
        self.value = nn.Linear(n_embd, n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("scores, scaled, softmax over the keys, weighted values")
