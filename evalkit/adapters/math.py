"""Math benchmarks that reasoning papers report, graded by the math verifier.

Provenance (hub id used online; the offline files in ../shared/data are byte copies of these sources):
  math500        HuggingFaceH4/MATH-500 (test). The 500-problem MATH split of Lightman et al. 2023
                 (openai/prm800k, MIT); MATH (Hendrycks et al. 2021, MIT). Metadata: level 1-5, subject.
  gsm8k          openai/gsm8k, config main (test, 1319). Cobbe et al. 2021, MIT. Gold: the number
                 after "####", thousands commas removed.
  aime24         HuggingFaceH4/aime_2024 (train, 30); file: QwenLM/Qwen2.5-Math evaluation/data/aime24.
                 AIME answers (integers 0-999) lose their zero padding: "025" -> "25".
                 Problems (c) MAA.
  aime25         math-ai/aime25 (test, 30); file: Absolute-Zero-Reasoner evaluation data. (c) MAA.
  amc23          math-ai/amc23 (test, 40); file: Qwen2.5-Math evaluation/data/amc23. Answers are stored as
                 floats (27.0) and become integer strings ("27"). (c) MAA.
  minerva_math   math-ai/minervamath (test, 272): the OCW Courses set of Lewkowycz et al. 2022 (Minerva),
                 file from Qwen2.5-Math evaluation/data. Gold: the last \\boxed{} of the solution.
  olympiadbench  Hothan/OlympiadBench, config OE_TO_maths_en_COMP (train, 675): open-ended, text-only,
                 English math competition problems (He et al. 2024, Apache-2.0), as in Qwen2.5-Math.
                 Gold: final_answer items with their $...$ stripped, comma-joined; answer_type, unit,
                 is_multiple_answer and error (tolerance) are kept in metadata for the verifier.

Problem ids are "<bench>/<row index>" in the distributed order; the
upstream id, where there is one, is kept as metadata["source_id"].

Prompts. Chat models: the question, a newline and the established instruction ("Please reason step
by step, and put your final answer within \\boxed{}.", as in Qwen2.5-Math, DeepSeek-R1, SimpleRL) in
one user message, wrapped by the model's own chat template. Base models: gsm8k gets the 8-shot
chain-of-thought exemplars of Wei et al. 2022 in lm-evaluation-harness `gsm8k_cot` format (answers end
"The answer is N."); every other benchmark gets the 4-shot Minerva prompt (Lewkowycz et al. 2022,
Appendix D; lm-evaluation-harness `minerva_math`, copied character for character, stray "}" included),
whose answers are boxed. Few-shot prompts stop at the next "Q:" / "Problem:".
"""

from __future__ import annotations

import re
from typing import Any

from ..types import Problem
from ..verify.math.extract import last_boxed  # the rule that finds a response's answer finds minerva's gold
from .registry import Benchmark, register

GSM8K_EXEMPLARS = (
    ("There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, there will be 21 trees. How many trees did the grove workers plant today?",
     "There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have been 21 - 15 = 6. The answer is 6."),
    ("If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
     "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5."),
    ("Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?",
     "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, they had 74 - 35 = 39. The answer is 39."),
    ("Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did Jason give to Denny?",
     "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. The answer is 8."),
    ("Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have now?",
     "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = 9. The answer is 9."),
    ("There were nine computers in the server room. Five more computers were installed each day, from monday to thursday. How many computers are now in the server room?",
     "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 computers were added. 9 + 20 is 29. The answer is 29."),
    ("Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf balls did he have at the end of wednesday?",
     "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, he had 35 - 2 = 33 golf balls. The answer is 33."),
    ("Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
     "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8."),
)
GSM8K_BASE = "".join(f"Q: {q}\nA: {a}\n\n" for q, a in GSM8K_EXEMPLARS) + "Q: {prompt}\nA:"

