"""The attention picture for exercise 15: every head of the trained model, on a line of the book.

The model runs with your attention on "Oh dear! Oh dear" (the White Rabbit, chapter I), one
character per token. The picture shows the 8 heads of its 2 layers, names the heads that do a
recognisable job, each with its score measured on your weights, and says how the model reads
held-out text and what it writes with your attention.
"""

import json
from functools import cache
from pathlib import Path

import torch

from tutor.kit import tinylm

HERE = Path(__file__).resolve().parent
TEXT = "Oh dear! Oh dear"
TOKENS = list(TEXT)
CAUSAL = True
HEADS = [f"L{layer} H{head}" for layer in (1, 2) for head in (1, 2, 3, 4)]
ROLES = {
    tinylm.PREVIOUS_TOKEN: "the mean weight a character puts on the one just before it, "
    "on held-out text",
    tinylm.INDUCTION: "on a random string said twice, the mean weight a character of the "
    "second saying puts on the character that followed it the first time",
}

# The lesson's names for the steps the shape trace records: the same ten in each block,
# then the read-out (the embeddings and LayerNorms keep no shape of their own).
BLOCK_STEPS = [
    "Q = ln1(x) W_q",
    "K = ln1(x) W_k",
    "V = ln1(x) W_v",
    "scores = Q_h K_h^T",
    "masked scores",
    "weights = softmax",
    "per-head = weights V",
    "output = proj(merged)",
    "MLP, widened",
    "MLP, narrowed",
]
STEPS = [*(f"L{n}: {name}" for n in (1, 2) for name in BLOCK_STEPS), "next-character scores"]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT: dict[str, str] = {}


@cache
def report() -> dict[str, object]:
    """What the training script measured with the reference."""
    found: dict[str, object] = json.loads((HERE / tinylm.REPORT_FILE).read_text())
    return found


@cache
def model(problem):  # type: ignore[no-untyped-def]
    """The trained model with ``problem``'s attention, built once per module."""
    return tinylm.load(HERE, problem.CausalSelfAttention)


def weights(problem):  # type: ignore[no-untyped-def]
    lm = model(problem)
    _, layers = lm(lm.config.encode(TEXT).unsqueeze(0))
    return torch.cat([w[0] for w in layers])  # (layers * heads, T, T)


def scores(problem):  # type: ignore[no-untyped-def]
    return tinylm.head_scores(model(problem), (HERE / "heldout.txt").read_text())


def notes(problem):  # type: ignore[no-untyped-def]
    lm = model(problem)
    expected = report()
    loss = tinylm.heldout_loss(lm, (HERE / "heldout.txt").read_text())
    prompt = str(expected["prompt"])
    written, _ = tinylm.generate(lm, prompt, len(str(expected["generation"])))
    return [
        f"held-out loss: yours {loss:.3f}, reference {expected['excerpt_loss']:.3f} "
        "(nats per character)",
        f'the model writes after "{shown(prompt)}":',
        f"  yours      {shown(written)}",
        f"  reference  {shown(str(expected['generation']))}",
    ]


def shown(text: str) -> str:
    """Text on one line, its line breaks written as \\n."""
    return repr(text)[1:-1] if "\n" in text else text
