"""Package attributes that load on first use (PEP 562), so that importing a package for one light part
(its errors, its tool specs) does not import its heavy parts (torch, scipy) with it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports each public name from its submodule on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    homes : mapping of str to str
        Public name -> the submodule (relative to ``package``) that defines it.

    Examples
    --------
    >>> getattr_ = lazy_exports("graphsolvers", {"Graph": "graph"})
    >>> getattr_("Graph").__name__
    'Graph'
    >>> getattr_("Nothing")
    Traceback (most recent call last):
    ...
    AttributeError: module 'graphsolvers' has no attribute 'Nothing'
    """

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{homes[name]}"), name)

    return __getattr__
