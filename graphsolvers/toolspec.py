"""The tool convention every app follows: a typed function, its argument model, and one way to find it.

A tool is a :class:`ToolSpec`: a name, the description a model reads (the function's docstring up to its
first numpydoc section), a pydantic argument model (a :class:`ToolArgs`: unknown arguments are refused) and
``run(args, context) -> dict`` with a JSON-able result. The :class:`ToolContext` is whoever hosts the tool
(flowpath's ``ToolSession``, or :class:`TrustedContext` for a plain Python call): it resolves a ``graph``
argument (:data:`GraphRef`) and names the root folder file arguments must lie under.

Apps publish their tools in the ``graphsolvers.tools`` entry-point group (``[project.entry-points]`` in
``pyproject.toml``): each entry names a sequence of specs, and a host loads them with
:func:`plugin_tools`, so no app imports another. An entry may name the extra its tools need
(``connectome = "connectome.tools:TOOLS [connectome]"``): while a requirement of that extra is not installed, the
host leaves those tools out and says which to install.

Examples
--------
>>> class EchoArgs(ToolArgs):
...     text: str
>>> def echo(args: EchoArgs, context: ToolContext | None = None) -> dict:
...     '''Return the text unchanged.
...
...     Examples
...     --------
...     '''
...     return {"text": args.text}
>>> spec = ToolSpec.from_function(echo, EchoArgs)
>>> spec.name, spec.description, spec.run(EchoArgs(text="hi"), TrustedContext())
('echo', 'Return the text unchanged.', {'text': 'hi'})
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, PackageNotFoundError, entry_points, version
from pathlib import Path
from typing import Any, Protocol, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from graphsolvers.graph import Graph, ensure_graph
from graphsolvers.security import describe_validation_error

__all__ = [
    "GRAPH_REF_HELP",
    "TOOL_ENTRY_POINTS",
    "GraphRef",
    "ToolArgs",
    "ToolContext",
    "ToolSpec",
    "TrustedContext",
    "missing_requirements",
    "parameter_docs",
    "plugin_tools",
    "tool_description",
]

log = logging.getLogger(__name__)

TOOL_ENTRY_POINTS = "graphsolvers.tools"
"""The entry-point group in which an app names its sequence of :class:`ToolSpec`."""

GraphRef = str | dict[str, Any]
"""A graph argument: a handle of the host's store, graph JSON (object or string), Mermaid text or a graph file."""

GRAPH_REF_HELP = (
    "The graph: a handle returned by load_graph or parse_flowchart (e.g. 'graph-1a2b3c4d5e6f'), "
    "a graph JSON document (object or string), Mermaid flowchart text, or a path to a .json/.mmd graph file."
)

_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SECTION = re.compile(r"^\s*-{3,}\s*$")
_PARAMETER = re.compile(r"^(\w+)\s*:")


