"""Flowchart images → symbolic graphs, on a CPU with no downloads (OpenCV + rapidocr's bundled PP-OCR).

>>> from flowpath.vision import parse_image  # doctest: +SKIP
>>> graph = parse_image("chart.png")  # doctest: +SKIP
"""

from flowpath.vision.image import MAX_PIXELS, load_image
from flowpath.vision.parse import PARSER_VERSION, parse_image

__all__ = ["MAX_PIXELS", "PARSER_VERSION", "load_image", "parse_image"]
