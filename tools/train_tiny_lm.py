"""Train the small language model of exercise 15 and write its weights and report.

    uv run python tools/train_tiny_lm.py            # about 5 minutes on one CPU core

The model (``tutor.kit.tinylm``) reads characters of *Alice's Adventures in Wonderland*
(``tools/text/``) and learns to predict the next one. Its attention is the exercise's own
``solution.py``, so the reference the learner is compared with is exactly what was trained.
Training is deterministic: a fixed seed, deterministic algorithms, a fixed number of threads
and steps. A quarter of the rows of every batch are a random string said over and over, which
makes the model form induction heads within the budget: on the text alone, or with an eighth
of the rows, no head reached an induction score of 0.1 in 3,000 steps; with a quarter, they
form around step 1,500 (the log prints the best induction score as it goes).

Writes, beside the exercise's tests: ``tiny_lm.pt`` (configuration and weights),
``tiny_lm.json`` (what this run measured: the held-out loss, a greedy generation, each head's
scores) and ``heldout.txt`` (the start of the held-out text, for the exercise's tests).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import sys
import time
import types
from pathlib import Path

import torch
from torch.nn import functional as F

from tutor.kit import tinylm

ROOT = Path(__file__).resolve().parent.parent
TEXT = ROOT / "tools" / "text" / "alice.txt"
EXERCISE = ROOT / "exercises" / "15-attention-in-a-trained-model"
EXCERPT_FILE = "heldout.txt"
EXCERPT_WINDOWS = 8  # of block_size characters: enough for a steady loss, quick to run
PROMPT = "The Queen said to the King, `"
GENERATED = 40


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=1865)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--repeats", type=float, default=0.25, help="share of each batch that is repeated noise"
    )
    parser.add_argument("--out", type=Path, default=EXERCISE, help="where to write the files")
    return parser.parse_args()


def load_solution(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("tiny_lm_reference", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def batch(
    ids: torch.Tensor,
    config: tinylm.Config,
    size: int,
    repeats: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of the text, and a share of rows that repeat a random string."""
    span = config.block_size + 1
    starts = torch.randint(len(ids) - span, (size,), generator=generator)
    rows = torch.stack([ids[s : s + span] for s in starts.tolist()])
    noisy = round(size * repeats)
    for row in range(noisy):
        period = int(torch.randint(4, config.block_size // 2, (1,), generator=generator))
        block = torch.randint(config.vocab_size, (period,), generator=generator)
        rows[row] = block.repeat(span // period + 1)[:span]
    return rows[:, :-1], rows[:, 1:]


def learning_rate(step: int, steps: int, peak: float) -> float:
    warmup = 100
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def main() -> None:
    args = options()
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(args.threads)
    text = TEXT.read_text(encoding="utf-8")
    train, heldout = tinylm.split(text)
    config = tinylm.Config(chars="".join(sorted(set(text))))
    solution = load_solution(EXERCISE / "solution.py")
    model = tinylm.TinyLM(config, solution.CausalSelfAttention)
    ids = config.encode(train)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.01
    )
    generator = torch.Generator().manual_seed(args.seed)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{parameters} parameters, {len(train)} training and {len(heldout)} held-out characters")

    began = time.perf_counter()
    model.train()
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr)
        inputs, targets = batch(ids, config, args.batch, args.repeats, generator)
        logits, _ = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, config.vocab_size), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 250 == 0 or step == args.steps - 1:
            seconds = time.perf_counter() - began
            induction = max(tinylm.head_scores(model, train)[tinylm.INDUCTION])
            print(
                f"step {step:5d}  loss {loss.item():.3f}  best induction score {induction:.2f}"
                f"  {seconds:6.1f} s",
                flush=True,
            )
    seconds = time.perf_counter() - began
    model.eval()

    excerpt = heldout[: EXCERPT_WINDOWS * config.block_size + 1]
    generation, margin = tinylm.generate(model, PROMPT, GENERATED)
    report = {
        "text": TEXT.relative_to(ROOT).as_posix(),
        "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "seed": args.seed,
        "steps": args.steps,
        "batch": args.batch,
        "repeats": args.repeats,
        "parameters": parameters,
        "train_seconds": round(seconds, 1),
        "heldout_loss": tinylm.heldout_loss(model, heldout),
        "excerpt_loss": tinylm.heldout_loss(model, excerpt),
        "prompt": PROMPT,
        "generation": generation,
        "narrowest_margin": margin,
        "induction_period": tinylm.INDUCTION_PERIOD,
        "induction_seed": tinylm.INDUCTION_SEED,
        "scores": tinylm.head_scores(model, heldout),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    tinylm.save(model, args.out / tinylm.WEIGHTS_FILE)
    (args.out / tinylm.REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    (args.out / EXCERPT_FILE).write_text(excerpt, encoding="utf-8")
    print(json.dumps(report, indent=2))
    print(f"trained in {seconds:.0f} s; written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
