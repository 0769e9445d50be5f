"""Answer extraction and canonical strings: pure string work, no sympy, no processes."""

from __future__ import annotations

from fractions import Fraction

import pytest

from evalkit.verify.math.extract import extract_answer, fast_verdict, last_boxed, normalize


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
        ("first \\boxed{1} then \\boxed{\\sqrt{x^{2}+1}}", "\\sqrt{x^{2}+1}"),  # the last box, nested braces
        ("\\fbox{7} and nothing else", "7"),
        ("\\boxed{3} but later \\boxed 12 $", "12"),
        ("\\boxed{\\left(2,\\infty\\right)}", "\\left(2,\\infty\\right)"),
        ("a cut off \\boxed{\\frac{1}{2} and \\boxed{5}", "5"),
        ("no box here", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    "completion, answer",
    [
        ("Reasoning.\nFinal Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.", "\\frac{3}{4}"),
        ("Adding up, the answer is 42.", "42"),
        ("Some steps.\n#### 1,234", "1,234"),
        ("The answer is $5$.\nWait, no. The answer is \\(6\\).", "6"),  # the last anchor wins
        ("The answer is 3.5 meters.", "3.5 meters"),
        ("**Answer:** (B)", "(B)"),
        ("the answer is 7 but \\boxed{8}", "8"),  # a box beats a phrase
        ("<think>the answer is 1</think>The answer is \\boxed{2}", "2"),
        ("<think>\\boxed{1}</think> I refuse.", None),  # boxes inside the think block do not count
    ],
)
def test_extract_answer(completion, answer):
    found = extract_answer(completion)
    assert found.answer == answer
    assert found.status == ("ok" if answer is not None else "no_answer")


def test_truncation_is_its_own_status():
    assert extract_answer("<think>long reasoning \\boxed{4}").status == "truncated"
    assert extract_answer("so \\boxed{4}", finish_reason="length").status == "truncated"
    assert extract_answer("so \\boxed{4}", finish_reason="stop").status == "ok"
    assert extract_answer("I do not know.").status == "no_answer"


def test_megabyte_response_extracts_in_linear_time():
    text = "x" * 2_000_000 + "{" * 100_000 + " The answer is 9."
    assert extract_answer(text).answer == "9"
    assert extract_answer("\\boxed{" + "{" * 200_000).answer is None


@pytest.mark.parametrize(
    "a, b",
    [
        ("\\dfrac{1}{2}", "\\frac{1}{2}"),
        ("$\\left( 3, \\tfrac{\\pi}{2} \\right)$", "(3,\\frac{\\pi}{2})"),
        ("\\text{(B)}", "B"),
        ("(B)", "B"),
        ("7,425,000", "7425000"),
        ("1 000", "1000"),
        ("11,\\! 111,\\! 100", "11111100"),
        ("10{,}000", "10000"),
        ("+3.50", "3.5"),
        ("\\$ 12.", "12"),
        ("90^\\circ", "90"),
        ("10\\%", "10%"),
    ],
)
def test_normalize_spellings(a, b):
    assert normalize(a) == normalize(b)


def test_normalize_keeps_different_answers_apart():
    answers = ["1", "-1", "10", "0.1", "10%", "1 1/2", "11/2", "32,349", "32, 349", "(2,\\infty)", "[2,\\infty)", "x", "\\frac{1}{2}", "\\frac{2}{1}", "A", "a"]
    assert len({normalize(a) for a in answers}) == len(answers)


def test_fast_verdict_on_plain_numbers_agrees_with_exact_arithmetic():
    numbers = ["0", "1", "-1", "2", "10", "0.5", ".5", "0.50", "3.25", "-3.250", "007", "1000000"]
    for g in numbers:
        for p in numbers:
            verdict = fast_verdict(g, normalize(g), p, normalize(p))
            assert verdict == (Fraction(g) == Fraction(p)), (g, p)


def test_fast_verdict_on_choice_letters():
    assert fast_verdict("(B)", "B", "\\text{(B)}", normalize("\\text{(B)}")) is True
    assert fast_verdict("B", "B", "C", "C") is False


def test_fast_verdict_defers_what_strings_cannot_settle():
    for gold, pred in [("\\frac{1}{2}", "0.5"), ("10\\%", "0.1"), ("0.3333333", "0.33333333"), ("x+1", "1+x")]:
        assert fast_verdict(gold, normalize(gold), pred, normalize(pred)) is None
