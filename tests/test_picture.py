"""The picture as a whole: one head or all heads, and the shape trace with the lesson's names."""

from __future__ import annotations

from dataclasses import replace

from rich.cells import cell_len

from tests.test_heatmap import colours
from tutor.core.heatmap import Style
from tutor.core.picture import picture, trace
from tutor.core.protocol import HeadScore, ProbeResult

PLAIN = Style(unicode=False, color=False)

# The reference trace of a three-head attention over six tokens, and the lesson's names.
REFERENCE_TRACE = [
    "linear (1, 6, 12)",
    "linear (1, 6, 12)",
    "linear (1, 6, 12)",
    "matmul (1, 3, 6, 6)",
    "softmax (1, 3, 6, 6)",
    "matmul (1, 3, 6, 4)",
    "linear (1, 6, 12)",
]
NAMES = [
    "Q = x W_q",
    "K = x W_k",
    "V = x W_v",
    "scores = Q K^T",
    "weights = softmax",
    "per-head = weights V",
    "output = proj(merged)",
]


def traced(learner: list[str], names: list[str] | None = None) -> ProbeResult:
    return ProbeResult(
        run_id=1,
        learner_trace=learner,
        reference_trace=REFERENCE_TRACE,
        step_names=NAMES if names is None else names,
    )


def lines(text: str) -> list[str]:
    return text.rstrip("\n").split("\n")


# The shape trace ----------------------------------------------------------------------------


def test_the_trace_names_each_step_as_the_lesson_does() -> None:
    # Keys without their transpose: the scores come out (1, 3, 6, 4) instead of (1, 3, 6, 6).
    wrong = [*REFERENCE_TRACE[:3], "matmul (1, 3, 6, 4)"]
    assert lines(trace(traced(wrong), width=80, style=Style(color=False)).plain) == [
        "step                   yours         reference",
        "Q = x W_q              (1, 6, 12)    (1, 6, 12)",
        "K = x W_k              (1, 6, 12)    (1, 6, 12)",
        "V = x W_v              (1, 6, 12)    (1, 6, 12)",
        "scores = Q K^T         (1, 3, 6, 4)  (1, 3, 6, 6) ← first difference",
        "weights = softmax      —             (1, 3, 6, 6)",
        "per-head = weights V   —             (1, 3, 6, 4)",
        "output = proj(merged)  —             (1, 6, 12)",
    ]


def test_without_step_names_the_operations_name_the_steps() -> None:
    # A mask where the softmax belongs: the learner's operation is named beside its shape.
    wrong = [*REFERENCE_TRACE[:4], "masked_fill (1, 3, 6, 6)"]
    assert lines(trace(traced(wrong, names=[]), width=80, style=PLAIN).plain) == [
        "step      yours                     reference",
        "linear    (1, 6, 12)                (1, 6, 12)",
        "linear    (1, 6, 12)                (1, 6, 12)",
        "linear    (1, 6, 12)                (1, 6, 12)",
        "matmul    (1, 3, 6, 6)              (1, 3, 6, 6)",
        "softmax   masked_fill (1, 3, 6, 6)  (1, 3, 6, 6) <- first difference",
        "matmul    -                         (1, 3, 6, 4)",
        "linear    -                         (1, 6, 12)",
    ]


def test_steps_beyond_the_reference_keep_their_operation_names() -> None:
    longer = [*REFERENCE_TRACE, "softmax (1, 3, 6, 6)"]
    last = lines(trace(traced(longer), width=80, style=PLAIN).plain)[-1]
    assert last == "softmax                (1, 3, 6, 6)  - <- first difference"


def test_a_matching_trace_marks_nothing() -> None:
    text = trace(traced(REFERENCE_TRACE), width=80, style=PLAIN).plain
    assert "difference" not in text
    assert "<-" not in text


def test_a_narrow_trace_tightens_the_shapes_and_cuts_the_names() -> None:
    wrong = [*REFERENCE_TRACE[:3], "matmul (1, 3, 6, 4)"]
    assert lines(trace(traced(wrong), width=37, style=PLAIN).plain) == [
        "step           yours     reference",
        "Q = x W_q      (1,6,12)  (1,6,12)",
        "K = x W_k      (1,6,12)  (1,6,12)",
        "V = x W_v      (1,6,12)  (1,6,12)",
        "scores = Q K^T (1,3,6,4) (1,3,6,6) <-",
        "weights = sof~ -         (1,3,6,6)",
        "per-head = we~ -         (1,3,6,4)",
        "output = proj~ -         (1,6,12)",
    ]


def test_the_trace_fits_any_width_and_stays_ascii() -> None:
    names = ["scores = Q Kᵀ", "weights = softmax over the keys, row by row", *NAMES[2:]]
    wrong = [*REFERENCE_TRACE[:3], "matmul (1, 3, 6, 4)"]
    for width in (20, 32, 37, 57, 74, 100):
        for style in (Style(), PLAIN):
            text = trace(traced(wrong, names), width=width, style=style).plain
            assert all(cell_len(line) <= width for line in text.split("\n")), width
            if not style.unicode:
                assert text.isascii()


# One head or all of them --------------------------------------------------------------------


