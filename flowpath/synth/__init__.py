"""Random, realistic flowcharts with exact ground truth, rendered with mermaidx or Graphviz in a classic
set of looks (degraded like scans) or in any look (:mod:`flowpath.synth.looks`).

>>> from flowpath.synth import random_flowchart
>>> g = random_flowchart(seed=3, n_nodes=8)
>>> len(g.nodes), g.nodes[0].kind
(8, 'start')
"""

from flowpath.synth.degrade import DEGRADATIONS, degrade
from flowpath.synth.generator import DOMAINS, random_flowchart
from flowpath.synth.looks import HARD_LOOKS, LOOK_PRESETS, Look, random_look, wcag_contrast
from flowpath.synth.render import THEMES, RenderedChart, render_chart, render_look, write_dataset, write_hard_looks

__all__ = [
    "DEGRADATIONS",
    "DOMAINS",
    "HARD_LOOKS",
    "LOOK_PRESETS",
    "THEMES",
    "Look",
    "RenderedChart",
    "degrade",
    "random_flowchart",
    "random_look",
    "render_chart",
    "render_look",
    "wcag_contrast",
    "write_dataset",
    "write_hard_looks",
]
