"""Honest micro precision / recall / F1 over attributed nodes.

A question with an empty prediction counts every gold node as a miss (the paper's script skips
such questions; this one does not). From the Mermaid graph, nodes match by id; from the image,
predicted regions match gold boxes one-to-one at an IoU threshold.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Counts", "iou", "match_boxes", "match_ids"]

Box = Sequence[float]


@dataclass
class Counts:
    """True positives, false positives and false negatives, summed over questions."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, tp: int, fp: int, fn: int) -> None:
        self.tp, self.fp, self.fn = self.tp + tp, self.fp + fp, self.fn + fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """Micro F1; 0 when nothing was found.

        Examples
        --------
        >>> c = Counts(); c.add(3, 1, 2); round(c.f1, 3)
        0.667
        """
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0


def match_ids(pred: Iterable[str], gold: Iterable[str]) -> tuple[int, int, int]:
    """(tp, fp, fn) of predicted node ids against gold ids.

    Examples
    --------
    >>> match_ids(["A", "B"], ["B", "C", "D"])
    (1, 1, 2)
    """
    p, g = set(pred), set(gold)
    return len(p & g), len(p - g), len(g - p)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes.

    Examples
    --------
    >>> iou((0, 0, 10, 10), (5, 0, 15, 10))
    0.3333333333333333
    """
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_boxes(pred: Sequence[Box], gold: Sequence[Box], *, threshold: float = 0.5) -> tuple[int, int, int]:
    """(tp, fp, fn) of predicted regions matched one-to-one to gold boxes at ``iou >= threshold``.

    Pairs are taken greedily by decreasing IoU, so each gold box is claimed at most once.

    Examples
    --------
    >>> match_boxes([(0, 0, 10, 10), (0, 0, 10, 10)], [(0, 0, 10, 9)])
    (1, 1, 0)
    """
    pairs = sorted(((iou(p, g), i, j) for i, p in enumerate(pred) for j, g in enumerate(gold)), reverse=True)
    used_p: set[int] = set()
    used_g: set[int] = set()
    for value, i, j in pairs:
        if value < threshold:
            break
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
    tp = len(used_p)
    return tp, len(pred) - tp, len(gold) - tp
