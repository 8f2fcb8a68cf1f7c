"""Exercise 03: scaled dot-product attention.

Write the attention function used by every Transformer:

    weights = softmax(Q K^T / sqrt(d_k), over the keys)
    output  = weights V

It takes queries, keys and values directly (no projections here), and returns both the
output and the weights, so the tests can look at each. You may use torch.softmax now.
Read README.md (the lesson) first; the tutor re-runs the tests every time you save.
"""

import torch


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attend from every query to every key, with scores scaled by 1 / sqrt(d_k).

    Shapes, with any leading axes (...) shared by all three, for example (B,) or (B, H):
        q        (..., Tq, d_k)   one row per query
        k        (..., Tk, d_k)   one row per key; Tk may differ from Tq
        v        (..., Tk, d_v)   one value per key; d_v may differ from d_k
        scores   (..., Tq, Tk)
        weights  (..., Tq, Tk)    every row sums to 1
        output   (..., Tq, d_v)

    Returns (output, weights).
    """
    # TODO 1: score every query against every key (a dot product, as in exercise 01).
    # TODO 2: divide the scores by the square root of the size of the vectors you dotted.
    #         Which of the sizes in the docstring is that?
    # TODO 3: turn each query's row of scores into weights over the keys.
    # TODO 4: average the values with those weights; return (output, weights).
    raise NotImplementedError("write scaled_dot_product_attention: score, scale, softmax, average")
