"""Exercise 05: key padding masks.

Sequences in a batch have different lengths, so the short ones are padded up to the
longest. Write scaled dot-product attention that never lets a query attend to a padded key:

    weights = softmax(Q K^T / sqrt(d_k), with padded keys excluded)
    output  = weights V

Rule for a row whose keys are ALL padding (a batch item with no real tokens): its weights
are all 0 and its output is all 0. It must never contain NaN.
Read README.md (the lesson) first; the tutor re-runs the tests every time you save.
"""

import torch


def attention_with_padding(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_padding_mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention that ignores padded keys.

    Shapes, with B = batch, Tq = number of queries, Tk = number of keys:
        q                 (B, Tq, d_k)
        k                 (B, Tk, d_k)
        v                 (B, Tk, d_v)
        key_padding_mask  (B, Tk) bool, True = this key is padding (ignore it)
        scores            (B, Tq, Tk)   one row per query, one column per key
        weights           (B, Tq, Tk)   returned; 0 on every padded key, each row sums to 1
                                        (a row with every key padded is all 0 instead)
        out               (B, Tq, d_v)  returned; all 0 for a row with every key padded

    Returns the pair (out, weights).
    """
    # TODO 1: score every query against every key and scale by 1 / sqrt(d_k)
    #         (d_k is the size of the last dimension of q; d_k ** 0.5 is its root).
    # TODO 2: reshape the (B, Tk) mask so that it lines up with the KEYS axis of the
    #         (B, Tq, Tk) scores, and give padded keys a score that softmax turns into 0.
    # TODO 3: softmax over the keys.
    # TODO 4: a row whose keys are all padding comes out of softmax as NaN; make its
    #         weights 0 (see the rule in the module docstring).
    # TODO 5: return (weights @ v, weights).
    raise NotImplementedError(
        "write attention_with_padding: scale, mask the padded keys, softmax, fix empty rows"
    )