MINERVA_4SHOT = r"""Problem:
Find the domain of the expression  $\frac{\sqrt{x-2}}{\sqrt{5-x}}$.}

Solution:
The expressions inside each square root must be non-negative. Therefore, $x-2 \ge 0$, so $x\ge2$, and $5 - x \ge 0$, so $x \le 5$. Also, the denominator cannot be equal to zero, so $5-x>0$, which gives $x<5$. Therefore, the domain of the expression is $\boxed{[2,5)}$.
Final Answer: The final answer is $[2,5)$. I hope it is correct.

Problem:
If $\det \mathbf{A} = 2$ and $\det \mathbf{B} = 12,$ then find $\det (\mathbf{A} \mathbf{B}).$

Solution:
We have that $\det (\mathbf{A} \mathbf{B}) = (\det \mathbf{A})(\det \mathbf{B}) = (2)(12) = \boxed{24}.$
Final Answer: The final answer is $24$. I hope it is correct.

Problem:
Terrell usually lifts two 20-pound weights 12 times. If he uses two 15-pound weights instead, how many times must Terrell lift them in order to lift the same total weight?

Solution:
If Terrell lifts two 20-pound weights 12 times, he lifts a total of $2\cdot 12\cdot20=480$ pounds of weight.  If he lifts two 15-pound weights instead for $n$ times, he will lift a total of $2\cdot15\cdot n=30n$ pounds of weight.  Equating this to 480 pounds, we can solve for $n$:
\begin{align*}
30n&=480\\
\Rightarrow\qquad n&=480/30=\boxed{16}
\end{align*}
Final Answer: The final answer is $16$. I hope it is correct.

Problem:
If the system of equations

\begin{align*}
6x-4y&=a,\\
6y-9x &=b.
\end{align*}has a solution $(x, y)$ where $x$ and $y$ are both nonzero,
find $\frac{a}{b},$ assuming $b$ is nonzero.

Solution:
If we multiply the first equation by $-\frac{3}{2}$, we obtain

$$6y-9x=-\frac{3}{2}a.$$Since we also know that $6y-9x=b$, we have

$$-\frac{3}{2}a=b\Rightarrow\frac{a}{b}=\boxed{-\frac{2}{3}}.$$
Final Answer: The final answer is $-\frac{2}{3}$. I hope it is correct."""
MINERVA_BASE = MINERVA_4SHOT + "\n\nProblem:\n{prompt}\n\nSolution:"

_MINERVA_SOURCE = "base: Minerva 4-shot (Lewkowycz et al. 2022, App. D; lm-eval minerva_math); chat: Qwen2.5-Math / DeepSeek-R1 instruction"
_GSM8K_SOURCE = "base: 8-shot CoT of Wei et al. 2022 (lm-eval gsm8k_cot); chat: Qwen2.5-Math / DeepSeek-R1 instruction"


def _field(row: dict[str, Any], *names: str) -> Any:
    """The first present field: the hub copies and the harness files name some fields differently."""
    for name in names:
        if row.get(name) is not None:
            return row[name]
    raise KeyError(f"none of the fields {', '.join(names)} (row has {', '.join(sorted(row))})")