def three_heads() -> ProbeResult:
    tokens = ["The", "cat", "sat"]
    causal = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]]
    looks_ahead = [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]]
    return ProbeResult(
        run_id=1,
        queries=tokens,
        keys=tokens,
        learner=[causal, looks_ahead, causal],
        reference=[causal, causal, causal],
        allowed=[[j <= i for j in range(3)] for i in range(3)],
        diagnosis="Your weights match a known mistake: no mask.",
        learner_trace=REFERENCE_TRACE,
        reference_trace=REFERENCE_TRACE,
        step_names=NAMES,
    )


def test_all_heads_draws_the_overview_with_the_diagnosis_and_the_trace() -> None:
    text = picture(three_heads(), width=57, style=PLAIN, all_heads=True).plain
    assert lines(text)[:8] == [
        "Your weights match a known mistake: no mask.",
        "yours, all 3 heads",
        "head 1      head 2 !x   head 3",
        "  Tcs         Tcs         Tcs",
        "T|@  |      T|++ |      T|@  |",
        "c|++ |      c|++ |      c|++ |",
        "s|===|      s|===|      s|===|",
        "",
    ]
    assert "Q = x W_q              (1, 6, 12)    (1, 6, 12)" in text


def test_one_head_names_it_among_all() -> None:
    text = picture(three_heads(), width=57, head=1, style=PLAIN).plain
    assert "yours (head 2 of 3)" in text
    assert "all 3 heads" not in text


def test_reference_only_overview_draws_the_reference_heads() -> None:
    text = picture(three_heads(), width=57, style=PLAIN, all_heads=True, reference_only=True)
    assert lines(text.plain)[0] == "reference, all 3 heads"
    assert "!" not in text.plain
    assert "step" not in text.plain  # no trace, no diagnosis: there is no learner


def test_the_overview_highlights_the_current_head_only_when_asked() -> None:
    probe = three_heads()
    asked = picture(probe, width=57, head=2, all_heads=True)
    unasked = picture(probe, width=57, all_heads=True)
    assert asked.plain == unasked.plain
    assert asked.spans != unasked.spans
    assert colours(picture(probe, width=57, style=Style(color=False), all_heads=True)) == []


# Named heads and the jobs they do -----------------------------------------------------------


def heads_at_work(learner_scores: tuple[float, float] = (0.9, 0.7)) -> ProbeResult:
    """Three named heads: head 1 a previous-token head, head 3 an induction head, in the
    reference; the learner's scores given."""
    probe = three_heads()
    scores = [HeadScore(head=0, role="prev-token", score=learner_scores[0])]
    scores += [HeadScore(head=2, role="induction", score=learner_scores[1])]
    scores += [HeadScore(head=1, role="prev-token", score=0.1)]
    return replace(
        probe,
        diagnosis="",
        head_names=["L1 H1", "L1 H2", "L2 H1"],
        head_scores=scores,
        reference_head_scores=[
            HeadScore(head=0, role="prev-token", score=0.9),
            HeadScore(head=1, role="prev-token", score=0.1),
            HeadScore(head=2, role="induction", score=0.7),
        ],
        role_meanings={"prev-token": "weight on the token before", "induction": "the copy job"},
        notes=["held-out loss: yours 1.62, reference 1.62"],
    )


def test_all_heads_titles_each_head_by_name_with_its_job_and_score() -> None:
    text = picture(heads_at_work(), width=80, style=PLAIN, all_heads=True).plain
    assert lines(text)[:10] == [
        "held-out loss: yours 1.62, reference 1.62",
        "",
        "heads at work     yours  reference",
        "L1 H1 prev-token   0.90       0.90",
        "L2 H1 induction    0.70       0.70",
        "prev-token: weight on the token before",
        "induction: the copy job",
        "",
        "yours, all 3 heads",
        "L1 H1 prev-token 0.90   L1 H2 !x                L2 H1 induction 0.70",
    ]
    assert "reference, all 3 heads" in text


def test_a_head_that_lost_its_job_is_listed_with_its_score_and_marked() -> None:
    text = picture(heads_at_work((0.9, 0.2)), width=80, style=PLAIN, all_heads=True).plain
    assert "L2 H1 induction    0.20 !     0.70" in lines(text)
    assert "yours, all 3 heads" in text
    titles = next(line for line in lines(text) if line.startswith("L1 H1 prev-token 0.90"))
    assert "induction" not in titles  # below one half: no longer shown as its job


def test_one_head_carries_its_name_and_job_in_the_title() -> None:
    text = picture(heads_at_work(), width=80, style=PLAIN, head=2).plain
    assert "yours (L2 H1, head 3 of 3): induction 0.70" in text
    assert "reference (L2 H1, head 3 of 3): induction 0.70" in text


def test_the_reference_alone_shows_its_own_jobs() -> None:
    text = picture(heads_at_work((0.1, 0.1)), width=80, style=PLAIN, reference_only=True)
    shown = lines(text.plain)
    assert "heads at work     reference" in shown
    assert "L2 H1 induction        0.70" in shown
    assert "held-out loss" not in text.plain  # the notes are about the learner's module


def test_jobs_and_notes_fit_any_width() -> None:
    probe = replace(heads_at_work(), notes=["a long note " * 12])
    for width in (20, 40, 57, 80):
        for all_heads in (False, True):
            text = picture(probe, width=width, style=PLAIN, all_heads=all_heads).plain
            assert all(cell_len(line) <= width for line in text.split("\n")), width


def test_without_names_or_jobs_the_picture_is_as_before() -> None:
    text = picture(three_heads(), width=57, style=PLAIN, all_heads=True).plain
    assert "heads at work" not in text
    assert lines(text)[1] == "yours, all 3 heads"
