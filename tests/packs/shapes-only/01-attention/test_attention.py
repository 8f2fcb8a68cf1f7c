import torch

from problem import SimpleAttention


def test_output_keeps_the_input_shape():
    x = torch.randn(2, 5, 8)
    assert SimpleAttention(8)(x).shape == (2, 5, 8)


def test_one_token():
    x = torch.randn(1, 1, 4)
    assert SimpleAttention(4)(x).shape == (1, 1, 4)


def test_output_is_finite():
    x = torch.randn(3, 4, 6)
    assert torch.isfinite(SimpleAttention(6)(x)).all()
