import torch

from solution import Config


def block(x: torch.Tensor, config: Config) -> torch.Tensor:
    # TODO: x + attention of x with itself, scaled by config.residual
    raise NotImplementedError("write block")
