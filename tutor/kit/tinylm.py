"""A small character-level language model that runs on the learner's attention.

The model is a decoder-only transformer: a character embedding and a learned position
embedding, ``n_layer`` pre-LayerNorm blocks, a final LayerNorm and a linear read-out to one
score per character. Every block's attention is built by a factory the caller passes, so an
exercise can put the learner's ``CausalSelfAttention`` inside a model whose other weights were
trained with the reference (``tools/train_tiny_lm.py`` in the repository does the training).

The attention a factory builds is called as ``attn(x)`` on ``x`` of shape ``(B, T, C)`` and
returns ``(output, weights)``: ``output`` ``(B, T, C)``, ``weights`` ``(B, n_head, T, T)``. Its
parameters are four ``nn.Linear(C, C)`` layers named ``query``, ``key``, ``value`` and ``proj``.

Loading copies every trained tensor into the model by name and says, in the learner's words,
which one does not fit; nothing is loaded from anywhere but the file given.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from tutor.kit.heads import induction_scores, previous_token_scores, repeated_sequence

__all__ = [
    "INDUCTION",
    "PREVIOUS_TOKEN",
    "AttentionMismatch",
    "Config",
    "TinyLM",
    "generate",
    "head_scores",
    "heldout_loss",
    "load",
    "save",
    "split",
]

WEIGHTS_FILE = "tiny_lm.pt"
REPORT_FILE = "tiny_lm.json"
HELDOUT_SHARE = 0.1  # the last tenth of the text is never trained on
PREVIOUS_TOKEN, INDUCTION = "prev-token", "induction"
INDUCTION_PERIOD = 24  # the random string said twice is this long
INDUCTION_SEED = 0

AttentionFactory = Callable[[int, int, int], nn.Module]


class AttentionMismatch(ValueError):
    """The learner's attention does not fit the trained model; the message says how."""


@dataclass(frozen=True)
class Config:
    """The model's sizes and its vocabulary: one token per character, in id order."""

    chars: str
    block_size: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        """The ids of ``text``'s characters, shape ``(len(text),)``."""
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted({c for c in text if c not in index})
        if unknown:
            raise ValueError(f"characters the model does not know: {unknown!r}")
        return torch.tensor([index[c] for c in text], dtype=torch.long)

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        """The characters of ``ids``."""
        values = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return "".join(self.chars[i] for i in values)


class Block(nn.Module):
    """A pre-LayerNorm block: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``."""

    def __init__(self, config: Config, attention: AttentionFactory) -> None:
        super().__init__()
        width = config.n_embd
        self.n_head = config.n_head
        self.ln1 = nn.LayerNorm(width)
        self.attn = attention(width, config.n_head, config.block_size)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, weights = attend(self.attn, self.ln1(x), self.n_head)
        x = x + out
        return x + self.mlp(self.ln2(x)), weights


def attend(attn: nn.Module, x: torch.Tensor, n_head: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``attn(x)``, checked to be the pair the model needs before anything uses it."""
    batch, length, width = x.shape
    result = attn(x)
    wanted = (
        f"(output, weights) with output of shape {(batch, length, width)} and weights of "
        f"shape {(batch, n_head, length, length)}"
    )
    if not (isinstance(result, tuple) and len(result) == 2):
        raise AttentionMismatch(f"forward should return the pair {wanted}")
    out, weights = result
    for name, tensor, shape in (
        ("output", out, (batch, length, width)),
        ("weights", weights, (batch, n_head, length, length)),
    ):
        if not isinstance(tensor, torch.Tensor):
            raise AttentionMismatch(
                f"the {name} should be a tensor; forward should return {wanted}"
            )
        if tuple(tensor.shape) != shape:
            raise AttentionMismatch(
                f"the {name} has shape {tuple(tensor.shape)}; forward should return {wanted}"
            )
    return out, weights


class TinyLM(nn.Module):
    """The whole model; ``forward(ids)`` gives the scores of the next character and every
    layer's attention weights."""

    def __init__(self, config: Config, attention: AttentionFactory) -> None:
        super().__init__()
        self.config = config
        self.tok = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config, attention) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``ids`` ``(B, T)`` -> logits ``(B, T, vocab)``, and per layer ``(B, n_head, T, T)``."""
        length = ids.shape[1]
        if length > self.config.block_size:
            raise ValueError(f"{length} tokens; the model reads at most {self.config.block_size}")
        x = self.tok(ids) + self.pos(torch.arange(length))
        weights = []
        for block in self.blocks:
            x, w = block(x)
            weights.append(w)
        return self.head(self.ln_f(x)), weights


def split(text: str) -> tuple[str, str]:
    """The training text and the held-out text: the last tenth, cut at a line."""
    cut = text.rfind("\n", 0, round(len(text) * (1 - HELDOUT_SHARE))) + 1
    return text[:cut], text[cut:]


def windows(ids: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping ``(inputs, targets)`` windows of ``block_size``; the tail is dropped."""
    count = (len(ids) - 1) // block_size
    inputs = ids[: count * block_size].view(count, block_size)
    targets = ids[1 : count * block_size + 1].view(count, block_size)
    return inputs, targets


