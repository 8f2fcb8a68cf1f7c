import json
import sys
from pathlib import Path

import torch

sys.path.append("../01-softmax")
from masks import causal_mask  # noqa: E402

from problem import attend  # noqa: E402

CASES = Path(__file__).parent.parent / "01-softmax" / "cases.json"


def test_matches_sdpa():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 4, 8, generator=g) for _ in range(3))
    expected = torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=causal_mask(4)
    )
    assert torch.allclose(attend(q, k, v), expected, atol=1e-5)


def test_first_token_sees_only_itself():
    rows = torch.tensor(json.loads(CASES.read_text())["scores"])
    v = torch.arange(3.0).reshape(1, 3, 1)
    q = k = rows[:1, :].reshape(1, 3, 1)
    assert attend(q, k, v)[0, 0, 0] == 0.0
