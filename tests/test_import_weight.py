"""Light entry points stay light: listing or calling tools, starting the CLI or a parse worker must not
import torch (about 2 s and 250 MB per process) — each heavy part loads when it is used."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch",)


@pytest.mark.parametrize(
    "module",
    ["flowpath.tools", "flowpath.cli", "flowpath.serve.engine", "graphsolvers.cgs.tools", "connectome.tools"],
)
def test_module_does_not_import_torch(module: str) -> None:
    code = f"import sys, {module}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"importing {module} imports {out}"


def test_lazy_names_still_load() -> None:
    import connectome
    import graphsolvers.cgs

    assert callable(connectome.run_pipeline) and graphsolvers.cgs.CGS.__name__ == "CGS"
    with pytest.raises(AttributeError):
        _ = connectome.no_such_name
