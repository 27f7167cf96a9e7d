from __future__ import annotations

import subprocess
import sys

import pytest

from flowpath.cli import main


@pytest.mark.slow
def test_demo_attributes_on_the_sample_chart(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    assert (tmp_path / "flowpath_demo.png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "attributed nodes" in out
    assert "Email the customer to update payment details" in out
    assert "Offer the customer a refund" not in out


def test_no_command_prints_help_and_exits_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "flowpath"], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage: flowpath" in proc.stderr
