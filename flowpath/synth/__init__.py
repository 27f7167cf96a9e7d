"""Random, realistic flowcharts with exact ground truth, rendered with mermaidx and degraded like scans.

>>> from flowpath.synth import random_flowchart
>>> g = random_flowchart(seed=3, n_nodes=8)
>>> len(g.nodes), g.nodes[0].kind
(8, 'start')
"""

from flowpath.synth.degrade import DEGRADATIONS, degrade
from flowpath.synth.generator import DOMAINS, random_flowchart
from flowpath.synth.render import THEMES, RenderedChart, render_chart, write_dataset

__all__ = [
    "DEGRADATIONS",
    "DOMAINS",
    "THEMES",
    "RenderedChart",
    "degrade",
    "random_flowchart",
    "render_chart",
    "write_dataset",
]
