"""Exercise 12: sliding-window (local) attention.

Each query attends only to itself and the `window - 1` positions just before it:

    query i may attend to key j   exactly when   i - window < j <= i

With window >= T this is plain causal attention; with window == 1 each token sees only itself.
Scores are scaled by 1 / sqrt(d) as usual, and the mask is applied before the softmax.

Read README.md (the lesson) first; the tutor re-runs the tests every time you save.
"""

import torch


def sliding_window_mask(T: int, window: int) -> torch.Tensor:
    """Return a (T, T) bool tensor, True where query i (row) may attend to key j (column).

    True exactly when i - window < j <= i. Example, T = 4, window = 2:
        [[T, F, F, F],
         [T, T, F, F],
         [F, T, T, F],
         [F, F, T, T]]
    """
    # TODO: build the query positions as a column and the key positions as a row
    #       (torch.arange), and compare them so that they broadcast to (T, T).
    #       Two conditions: nothing from the future, nothing older than the window.
    raise NotImplementedError("build the (T, T) bool mask: True where i - window < j <= i")


def sliding_window_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention where each query sees only the last `window` positions, itself included.

    Shapes (any leading dims, e.g. (B,) or (B, n_head)):
        q, k     (..., T, d)
        v        (..., T, d_v)
        weights  (..., T, T)     zero outside the window, every row sums to 1
        output   (..., T, d_v)
    Returns (output, weights).
    """
    # TODO 1: scores of every query against every key, scaled by 1 / sqrt(d).
    # TODO 2: forbid the positions outside the window, using your mask, so that
    #         the softmax gives them a weight of exactly zero.
    # TODO 3: softmax over the keys; return (weights @ v, weights).
    raise NotImplementedError("write sliding_window_attention: score, mask, softmax, weighted sum")
