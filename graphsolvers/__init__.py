"""graphsolvers — the core: the shared graph model, graph queries and solvers.

This package never imports the apps (:mod:`flowpath`, :mod:`connectome`).
"""

from importlib.metadata import PackageNotFoundError, version

from graphsolvers.errors import (
    CheckpointError,
    ConvergenceError,
    ConvergenceWarning,
    FeatureError,
    GraphStructureError,
    GraphValidationError,
    MermaidSyntaxError,
    ToolkitError,
)
from graphsolvers.graph import NODE_KINDS, Edge, Graph, GraphTensors, Node, to_tensors
from graphsolvers.mermaid import parse_mermaid, to_mermaid

__all__ = [
    "NODE_KINDS",
    "CheckpointError",
    "ConvergenceError",
    "ConvergenceWarning",
    "Edge",
    "FeatureError",
    "Graph",
    "GraphStructureError",
    "GraphTensors",
    "GraphValidationError",
    "MermaidSyntaxError",
    "Node",
    "ToolkitError",
    "parse_mermaid",
    "to_mermaid",
    "to_tensors",
]
try:
    __version__ = version("flowpath")
    """The installed distribution's version (set in ``pyproject.toml`` only)."""
except PackageNotFoundError:  # a source tree on sys.path that pip never installed
    __version__ = "0+unknown"
