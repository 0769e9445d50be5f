"""Program assembly: which part of a sample is the program (pure text, nothing runs)."""

from evalkit.verify.code.assemble import assemble, code_blocks, defines

PROMPT = 'def add(a, b):\n    """Add two numbers."""\n'


def test_completion_continues_the_prompt():
    a = assemble(PROMPT, "    return a + b\n", "add")
    assert a.shape == "completion" and a.program == PROMPT + "    return a + b\n"


def test_full_solution_keeps_the_prompt_first():
    full = "import math\n\ndef add(a, b):\n    return a + b\n"
    a = assemble(PROMPT, full, "add")
    assert a.shape == "full" and a.program.endswith(full) and a.program.startswith(PROMPT)


def test_chat_answer_takes_the_last_block_that_defines_the_entry_point():
    text = ("Here is a helper:\n```python\ndef helper():\n    pass\n```\nAnd the answer:\n```python\n"
            "def add(a, b):\n    return a + b\n```\nA later usage example:\n```\nprint(add(1, 2))\n```\n")
    a = assemble(PROMPT, text, "add")
    assert a.shape == "block" and "return a + b" in a.program and "print(add" not in a.program


def test_chat_answer_without_a_defining_block_says_so():
    a = assemble(PROMPT, "```python\nprint('hi')\n```", "add")
    assert a.program is None and "no code block defines add" in a.reason


def test_unclosed_block_and_language_tags():
    assert code_blocks("```py\nx = 1\n") == ["x = 1\n"]
    assert code_blocks("```javascript\nlet x\n```") == []
    assert defines("class add:\n    pass", "add") and not defines("def other(): pass", "add")
    assert not defines("def add(:", "add")
