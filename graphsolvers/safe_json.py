"""``json.loads`` for text from outside: nesting deeper than :data:`MAX_DEPTH` is refused before parsing.

Python's parser recurses once per level, so ``[[[[…]]]]`` a thousand deep ends in a ``RecursionError``
(and a few hundred levels can still exhaust the stack in whatever walks the result later: pydantic,
``json.dumps``, a graph's attributes). Every reader of user JSON in the project goes through :func:`loads`,
whose refusal is a :class:`json.JSONDecodeError`, so the callers' existing handlers turn it into their
own one-line error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["MAX_DEPTH", "JSONDepthError", "JSONValueError", "loads", "loads_or_raise"]

MAX_DEPTH = 100
"""Deepest nesting of arrays and objects accepted; a graph document needs about 5."""

_STRING = re.compile(r'"(?:[^"\\]|\\.)*+"', re.DOTALL)
_OPEN, _CLOSE = np.frombuffer(b"[{", np.uint8), np.frombuffer(b"]}", np.uint8)


class JSONDepthError(json.JSONDecodeError):
    """JSON text nested deeper than the limit (a :class:`json.JSONDecodeError`, message without a position)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"nested deeper than {limit} levels of arrays and objects", "", 0)
        self.limit = limit

    def __str__(self) -> str:
        return self.msg


class JSONValueError(json.JSONDecodeError):
    """Well-formed JSON holding a value Python refuses to build (an integer of more than 4300 digits)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "", 0)

    def __str__(self) -> str:
        return self.msg


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)``, refusing text whose arrays and objects nest deeper than ``max_depth``.

    Raises
    ------
    json.JSONDecodeError
        If ``text`` is not JSON, is nested too deeply (:class:`JSONDepthError`) or holds a number Python
        will not convert (:class:`JSONValueError`).

    Examples
    --------
    >>> loads('{"a": [1, {"b": "[[[["}]}')
    {'a': [1, {'b': '[[[['}]}
    >>> loads("[" * 5 + "]" * 5, max_depth=4)
    Traceback (most recent call last):
    ...
    graphsolvers.safe_json.JSONDepthError: nested deeper than 4 levels of arrays and objects
    """
    if isinstance(text, bytes | bytearray):  # as json.loads decodes bytes
        text = bytes(text).decode(json.detect_encoding(text), "surrogatepass")
    if depth_exceeds(text, max_depth):
        raise JSONDepthError(max_depth)
    try:
        return json.loads(text)
    except RecursionError:  # a limit above what the interpreter's stack allows
        raise JSONDepthError(max_depth) from None
    except json.JSONDecodeError:
        raise
    except ValueError as e:  # int("1" * 5000): "Exceeds the limit (4300 digits) for integer string conversion"
        raise JSONValueError(str(e).split(";")[0]) from None


def loads_or_raise(text: str | bytes, *, what: str, error: Callable[[str], Exception]) -> Any:
    """:func:`loads`, its refusal raised as the caller's own one-line ``error`` naming ``what`` was read.

    Parameters
    ----------
    text : str or bytes
        JSON from outside.
    what : str
        How the message names the text (``"--args"``, ``"graph JSON"``).
    error : callable
        The exception type (or factory) to raise, given the message.

    Raises
    ------
    Exception
        ``error("WHAT is nested deeper than ...")`` for too deep a text (no cause: the depth says it all),
        ``error("WHAT is not valid JSON: ...")`` for any other refusal, from the decoding error.

    Examples
    --------
    >>> loads_or_raise('{"a": 1}', what="--args", error=ValueError)
    {'a': 1}
    >>> loads_or_raise("{", what="--args", error=ValueError)
    Traceback (most recent call last):
    ...
    ValueError: --args is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)
    """
    try:
        return loads(text)
    except JSONDepthError as e:
        raise error(f"{what} is {e}") from None
    except json.JSONDecodeError as e:
        raise error(f"{what} is not valid JSON: {e}") from e


def depth_exceeds(text: str, limit: int) -> bool:
    """Whether the arrays and objects of JSON ``text`` nest deeper than ``limit`` (brackets in strings do not count).

    Linear in the text and without recursion; text that is not JSON gives some answer and fails later.

    Examples
    --------
    >>> depth_exceeds('[[1], {"a": "[[[["}]', 2), depth_exceeds('[[1], {"a": [2]}]', 2)
    (False, True)
    """
    if text.count("[") + text.count("{") <= limit:  # cannot nest deeper: the common case, no scan
        return False
    codes = np.frombuffer(_STRING.sub('""', text).encode("utf-8", "surrogatepass"), np.uint8)
    opens, closes = np.isin(codes, _OPEN), np.isin(codes, _CLOSE)
    steps = opens[opens | closes].astype(np.int32) * 2 - 1
    return bool(steps.size) and int(np.cumsum(steps).max()) > limit
