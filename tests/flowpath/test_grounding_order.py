"""Lexical grounding does not depend on the order a set yields its words (PYTHONHASHSEED)."""

import os
import subprocess
import sys
from pathlib import Path

import flowpath

HASH_SEEDS = ("0", "1", "2", "3")  # four string-hash orders: the unordered sum differed under these
SCRIPT = """
from flowpath.agent.grounding import greedy_cover, token_coverage
nodes = [{"preheat", "oven", "degre", "tray"}, {"mix", "flour", "sugar", "butter", "egg"},
         {"bake", "minut", "golden", "oven"}, {"cool", "rack", "serv", "slice", "cream"}]
text = {"mix", "flour", "sugar", "bake", "golden", "cool", "slice", "cream", "oven", "egg", "rack"}
print([v.tolist() for v in (*token_coverage(nodes, text), *greedy_cover(nodes, text))])
"""


def _scores_under(seed: str, cwd: Path) -> str:
    """The lexical scores printed by a fresh interpreter (this test's flowpath) under one hash seed."""
    root = str(Path(flowpath.__file__).parents[1])
    env = {
        **os.environ,
        "PYTHONHASHSEED": seed,
        "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
    }
    run = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    return run.stdout


def test_lexical_scores_are_the_same_bits_under_every_hash_seed(tmp_path):
    runs = {seed: _scores_under(seed, tmp_path) for seed in HASH_SEEDS}
    assert len(set(runs.values())) == 1, runs
