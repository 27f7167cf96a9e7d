"""graphsolvers — the core: the shared graph model, graph queries and solvers.

This package never imports the apps (:mod:`flowpath`, :mod:`connectome`).
"""

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
__version__ = "0.1.0"