class ToolArgs(BaseModel):
    """Base of every tool's argument model: an argument the tool does not know is an error, not ignored."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def coerce(cls, args: BaseModel | Mapping[str, Any], *, error: type[Exception]) -> Self:
        """``args`` as this model (validated if it is a mapping); a problem raises ``error`` naming the fields only.

        Examples
        --------
        >>> class A(ToolArgs):
        ...     n: int
        >>> A.coerce({"n": "x"}, error=ValueError)
        Traceback (most recent call last):
        ...
        ValueError: invalid A: n: Input should be a valid integer, unable to parse string as an integer
        """
        if isinstance(args, cls):
            return args
        try:
            return cls.model_validate(args)
        except ValidationError as e:
            raise error(f"invalid {cls.__name__}: {describe_validation_error(e)}") from e


class ToolContext(Protocol):
    """What a tool may ask of its host: the folder file arguments must lie under, and the graph a reference names."""

    root: Path | None

    def graph(self, ref: GraphRef | Graph) -> Graph: ...


class TrustedContext:
    """The host of a plain Python call: no root (any path is read) and graphs given as a ``Graph`` or its JSON.

    Examples
    --------
    >>> TrustedContext().graph({"nodes": [{"id": "a"}]}).node_ids
    ['a']
    """

    root: Path | None = None

    def graph(self, ref: GraphRef | Graph) -> Graph:
        """``ref`` as a :class:`Graph` (a ``Graph``, its dict form or its JSON text)."""
        return ensure_graph(ref)


@dataclass(frozen=True)
class ToolSpec:
    """One tool: ``run(args_model(**arguments), context) -> dict``, described for a model by ``description``."""

    name: str
    description: str
    args_model: type[BaseModel]
    run: Callable[[Any, Any], dict[str, Any]]

    @classmethod
    def from_function(
        cls, run: Callable[[Any, Any], dict[str, Any]], args_model: type[BaseModel], *, name: str | None = None
    ) -> ToolSpec:
        """The spec of ``run``: its name (or ``name``) and the description in its docstring."""
        return cls(name or run.__name__, tool_description(run), args_model, run)


def tool_description(func: Callable[..., Any]) -> str:
    """A function's docstring up to its first numpydoc section: what a model reads about the tool.

    Examples
    --------
    >>> def f():
    ...     '''Do it.
    ...
    ...     Returns
    ...     -------
    ...     int
    ...     '''
    >>> tool_description(f)
    'Do it.'
    """
    lines = (inspect.getdoc(func) or "").splitlines()
    for i in range(len(lines) - 1):
        if _SECTION.match(lines[i + 1]) and lines[i].strip():
            lines = lines[:i]
            break
    return "\n".join(lines).strip()


def parameter_docs(func: Callable[..., Any]) -> dict[str, str]:
    """The descriptions in a numpydoc ``Parameters`` section, by parameter name, each joined into one line.

    Examples
    --------
    >>> def f(a, b=1):
    ...     '''Add.
    ...
    ...     Parameters
    ...     ----------
    ...     a : int
    ...         The first
    ...         number.
    ...     b : int
    ...         The second.
    ...     '''
    >>> parameter_docs(f)
    {'a': 'The first number.', 'b': 'The second.'}
    """
    lines = (inspect.getdoc(func) or "").splitlines()
    docs: dict[str, list[str]] = {}
    current: list[str] | None = None
    in_section = False
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and _SECTION.match(lines[i + 1]):
            in_section = line.strip() == "Parameters"
            current = None
            continue
        if not in_section or _SECTION.match(line):
            continue
        head = _PARAMETER.match(line)
        if head and not line.startswith(" "):
            current = docs.setdefault(head.group(1), [])
        elif current is not None and line.strip():
            current.append(line.strip())
    return {name: " ".join(words) for name, words in docs.items()}


def plugin_tools(group: str = TOOL_ENTRY_POINTS) -> list[ToolSpec]:
    """The tools the installed apps publish in entry-point ``group``, by entry name; an app that cannot be
    imported (its optional dependencies missing) is skipped with one warning that says why.

    Examples
    --------
    >>> plugin_tools("no.such.group")
    []
    """
    specs: list[ToolSpec] = []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        if missing := missing_requirements(ep):
            extras = ",".join(ep.extras)
            log.warning(
                "the %s tools are not available (%s not installed); install flowpath[%s]",
                ep.name,
                ", ".join(missing),
                extras,
            )
            continue
        try:
            provided: Sequence[ToolSpec] = ep.load()
        except ImportError as e:
            log.warning("the %s tools are not available (%s); install the app's extra to use them", ep.name, e)
            continue
        specs.extend(provided)
    return specs


def missing_requirements(ep: EntryPoint) -> list[str]:
    """The requirements of the extras ``ep`` names (``name = "module:attr [extra]"``) that are not installed.

    Examples
    --------
    >>> missing_requirements(EntryPoint(name="x", value="json:dumps", group=TOOL_ENTRY_POINTS))
    []
    """
    if not ep.extras or ep.dist is None:
        return []
    wanted = [
        text
        for text in ep.dist.requires or []
        if any(re.search(rf"extra\s*==\s*[\"']{re.escape(extra)}[\"']", text) for extra in ep.extras)
    ]
    missing = []
    for text in wanted:
        name = _REQUIREMENT_NAME.match(text.strip())
        try:
            version(name.group(0) if name else text)
        except PackageNotFoundError:
            missing.append(name.group(0) if name else text)
    return missing
