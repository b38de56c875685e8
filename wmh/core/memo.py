"""Caches of functions of texts, bounded in the characters they hold as well as in entries.

A serving process caches what it works out of a call's text (its n-gram hashes, tokens,
vectors, records), since calls recur. Bounded by entries alone, such a cache held every text an
agent sent, however long: two thousand distinct 100 KB calls left 3.6 GB behind. Here a text of
at most `small` characters goes to a C `lru_cache` of `entries` (its worst case is `entries` x
`small`), and a longer one to a least-recently-used cache of at most `chars` characters in all;
one longer than a sixteenth of that is worked out each time, not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache, update_wrapper
from typing import Any, Generic, TypeVar

R = TypeVar("R")

SMALL = 512  # characters of a text cached in the C cache
_MISSING = object()


def first_length(args: tuple[Any, ...]) -> int:
    """The length of a call's first argument (a function of one text)."""
    return len(args[0])


class TextCache(Generic[R]):
    """`function(*args)` remembered by its (hashable) arguments, bounded as the module says."""

    def __init__(
        self,
        function: Callable[..., R],
        entries: int,
        chars: int,
        small: int = SMALL,
        length: Callable[[tuple[Any, ...]], int] = first_length,
    ) -> None:
        self.function = function
        self.chars = chars
        self.small = small
        self.length = length
        self._fast = lru_cache(maxsize=entries)(function)
        self._large: OrderedDict[tuple[Any, ...], tuple[R, int]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()
        update_wrapper(self, function)

    def __call__(self, *args: Any) -> R:
        size = self.length(args)
        if size <= self.small:
            return self._fast(*args)
        with self._lock:
            found = self._large.get(args, _MISSING)
            if found is not _MISSING:
                self._large.move_to_end(args)
                return found[0]  # type: ignore[index]
        value = self.function(*args)
        if size * 16 <= self.chars:
            with self._lock:
                if args not in self._large:
                    self._large[args] = (value, size)
                    self._held += size
                    while self._held > self.chars:
                        _, (_, dropped) = self._large.popitem(last=False)
                        self._held -= dropped
        return value

    @property
    def held_chars(self) -> int:
        """Characters of the long texts kept."""
        return self._held

    def __len__(self) -> int:
        return self._fast.cache_info().currsize + len(self._large)

    def cache_clear(self) -> None:
        self._fast.cache_clear()
        with self._lock:
            self._large.clear()
            self._held = 0


def text_cache(
    entries: int, chars: int, length: Callable[[tuple[Any, ...]], int] = first_length
) -> Callable[[Callable[..., R]], TextCache[R]]:
    """`TextCache` as a decorator (of a function of one text, first, by default)."""

    def wrap(function: Callable[..., R]) -> TextCache[R]:
        return TextCache(function, entries, chars, length=length)

    return wrap
