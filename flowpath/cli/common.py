"""What several ``flowpath`` command groups share: the policy flags, the agent they choose, charts, results."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

from flowpath.errors import InputError
from graphsolvers.cli_support import option_error, options, write_atomic
from graphsolvers.graph import Graph
from graphsolvers.io import GRAPH_SUFFIXES, load_graph

__all__ = [
    "NO_EMBEDDINGS_HELP",
    "OCR_EPILOG",
    "add_policy",
    "agent_for",
    "format_result",
    "load_chart",
    "ocr_checked",
    "write_overlay",
]

OCR_EPILOG = (
    "Text recogniser: FLOWPATH_OCR_MODEL=int8 (default; built once from the rapidocr wheel's model into\n"
    "FLOWPATH_CACHE_DIR or ~/.cache/flowpath, about 10 s) or fp32 (the wheel's model as shipped, slower)."
)
LLM_BACKEND_OPTIONS = ("base_url", "model", "path", "gguf")
"""The --llm-* flags that choose a chat model (only --policy llm takes them)."""
LLM_OPTIONS = (*LLM_BACKEND_OPTIONS, "max_steps", "max_new_tokens")
"""Every --llm-* flag, by its :class:`~flowpath.agent.llm.LLMConfig` field."""
NO_EMBEDDINGS_HELP = "lexical grounding only (no MiniLM); content questions then use the symbolic rules"


def add_policy(parser: argparse.ArgumentParser) -> None:
    """--no-embeddings, --policy and the llm policy's flags."""
    parser.add_argument("--no-embeddings", action="store_true", help=NO_EMBEDDINGS_HELP)
    parser.add_argument(
        "--policy",
        choices=["learned", "symbolic", "llm"],
        default="learned",
        help="learned: tools for structural questions + trained node scorer (default); symbolic: rules only; "
        "llm: a chat model calls the graph tools (needs --llm-base-url + --llm-model, or --llm-path)",
    )
    llm = parser.add_argument_group("llm policy")
    llm.add_argument("--llm-base-url", metavar="URL", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    llm.add_argument("--llm-model", metavar="NAME", help="model name on that server (API key: $OPENAI_API_KEY)")
    llm.add_argument("--llm-path", metavar="DIR", help="local Hugging Face model folder (never downloads)")
    llm.add_argument("--llm-gguf", metavar="FILE", help="GGUF file name inside --llm-path")
    llm.add_argument("--llm-max-steps", type=int, default=6, metavar="N", help="model turns per question (default 6)")
    llm.add_argument(
        "--llm-max-new-tokens", type=int, default=96, metavar="N", help="local model: tokens per turn (default 96)"
    )


def agent_for(args: argparse.Namespace):
    """The agent for the --policy flags; the llm policy's backend flags are checked before anything loads."""
    from flowpath.agent.graph import build_agent

    policy_options: dict = {}
    if args.policy == "llm":
        policy_options["llm"] = _llm_config(args)
    elif any(options(args, *LLM_BACKEND_OPTIONS, prefix="llm_").values()):
        raise InputError("--llm-* flags need --policy llm")
    return build_agent(policy=args.policy, use_embeddings=not args.no_embeddings, policy_options=policy_options)


def _llm_config(args: argparse.Namespace):
    from pydantic import ValidationError

    from flowpath.agent.llm import LLMConfig

    try:
        cfg = LLMConfig(**options(args, *LLM_OPTIONS, prefix="llm_"))
    except ValidationError as e:
        raise InputError(option_error(e, prefix="--llm-")) from None
    if args.llm_path and not Path(args.llm_path).is_dir():
        raise InputError(f"--llm-path {args.llm_path!r} is not a folder")
    if args.llm_gguf and not (Path(args.llm_path) / args.llm_gguf).is_file():
        raise InputError(f"--llm-gguf {args.llm_gguf!r} is not a file in {args.llm_path}")
    return cfg


def load_chart(path: Path) -> Graph | Path:
    """A graph file is loaded; an image path is handed to the agent (which parses it)."""
    if not path.is_file():
        raise InputError(f"no such file: {str(path)!r}")
    return load_graph(path) if path.suffix.lower() in GRAPH_SUFFIXES else path


def write_overlay(out: Path, chart: Path, result, agent) -> None:
    from flowpath.overlay import attribution_overlay

    write_atomic(out, attribution_overlay(chart, result, agent.graph_of(chart)))
    print(f"overlay written to {out}", file=sys.stderr)


def format_result(result) -> str:
    """Human-readable attribution: nodes with scores and regions, path edges, reason."""
    if not result.nodes:
        return f"no attribution: {result.reason}"
    lines = [f"attributed nodes ({result.intent}):"]
    for n in result.nodes:
        box = f"  bbox={[round(v) for v in n.bbox]}" if n.bbox else ""
        lines.append(f"  {n.id:<4} {n.kind:<9} {n.score:.2f}  {n.text}{box}")
    if result.edges:
        lines.append("path edges:")
        lines += [f"  {e.source} -> {e.target}" + (f"  [{e.label}]" if e.label else "") for e in result.edges]
    lines.append(f"reason: {result.reason}")
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)


def ocr_checked(func: Callable[[argparse.Namespace], int | None]) -> Callable[[argparse.Namespace], int | None]:
    """``func`` preceded by a check of FLOWPATH_OCR_MODEL, so a bad value fails before any work starts (a decorator
    of command handlers; the name and docstring stay ``func``'s, which :func:`add_command` reads)."""

    @functools.wraps(func)
    def checked(args: argparse.Namespace) -> int | None:
        from flowpath.vision.ocr_model import ocr_precision

        ocr_precision()
        return func(args)

    return checked