def heldout_loss(model: TinyLM, text: str) -> float:
    """The mean cross-entropy of the next character over ``text``, in nats."""
    ids = model.config.encode(text)
    inputs, targets = windows(ids, model.config.block_size)
    if len(inputs) == 0:
        raise ValueError("the text is shorter than one window of the model")
    with torch.no_grad():
        logits, _ = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    return float(loss)


def generate(model: TinyLM, prompt: str, steps: int) -> tuple[str, float]:
    """The greedy continuation of ``prompt`` (``steps`` characters), and the smallest gap
    between the chosen character's score and the runner-up's on the way."""
    ids = model.config.encode(prompt).tolist()
    narrowest = math.inf
    with torch.no_grad():
        for _ in range(steps):
            context = torch.tensor([ids[-model.config.block_size :]])
            logits, _ = model(context)
            top = torch.topk(logits[0, -1], 2)
            narrowest = min(narrowest, float(top.values[0] - top.values[1]))
            ids.append(int(top.indices[0]))
    return model.config.decode(ids[len(prompt) :]), narrowest


def head_scores(model: TinyLM, text: str) -> dict[str, list[float]]:
    """Every head's previous-token score on ``text`` (its first ``block_size`` characters)
    and its induction score on a random string said twice; heads in order, layer by layer."""
    config = model.config
    with torch.no_grad():
        _, on_text = model(config.encode(text[: config.block_size]).unsqueeze(0))
        repeated = repeated_sequence(config.vocab_size, INDUCTION_PERIOD, INDUCTION_SEED)
        _, on_repeats = model(repeated)
    return {
        PREVIOUS_TOKEN: [s for w in on_text for s in previous_token_scores(w)],
        INDUCTION: [s for w in on_repeats for s in induction_scores(w, INDUCTION_PERIOD)],
    }


def save(model: TinyLM, path: Path) -> None:
    """The configuration and every trained tensor (buffers left out) in one file."""
    names = {name for name, _ in model.named_parameters()}
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}
    torch.save({"config": asdict(model.config), "state": state}, path)


def load(folder: Path, attention: AttentionFactory) -> TinyLM:
    """The trained model in ``folder``, its attention built by ``attention``; in eval mode.

    ``AttentionMismatch`` says which trained tensor the learner's attention has no place for.
    """
    saved = read(folder / WEIGHTS_FILE)
    config = Config(**saved["config"])
    model = TinyLM(config, attention)
    copy_weights(model, saved["state"])
    return model.eval()


@lru_cache(maxsize=4)
def read(path: Path) -> dict[str, Any]:
    """The saved configuration and tensors, read once per process: tests and probes load the
    model many times, and only ever copy from these tensors."""
    saved: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return saved


def copy_weights(model: TinyLM, state: dict[str, torch.Tensor]) -> None:
    """Every trained tensor into the parameter of the same name, or a learner-worded error."""
    own = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in state.items():
            parameter = own.pop(name, None)
            if parameter is None:
                raise AttentionMismatch(f"the trained model has {where(name)}; yours does not")
            if parameter.shape != tensor.shape:
                raise AttentionMismatch(
                    f"{where(name)} has shape {tuple(parameter.shape)} in yours and "
                    f"{tuple(tensor.shape)} in the trained model"
                )
            parameter.copy_(tensor)
    if own:
        extra = ", ".join(where(name) for name in sorted(own))
        raise AttentionMismatch(
            f"the trained model has no values for {extra}: the attention's only parameters "
            "are the weights and biases of query, key, value and proj"
        )


def where(name: str) -> str:
    """A parameter's name as the learner knows it: ``blocks.1.attn.key.bias`` -> ``the bias of
    self.key (layer 2's attention)``."""
    parts = name.split(".")
    if len(parts) < 4 or parts[0] != "blocks" or parts[2] != "attn":
        return name
    layer = f"(layer {int(parts[1]) + 1}'s attention)"
    if len(parts) == 4:
        return f"self.{parts[3]} {layer}"
    return f"the {parts[-1]} of self.{'.'.join(parts[3:-1])} {layer}"
