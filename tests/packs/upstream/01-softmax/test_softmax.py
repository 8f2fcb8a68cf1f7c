import json

import torch

from problem import softmax


def test_rows_sum_to_one():
    scores = torch.tensor(json.load(open("cases.json"))["scores"])
    assert torch.allclose(softmax(scores).sum(dim=-1), torch.ones(2))


def test_matches_torch():
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(softmax(x, dim=0), torch.softmax(x, dim=0))
