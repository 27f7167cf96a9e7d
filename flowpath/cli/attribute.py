"""``flowpath demo`` and ``flowpath attribute``: which nodes of a chart ground an answer."""

from __future__ import annotations

import argparse
from pathlib import Path

from flowpath.cli.common import add_policy, agent_for, format_result, load_chart, ocr_checked, write_overlay
from flowpath.errors import InputError
from graphsolvers.cli_support import add_command, check_output

__all__ = ["DEMO_ANSWER", "DEMO_QUESTION", "SAMPLE_CHART", "register"]

DEMO_QUESTION = "What happens when the card payment is declined?"
DEMO_ANSWER = "The customer is emailed to update the payment details, and the card is charged again."

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CHART = REPO_ROOT / "bench_data" / "samples" / "order_fulfilment.png"
DEMO_OVERLAY = Path("flowpath_demo.png")


def register(sub) -> None:
    demo = add_command(sub, _demo)
    demo.add_argument("--chart", type=Path, default=SAMPLE_CHART, help="chart image or graph file (default: sample)")
    demo.add_argument(
        "--overlay", type=Path, default=DEMO_OVERLAY, help=f"annotated picture to write (default: {DEMO_OVERLAY})"
    )

    attribute = add_command(
        sub,
        _attribute,
        epilog='Example:\n  flowpath attribute chart.png -q "What if the payment fails?" -a "Email the customer" '
        "--overlay out.png",
    )
    attribute.add_argument("chart", type=Path, help="flowchart image (PNG/JPEG/WebP/BMP) or .mmd/.json graph")
    attribute.add_argument("-q", "--question", required=True, help="the question asked about the chart")
    attribute.add_argument("-a", "--answer", required=True, help="the answer to attribute (e.g. an LLM's)")
    attribute.add_argument("--json", action="store_true", help="print the full result as JSON")
    attribute.add_argument("--overlay", type=Path, help="write the chart image with attributed nodes highlighted")
    add_policy(attribute)


@ocr_checked
def _demo(args: argparse.Namespace) -> int:
    """run the main job on a committed sample chart

    Parse the committed sample flowchart image, attribute an answer about it, print the grounding nodes and write a
    picture of them.
    """
    from flowpath.agent.graph import build_agent

    chart = load_chart(args.chart)
    if isinstance(chart, Path):
        check_output(args.overlay, flag="--overlay", inputs=[args.chart])
    print(f"chart: {args.chart.name}")
    print(f"question: {DEMO_QUESTION}")
    print(f"answer:   {DEMO_ANSWER}")
    agent = build_agent()
    result = agent.attribute(chart, DEMO_QUESTION, DEMO_ANSWER)
    print(format_result(result))
    if isinstance(chart, Path):
        write_overlay(args.overlay, chart, result, agent)
    return 0


@ocr_checked
def _attribute(args: argparse.Namespace) -> int:
    """which nodes of a flowchart ground an answer

    Return the minimal set of flowchart nodes (ids, texts, regions) that ground ANSWER to QUESTION, with the path
    between them and the agent's reasoning trace. CHART is a flowchart image or a graph file (.mmd Mermaid, .json
    graph).
    """
    chart = load_chart(args.chart)
    if args.overlay and not isinstance(chart, Path):
        raise InputError("--overlay needs a chart image, not a graph file")
    if args.overlay:
        check_output(args.overlay, flag="--overlay", inputs=[args.chart])
    agent = agent_for(args)
    result = agent.attribute(chart, args.question, args.answer)
    print(result.model_dump_json(indent=2) if args.json else format_result(result))
    if args.overlay:
        write_overlay(args.overlay, chart, result, agent)
    return 0
