"""The attention picture for exercise 05: a padded sentence in a batch of eight.

Item 0, the one shown, is "The cat sat on the mat" padded with two "<pad>" tokens to the
batch's length of eight. The batch holds eight sentences of different lengths (as many
items as tokens), so a (B, Tk) mask that is not reshaped broadcasts item b's padding onto
query b of the picture instead of raising, and the picture can name that mistake.
"""

import torch

TOKENS = ["The", "cat", "sat", "on", "the", "mat", "<pad>", "<pad>"]
LENGTHS = [6, 8, 3, 5, 2, 7, 4, 1]  # real tokens of each batch item; item 0 is TOKENS

# The lesson's names for the steps the shape trace records.
STEPS = [
    "scores = Q K^T",
    "masked scores",
    "weights = softmax",
    "empty rows -> 0",
    "output = weights V",
]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT = {
    "nan_for_fully_masked.py": "only a row with every key padded goes wrong; item 0 has six "
    "real keys, so its weights are right",
    "fully_masked_rows_uniform.py": "only a row with every key padded goes wrong; on item 0 "
    "the -1e9 fill gives exactly the weights of -inf",
}


def weights(problem):  # type: ignore[no-untyped-def]
    batch, length = len(LENGTHS), len(TOKENS)
    generator = torch.Generator().manual_seed(5)
    q = torch.randn(batch, length, 4, generator=generator) * 1.2
    k = torch.randn(batch, length, 4, generator=generator) * 1.2
    v = torch.randn(batch, length, 4, generator=generator)
    padding = torch.arange(length)[None, :] >= torch.tensor(LENGTHS)[:, None]  # (B, Tk)
    _, w = problem.attention_with_padding(q, k, v, padding)
    return w[0]