def number_string(value: Any) -> str:
    """27.0 -> "27", AIME's zero-padded "025" -> "25"; other values as written."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return str(int(text)) if re.fullmatch(r"-?\d+", text) else text


def _problem(bench: str, index: int, prompt: str, answer: str, row: dict[str, Any], **metadata: Any) -> Problem:
    source_id = row.get("unique_id", row.get("id", row.get("idx")))
    meta = dict(metadata)
    if source_id is not None:
        meta["source_id"] = str(source_id)
    return Problem(id=f"{bench}/{index}", prompt=str(prompt).strip(), answer=answer, metadata=meta)


def math500_problem(row: dict[str, Any], i: int) -> Problem:
    return _problem("math500", i, row["problem"], str(row["answer"]), row, level=row.get("level"), subject=row.get("subject"))


def gsm8k_problem(row: dict[str, Any], i: int) -> Problem:
    gold = str(row["answer"]).split("####")[-1].strip().replace(",", "")
    return _problem("gsm8k", i, row["question"], gold, row)


def competition_problem(bench: str):
    def to_problem(row: dict[str, Any], i: int) -> Problem:
        return _problem(bench, i, _field(row, "problem", "question"), number_string(_field(row, "answer")), row)

    return to_problem


def minerva_problem(row: dict[str, Any], i: int) -> Problem:
    gold = row.get("answer")
    if gold is None:
        gold = last_boxed(str(row["solution"]))
        if gold is None:
            raise KeyError("solution has no \\boxed{} answer")
        gold = gold.strip()
    return _problem("minerva_math", i, _field(row, "problem", "question"), str(gold), row, subject=row.get("type"))


def olympiad_problem(row: dict[str, Any], i: int) -> Problem:
    final = row["final_answer"]
    items = final if isinstance(final, (list, tuple)) else [final]
    gold = ", ".join(str(a).strip().strip("$").strip() for a in items)
    meta = {k: row.get(k) for k in ("answer_type", "unit", "is_multiple_answer", "error", "subfield")}
    context = row.get("context")  # a shared preamble for some multi-part problems (none in the maths OE subset)
    prompt = f"{context}\n{row['question']}" if context else row["question"]
    return _problem("olympiadbench", i, prompt, gold, row, **meta)


# data_hash of each known release -> its name (the hash covers the problems, not the file format)
KNOWN_VERSIONS = {
    "math500": {"sha256:2b53528e9b80c978": "MATH-500 (prm800k math_splits/test.jsonl)"},
    "gsm8k": {"sha256:d996afb48c09cd10": "GSM8K test (openai/grade-school-math test.jsonl)"},
    "aime24": {"sha256:4ccfcb4d04fcdf27": "AIME 2024 (Qwen2.5-Math evaluation/data/aime24)"},
    "aime25": {"sha256:a0b1eefcef83354d": "AIME 2025 (Absolute-Zero-Reasoner evaluation data)"},
    "amc23": {"sha256:396dfa707eabde71": "AMC 2023 (Qwen2.5-Math evaluation/data/amc23)"},
    "minerva_math": {"sha256:20bd62510ab29e53": "Minerva OCW Courses (Qwen2.5-Math evaluation/data/minerva_math)"},
    "olympiadbench": {"sha256:bdd79bec140586df": "OlympiadBench OE_TO_maths_en_COMP (Qwen2.5-Math evaluation/data/olympiadbench)"},
}


def _math(name: str, description: str, to_problem, size: int, hub_id: str, split: str, files: tuple[str, ...], hub_config: str | None = None, source: str = "") -> None:
    gsm = name == "gsm8k"
    register(
        Benchmark(
            name=name, family="math", description=description, to_problem=to_problem, source=source or hub_id,
            hub_id=hub_id, hub_config=hub_config, split=split, local_files=files, size=size, versions=KNOWN_VERSIONS[name],
            base_template=GSM8K_BASE if gsm else MINERVA_BASE,
            base_stop=("\nQ:",) if gsm else ("\n\nProblem:",),
            prompt_source=_GSM8K_SOURCE if gsm else _MINERVA_SOURCE,
        )
    )


_math("math500", "MATH-500 (Lightman et al. 2023 split of MATH), levels 1-5", math500_problem, 500,
      "HuggingFaceH4/MATH-500", "test", ("math500.jsonl", "math500/test.jsonl", "MATH-500.jsonl"),
      source="HuggingFaceH4/MATH-500 (openai/prm800k math_splits/test.jsonl, MIT)")
_math("gsm8k", "GSM8K grade-school math word problems, test split", gsm8k_problem, 1319,
      "openai/gsm8k", "test", ("gsm8k_test.jsonl", "gsm8k.jsonl", "gsm8k/test.jsonl"), hub_config="main",
      source="openai/grade-school-math test.jsonl (MIT)")
_math("aime24", "AIME 2024 I and II", competition_problem("aime24"), 30,
      "HuggingFaceH4/aime_2024", "train", ("aime24.jsonl", "aime24/test.jsonl", "aime_2024.jsonl"))
_math("aime25", "AIME 2025 I and II", competition_problem("aime25"), 30,
      "math-ai/aime25", "test", ("aime25.jsonl", "aime25/test.jsonl", "aime_2025.jsonl"))
_math("amc23", "AMC 2023 (the 40 problems of the Qwen2.5-Math harness)", competition_problem("amc23"), 40,
      "math-ai/amc23", "test", ("amc23.jsonl", "amc23/test.jsonl"))
_math("minerva_math", "Minerva OCW Courses: university STEM problems", minerva_problem, 272,
      "math-ai/minervamath", "test", ("minerva_math.jsonl", "minerva_math/test.jsonl", "minervamath.jsonl"))
_math("olympiadbench", "OlympiadBench open-ended English math, text only (OE_TO_maths_en_COMP)", olympiad_problem, 675,
      "Hothan/OlympiadBench", "train", ("olympiadbench.jsonl", "olympiadbench/test.jsonl"), hub_config="OE_TO_maths_en_COMP",
      source="Hothan/OlympiadBench OE_TO_maths_en_COMP (Apache-2.0)")
