"""flowpath — fine-grained flowchart attribution with a neurosymbolic agent.

The app side of the project: flowchart images to symbolic graphs, attribution of answers to
flowchart nodes, FlowExplainBench evaluation and the agent tool library. The shared graph model
lives in :mod:`graphsolvers.graph`.
"""

from graphsolvers import __version__

__all__ = ["__version__"]
