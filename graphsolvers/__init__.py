"""graphsolvers — the core: the shared graph model, graph queries and solvers.

This package never imports the apps (:mod:`flowpath`, :mod:`connectome`).
"""

from graphsolvers.errors import ConvergenceError, GraphValidationError, MermaidSyntaxError, ToolkitError
from graphsolvers.graph import NODE_KINDS, Edge, Graph, GraphTensors, Node, to_tensors
from graphsolvers.mermaid import parse_mermaid, to_mermaid

__all__ = [
    "NODE_KINDS",
    "ConvergenceError",
    "Edge",
    "Graph",
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
