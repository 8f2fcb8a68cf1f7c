"""A picture for an exercise without a probe: the weights the tests' own calls compute.

The replay of the tests' calls (``tutor.worker.differential``) runs one of them again on both
sides while recording every softmax (and the weights inside ``scaled_dot_product_attention``),
and the last one each side computed is drawn, the learner's beside the reference's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tutor.core.protocol import ProbeResult
from tutor.kit.capture import SoftmaxRecorder
from tutor.worker.differential import Replay
from tutor.worker.pair import Call
from tutor.worker.plugin import short_message
from tutor.worker.probe import as_heads

READABLE_TOKENS = 6  # the call whose sequence is nearest this length is drawn


def token_count(call: Call) -> int:
    """The length of the call's first sequence: the second-to-last size of its first tensor
    of two or more dimensions (0 when it has none)."""
    for tensor in call.input_tensors():
        if tensor.dim() >= 2:
            return int(tensor.shape[-2])
    return 0


def batch_size(call: Call) -> int | None:
    """The batch size of the call: the first size of its first tensor of three or more
    dimensions (``None`` when it has none, so the weights hold no batch)."""
    for tensor in call.input_tensors():
        if tensor.dim() >= 3:
            return int(tensor.shape[0])
    return None


def first_sequence(weights: torch.Tensor, batch: int | None) -> torch.Tensor:
    """The weights of the batch's first sequence, so that only heads remain to be drawn."""
    if batch is not None and weights.dim() >= 3 and weights.shape[0] == batch:
        return weights[0]
    return weights


def labels(tokens: Sequence[str], count: int) -> list[str]:
    """The pack's token labels when there are as many as needed, else t0, t1, ..."""
    if len(tokens) == count:
        return [str(token) for token in tokens]
    return [f"t{n}" for n in range(count)]


def replayed_picture(replay: Replay, tokens: Sequence[str]) -> ProbeResult | None:
    """Both sides' weights on the most readable of the tests' calls; ``None`` when the
    reference computes no attention weights to show."""
    calls = [call for call in replay.recorder.recorded() if token_count(call) > 0]
    if not calls:
        return None
    call = min(calls, key=lambda c: (abs(token_count(c) - READABLE_TOKENS), token_count(c)))
    mine, theirs = SoftmaxRecorder(), SoftmaxRecorder()
    problem = ""
    try:
        replay.pair.run(call, mine, theirs)
    except BaseException as error:  # noqa: BLE001 - learner code may raise anything
        problem = f"nothing captured: {short_message(error)}"
    if not theirs.seen:
        return None
    batch = batch_size(call)
    reference = as_heads(first_sequence(theirs.seen[-1], batch))
    learner = None
    if mine.seen:
        learner = as_heads(first_sequence(mine.seen[-1], batch))
    elif not problem:
        problem = "your code computed no softmax, so there are no weights to show"
    queries, keys = len(reference[0]), len(reference[0][0])
    return ProbeResult(
        run_id=0,
        queries=labels(tokens, queries),
        keys=labels(tokens, keys),
        learner=learner,
        reference=reference,
        problem=problem,
    )
