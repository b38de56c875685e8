"""Text sizes: the token estimate, cutting to a budget with a marker that counts exactly what was
left out, and counts with their nouns in the right number."""

from __future__ import annotations

import re

from wmh.core.text import clip, counted, estimate_tokens


def test_the_token_estimate_is_two_sevenths_of_the_characters_rounded_up() -> None:
    assert [estimate_tokens("x" * n) for n in (0, 1, 3, 4, 7, 35)] == [0, 1, 1, 2, 2, 10]


def test_a_text_within_its_budget_is_kept_whole() -> None:
    text = "x" * 35  # 10 tokens
    assert clip(text, 10) is text
    assert clip("", 0) == ""


def test_a_clipped_text_keeps_its_head_and_tail_and_counts_exactly_what_it_cut() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    clipped = clip(text, 20, what="observation")  # keeps 70 characters: 46 ahead, 23 behind
    head, marker, tail = clipped.split("\n")
    assert (head, tail) == (text[:46], text[-23:])
    assert marker == "[… observation truncated: 931 characters …]"
    said = int(re.search(r"truncated: (\d+) characters", marker).group(1))
    assert said + len(head) + len(tail) == len(text)
    # The smallest cut still keeps 16 characters: 10 ahead, 5 behind.
    head, marker, tail = clip(text, 1).split("\n")
    assert (head, tail) == (text[:10], text[-5:])
    assert marker == "[… text truncated: 985 characters …]"


def test_counts_take_their_noun_in_the_right_number() -> None:
    assert [counted(n, "trace") for n in (0, 1, 2)] == ["0 traces", "1 trace", "2 traces"]
    assert counted(1, "entry", "entries") == "1 entry"
    assert counted(0, "entry", "entries") == "0 entries"
    assert counted(3, "entry", "entries") == "3 entries"
