"""``flowpath`` command line. Parses arguments and prints; the work happens in library functions."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flowpath.agent.graphnet import EPOCHS, NETS
from flowpath.bench.dataset import ANSWER_FIELDS
from flowpath.errors import InputError
from graphsolvers import safe_json
from graphsolvers.cli_support import (
    HelpFormatter,
    OneLineArgumentParser,
    add_verbosity,
    check_output,
    run_cli,
    staged_folder,
    write_atomic,
)
from graphsolvers.graph import Graph
from graphsolvers.io import GRAPH_SUFFIXES, load_graph

DEMO_QUESTION = "What happens when the card payment is declined?"
DEMO_ANSWER = "The customer is emailed to update the payment details, and the card is charged again."

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CHART = REPO_ROOT / "bench_data" / "samples" / "order_fulfilment.png"
DEMO_OVERLAY = Path("flowpath_demo.png")

OCR_EPILOG = (
    "Text recogniser: FLOWPATH_OCR_MODEL=int8 (default; built once from the rapidocr wheel's model into\n"
    "FLOWPATH_CACHE_DIR or ~/.cache/flowpath, about 10 s) or fp32 (the wheel's model as shipped, slower)."
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="flowpath",
        description="Fine-grained flowchart attribution: which flowchart nodes ground an answer.",
        epilog="Start with:  flowpath demo",
        formatter_class=HelpFormatter,
    )
    add_verbosity(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="run the main job on a committed sample chart",
        description="Parse the committed sample flowchart image, attribute an answer about it, print the grounding "
        "nodes and write a picture of them.",
    )
    demo.add_argument("--chart", type=Path, default=SAMPLE_CHART, help="chart image or graph file (default: sample)")
    demo.add_argument(
        "--overlay", type=Path, default=DEMO_OVERLAY, help=f"annotated picture to write (default: {DEMO_OVERLAY})"
    )
    demo.set_defaults(func=_ocr_checked(_demo))

    attribute = sub.add_parser(
        "attribute",
        help="which nodes of a flowchart ground an answer",
        description="Return the minimal set of flowchart nodes (ids, texts, regions) that ground ANSWER to "
        "QUESTION, with the path between them and the agent's reasoning trace. CHART is a flowchart image "
        "or a graph file (.mmd Mermaid, .json graph).",
        epilog='Example:\n  flowpath attribute chart.png -q "What if the payment fails?" -a "Email the customer" '
        "--overlay out.png",
        formatter_class=HelpFormatter,
    )
    attribute.add_argument("chart", type=Path, help="flowchart image (PNG/JPEG/WebP/BMP) or .mmd/.json graph")
    attribute.add_argument("-q", "--question", required=True, help="the question asked about the chart")
    attribute.add_argument("-a", "--answer", required=True, help="the answer to attribute (e.g. an LLM's)")
    attribute.add_argument("--json", action="store_true", help="print the full result as JSON")
    attribute.add_argument("--overlay", type=Path, help="write the chart image with attributed nodes highlighted")
    attribute.add_argument(
        "--no-embeddings",
        action="store_true",
        help="lexical grounding only (no MiniLM); content questions then use the symbolic rules",
    )
    _add_policy(attribute)
    attribute.set_defaults(func=_ocr_checked(_attribute))

    bench = sub.add_parser(
        "bench",
        help="score attribution on FlowExplainBench",
        description="Run the agent and two baselines (lexical overlap, embedding top-k) over FlowExplainBench and "
        "report micro precision/recall/F1 overall, by domain and by question type. Empty predictions count as "
        "misses. The benchmark comes from the public FollowTheFlow repository (its data/ folder), accepted "
        "unchanged.",
        epilog="Example:\n  flowpath bench --data ../shared/flowexplainbench/dev --graph-source mermaid "
        "--report report.md",
        formatter_class=HelpFormatter,
    )
    bench.add_argument("--data", type=Path, help="FollowTheFlow data/ folder (default: $FLOWEXPLAINBENCH_DIR)")
    bench.add_argument(
        "--graph-source",
        choices=["image", "mermaid"],
        default="image",
        help="parse chart images (default) or use the Mermaid source as an oracle graph",
    )
    bench.add_argument("--out", type=Path, help="write one JSON line of predictions per question here")
    bench.add_argument("--report", type=Path, help="write a Markdown report here")
    bench.add_argument("--limit", type=int, help="only the first N questions")
    bench.add_argument("--workers", type=int, default=1, help="processes for parsing chart images (default 1)")
    bench.add_argument(
        "--parse-cache",
        type=Path,
        metavar="DIR",
        help="keep parsed chart graphs here (by image hash) so reruns skip parsing",
    )
    bench.add_argument(
        "--no-embeddings",
        action="store_true",
        help="lexical grounding only (no MiniLM); content questions then use the symbolic rules",
    )
    _add_policy(bench)
    bench.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="learned policy: score each chart with a scorer trained on the other K-1 folds of "
        "--data (honest numbers on the data the committed weights were trained on)",
    )
    bench.add_argument("--seed", type=int, default=0, help="fold assignment seed for --cv (default 0)")
    bench.add_argument(
        "--answer",
        choices=ANSWER_FIELDS,
        default="a1",
        help="which reference answer to attribute: a1 (default) or its paraphrases a2 / a3, a check that "
        "the agent does not hang on one wording",
    )
    bench.set_defaults(func=_ocr_checked(_bench))

    train = sub.add_parser(
        "train-scorer",
        help="train the learned policy's node scorer",
        description="Train the node-relevance scorer of the learned policy on a FlowExplainBench folder (Mermaid "
        "graphs; every content question once with each of its reference answers a1/a2/a3), report its "
        "chart-split cross-validated F1 on content questions (answer a1), and write the weights.",
        epilog="Reproduce the committed weights:\n  flowpath train-scorer --data ../shared/flowexplainbench/dev",
        formatter_class=HelpFormatter,
    )
    train.add_argument("--data", type=Path, help="FollowTheFlow data/ folder (default: $FLOWEXPLAINBENCH_DIR)")
    train.add_argument("--folds", type=int, default=5, help="cross-validation folds, split by chart (default 5)")
    train.add_argument(
        "--iterations", type=int, default=300, help="boosting iterations (trees) of the scorer (default 300)"
    )
    train.add_argument(
        "--epochs", type=int, default=EPOCHS, help=f"training epochs of each message-passing net (default {EPOCHS})"
    )
    train.add_argument(
        "--nets", type=int, default=NETS, help=f"message-passing nets averaged with the trees (default {NETS})"
    )
    train.add_argument("--seed", type=int, default=0, help="seed for the folds, the trees and the nets (default 0)")
    train.add_argument("--out", type=Path, help="weights file (default: the committed flowpath/agent/weights/…)")
    train.set_defaults(func=_train_scorer)

    parse = sub.add_parser(
        "parse",
        help="read flowchart images into graphs",
        description="Parse flowchart images (PNG/JPEG/WebP/BMP) into the shared graph model. Prints one JSON line "
        'per image in input order: {"image": PATH, "graph": GRAPH} or {"image": PATH, "error": MESSAGE}.',
        epilog="Example:\n  flowpath parse chart.png --mermaid\n\n" + OCR_EPILOG,
        formatter_class=HelpFormatter,
    )
    parse.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="flowchart image files")
    parse.add_argument("--jsonl", type=Path, metavar="OUT", help="write the JSON lines to OUT instead of stdout")
    parse.add_argument("--mermaid", action="store_true", help="print each graph as Mermaid instead of JSON")
    parse.add_argument("--overlay", type=Path, metavar="DIR", help="write each image with the parse drawn on it")
    parse.set_defaults(func=_ocr_checked(_parse))

    ev = sub.add_parser(
        "eval-parse",
        help="score the image parser on charts with known graphs",
        description="Parse every chart of a FlowExplainBench-layout folder (dataset.json, images/<key>/original.png "
        "or chart.png, annotations.json) and score nodes, labels, edges and edge labels against the gold graphs.",
        epilog="Example:\n  flowpath eval-parse --data ../shared/flowexplainbench/dev --limit 80 --json\n\n"
        + OCR_EPILOG,
        formatter_class=HelpFormatter,
    )
    ev.add_argument("--data", type=Path, required=True, metavar="DIR", help="data folder (dataset.json, images/)")
    ev.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="score only the first N charts in key order (FlowExplainBench keys sort by domain, code charts "
        "first, which are smaller than most: time the whole set)",
    )
    ev.add_argument("--report", type=Path, metavar="DIR", help="write report.md, scores.jsonl and overlays here")
    ev.add_argument("--json", action="store_true", help="print the summary as JSON")
    ev.set_defaults(func=_ocr_checked(_eval_parse))

    syn = sub.add_parser(
        "synth",
        help="generate random rendered flowcharts with exact ground truth",
        description="Write random flowcharts with their exact graphs and node boxes, in the layout eval-parse "
        "reads. --looks picks what they look like:\n"
        "  classic  mermaidx in 4 themes on their own page colour, TD/LR/BT/RL, scale 1-2, about 30% drawn by "
        "Graphviz;\n"
        "           --degraded of them get 1-3 of JPEG, blur, noise, rotation, perspective, downscale "
        "(the default)\n"
        "  zoo      any look: mermaid (3/4; themes default/forest/neutral/dark or base with random colours) or "
        "Graphviz,\n"
        "           named page colours (white to near-black; connectors at least 1.5:1 against the page), "
        "any direction,\n"
        "           scale 0.5-1.5, solid/dotted/thick/mixed links, curved/straight/elbow routing, half with "
        "1-3 extra\n"
        "           crossing edges, half JPEG (quality 50-95, written as chart.jpg), a quarter mildly blurred "
        "or rotated\n"
        "  small    another renderer's small JPEGs: height 200-500 px, always JPEG (quality 50-90), coloured "
        "or grey pages,\n"
        "           mostly LR, dotted and thick links, mostly with crossing edges; both renderers\n"
        "  hard     the 7 fixed Mermaid charts of issue #8's hard looks (7-8 nodes each; --n, --seed, --nodes "
        "and the\n"
        "           classic options are ignored): default theme on a mid-grey page, default theme on black "
        "(#333333 lines),\n"
        "           dark theme (LR), a 250 px tall JPEG (quality 60) on light blue, LR with 2 crossing "
        "edges, mixed\n"
        "           solid/dotted/thick links, elbow routing; keys hard-<look> (bench_data/looks is this "
        "output)\n"
        "Zoo, small and hard charts record their look in dataset.json; eval-parse reports every figure per look.",
        epilog="Examples:\n  flowpath synth --out /tmp/zoo --n 200 --looks zoo --nodes 5 20\n"
        "  flowpath synth --out /tmp/small --n 200 --looks small --nodes 4 12\n"
        "  flowpath synth --out bench_data/looks --looks hard",
        formatter_class=HelpFormatter,
    )
    syn.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created)")
    syn.add_argument("--n", type=int, default=50, help="number of charts (default 50)")
    syn.add_argument("--seed", type=int, default=0, help="random seed; chart i uses seed*100003+i (default 0)")
    syn.add_argument(
        "--looks",
        default="classic",
        metavar="PRESET",
        help="what the charts look like: classic, zoo, small or hard (see above; default classic)",
    )
    syn.add_argument("--degraded", type=float, default=0.5, help="classic: fraction of degraded charts (default 0.5)")
    syn.add_argument("--nodes", type=int, nargs=2, default=(5, 45), metavar=("MIN", "MAX"), help="node count range")
    syn.add_argument("--no-noise", action="store_true", help="classic: leave out the noise degradation (smaller PNGs)")
    syn.add_argument(
        "--graphviz",
        type=float,
        default=0.3,
        help="classic: fraction drawn by Graphviz dot (default 0.3); zoo/small: 0 leaves Graphviz out, any "
        "other value keeps the preset's share",
    )
    syn.set_defaults(func=_synth)
    _add_tool_commands(sub)
    serve = sub.add_parser(
        "serve",
        help="the web page and the HTTP API (FastAPI on uvicorn)",
        description="Serve the attribution page at / and the HTTP API under /v1 (docs/serve.md; OpenAPI at "
        "/openapi.json). File arguments of /v1/tools and the `graph` field must lie under --root.",
        epilog="Example:\n  flowpath serve --port 8000 --workers 2   then open http://127.0.0.1:8000/",
        formatter_class=HelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--root", type=Path, default=Path("."), metavar="DIR", help="the tool root (default: .)")
    serve.add_argument("--workers", type=int, default=1, metavar="N", help="processes that parse charts (default 1)")
    serve.set_defaults(func=_ocr_checked(_serve))
    return parser


def _serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from graphsolvers.security import describe_validation_error

    try:
        from flowpath.serve import ServeSettings, run_server
    except ImportError as e:
        raise InputError(
            f"flowpath serve needs the web extra ({e.name} is missing): pip install 'flowpath[web]'"
        ) from e

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be in 0..65535, got {args.port}")
    try:
        settings = ServeSettings(root=args.root, workers=args.workers)
    except ValidationError as e:
        raise InputError("--" + describe_validation_error(e, max_items=1).replace("Value error, ", "")) from None
    run_server(settings, host=args.host, port=args.port)
    return 0


def _add_tool_commands(sub) -> None:
    tools = sub.add_parser(
        "tools",
        help="list or call the typed agent tools",
        description="The typed tools an agent can call (also as LangChain tools: flowpath.tools.as_langchain_tools, "
        "and over MCP: flowpath mcp). One CLI call is one process, so graph handles do not carry over between "
        "calls: pass graph JSON, Mermaid text or a graph file path where a tool takes a graph.",
        epilog="Examples:\n  flowpath tools list\n  flowpath tools call shortest_path --args "
        '\'{"graph": "flowchart TD\\n A --> B --> C", "source": "A", "target": "C"}\'',
        formatter_class=HelpFormatter,
    )
    tools.set_defaults(func=lambda args: _usage(tools))
    tsub = tools.add_subparsers(title="tool commands", metavar="COMMAND")
    tlist = tsub.add_parser("list", help="every tool with its argument schema")
    tlist.add_argument("--json", action="store_true", help="print the tools and their JSON schemas as JSON")
    tlist.set_defaults(func=_tools_list)
    tcall = tsub.add_parser("call", help="run one tool and print its JSON result")
    tcall.add_argument("name", help="tool name (see: flowpath tools list)")
    tcall.add_argument(
        "--args", default="{}", metavar="JSON", help="the arguments as a JSON object, or @FILE holding one (default {})"
    )
    _add_session_options(tcall)
    tcall.set_defaults(func=_ocr_checked(_tools_call))
    mcp = sub.add_parser(
        "mcp",
        help="serve the tools over the Model Context Protocol (stdio)",
        description="Serve every tool of `flowpath tools list` to an MCP client over stdin/stdout. Graph handles "
        "returned by load_graph / parse_flowchart stay valid for the life of the server. The client may name only "
        "files under --root (docs/security.md). Logs go to stderr.",
    )
    _add_session_options(mcp, store=True)
    mcp.set_defaults(func=_ocr_checked(_mcp))


def _add_session_options(parser: argparse.ArgumentParser, *, store: bool = False) -> None:
    """--root and the caps of a tool session (graphsolvers.security; docs/security.md)."""
    from graphsolvers.security import MAX_STORE_BYTES, MAX_TOOL_ARGS_BYTES

    parser.add_argument(
        "--root",
        default=".",
        metavar="DIR",
        help="tools may read only files under this folder; relative paths are taken from it (default: .)",
    )
    parser.add_argument(
        "--max-arg-bytes",
        type=int,
        default=MAX_TOOL_ARGS_BYTES,
        metavar="N",
        help=f"refuse a call whose arguments exceed N bytes of JSON (default {MAX_TOOL_ARGS_BYTES})",
    )
    if store:
        parser.add_argument(
            "--store-bytes",
            type=int,
            default=MAX_STORE_BYTES,
            metavar="N",
            help=f"estimated memory of the graphs kept by handle; the oldest are dropped (default {MAX_STORE_BYTES})",
        )


def _session(args: argparse.Namespace):
    from flowpath.tools.session import ToolSession
    from graphsolvers.security import MAX_STORE_BYTES

    store_bytes = getattr(args, "store_bytes", MAX_STORE_BYTES)
    if args.max_arg_bytes < 1 or store_bytes < 1:
        raise InputError("--max-arg-bytes and --store-bytes must be positive")
    return ToolSession(args.root, max_arg_bytes=args.max_arg_bytes, store_bytes=store_bytes)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _tools_list(args: argparse.Namespace) -> int:
    import json

    from flowpath.tools import list_tools

    tools = list_tools()
    if args.json:
        rows = [{"name": t.name, "description": t.description, "input_schema": t.input_schema()} for t in tools]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print("\n\n".join(format_tool(t) for t in tools))
    return 0


def format_tool(tool) -> str:
    """A tool as readable text: name, description, then one line per argument (type, default, meaning)."""
    schema = tool.input_schema()
    required = set(schema.get("required", []))
    lines = [tool.name, *(f"  {line}" for line in tool.description.splitlines()), "  arguments:"]
    for name, prop in schema.get("properties", {}).items():
        kind = _schema_type(prop)
        default = "required" if name in required else f"default {json.dumps(prop.get('default'))}"
        lines.append(f"    {name} ({kind}, {default}): {prop.get('description', '')}".rstrip(": "))
    return "\n".join(lines)


def _schema_type(prop: dict) -> str:
    if "anyOf" in prop:
        return " | ".join(_schema_type(p) for p in prop["anyOf"])
    if "enum" in prop:
        return "one of " + "/".join(map(str, prop["enum"]))
    if prop.get("const") is not None:
        return repr(prop["const"])
    kind = prop.get("type", "any")
    if kind == "array" and "items" in prop:
        return f"list of {_schema_type(prop['items'])}"
    return {"object": "object", "string": "text", "integer": "int", "number": "float", "boolean": "bool"}.get(
        kind, str(kind)
    )


def _tools_call(args: argparse.Namespace) -> int:
    import logging

    from flowpath.errors import FlowpathError
    from flowpath.tools import get_tool
    from flowpath.tools.registry import dumps
    from graphsolvers.errors import ToolkitError

    tool = get_tool(args.name)
    session = _session(args)
    text = args.args
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"--args {text}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        tool_args = safe_json.loads(text)
    except safe_json.JSONDepthError as e:
        raise InputError(f"--args is {e}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"--args is not valid JSON: {e}") from e
    if not isinstance(tool_args, dict):
        raise InputError(f"--args must be a JSON object of arguments, got {type(tool_args).__name__}")
    try:
        result = tool.run(tool_args, session)
    except (ToolkitError, OSError):
        raise
    except Exception as e:  # a tool bug still ends in one line, with the traceback in the debug log
        logging.getLogger(__name__).debug("tool %s crashed", args.name, exc_info=True)
        raise FlowpathError(f"tool {args.name} failed: {type(e).__name__}: {e} (rerun with -vv for details)") from e
    print(dumps(result, indent=2))
    return 0


def _mcp(args: argparse.Namespace) -> int:
    from flowpath.tools.mcp_server import serve

    serve(_session(args))
    return 0


def _add_policy(parser: argparse.ArgumentParser) -> None:
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


def _agent_for(args: argparse.Namespace):
    """The agent for the --policy flags; the llm policy's backend flags are checked before anything loads."""
    from flowpath.agent.graph import build_agent

    options: dict = {}
    if args.policy == "llm":
        options["llm"] = _llm_config(args)
    elif any(getattr(args, f"llm_{k}") for k in ("base_url", "model", "path", "gguf")):
        raise InputError("--llm-* flags need --policy llm")
    return build_agent(policy=args.policy, use_embeddings=not args.no_embeddings, policy_options=options)


def _llm_config(args: argparse.Namespace):
    from pydantic import ValidationError

    from flowpath.agent.llm import LLMConfig

    try:
        cfg = LLMConfig(
            base_url=args.llm_base_url,
            model=args.llm_model,
            path=args.llm_path,
            gguf=args.llm_gguf,
            max_steps=args.llm_max_steps,
            max_new_tokens=args.llm_max_new_tokens,
        )
    except ValidationError as e:
        err = e.errors()[0]
        where = f"--llm-{str(err['loc'][0]).replace('_', '-')}: " if err["loc"] else ""
        raise InputError(where + err["msg"].removeprefix("Value error, ")) from None
    if args.llm_path and not Path(args.llm_path).is_dir():
        raise InputError(f"--llm-path {args.llm_path!r} is not a folder")
    if args.llm_gguf and not (Path(args.llm_path) / args.llm_gguf).is_file():
        raise InputError(f"--llm-gguf {args.llm_gguf!r} is not a file in {args.llm_path}")
    return cfg


def _load_chart(path: Path) -> Graph | Path:
    """A graph file is loaded; an image path is handed to the agent (which parses it)."""
    if not path.is_file():
        raise InputError(f"no such file: {str(path)!r}")
    return load_graph(path) if path.suffix.lower() in GRAPH_SUFFIXES else path


def _demo(args: argparse.Namespace) -> int:
    from flowpath.agent.graph import build_agent

    chart = _load_chart(args.chart)
    if isinstance(chart, Path):
        check_output(args.overlay, flag="--overlay", inputs=[args.chart])
    print(f"chart: {args.chart.name}")
    print(f"question: {DEMO_QUESTION}")
    print(f"answer:   {DEMO_ANSWER}")
    agent = build_agent()
    result = agent.attribute(chart, DEMO_QUESTION, DEMO_ANSWER)
    print(format_result(result))
    if isinstance(chart, Path):
        _write_overlay(args.overlay, chart, result, agent)
    return 0


def _attribute(args: argparse.Namespace) -> int:

    chart = _load_chart(args.chart)
    if args.overlay and not isinstance(chart, Path):
        raise InputError("--overlay needs a chart image, not a graph file")
    if args.overlay:
        check_output(args.overlay, flag="--overlay", inputs=[args.chart])
    agent = _agent_for(args)
    result = agent.attribute(chart, args.question, args.answer)
    print(result.model_dump_json(indent=2) if args.json else format_result(result))
    if args.overlay:
        _write_overlay(args.overlay, chart, result, agent)
    return 0


def _write_overlay(out: Path, chart: Path, result, agent) -> None:
    from flowpath.overlay import attribution_overlay

    write_atomic(out, attribution_overlay(chart, result, agent.graph_of(chart)))
    print(f"overlay written to {out}", file=sys.stderr)


def _bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from flowpath.bench.dataset import data_dir, load_items
    from flowpath.bench.run import markdown_report, prediction_rows, run_bench, summary_table, write_jsonl

    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if args.cv is not None and (args.cv < 2 or args.policy != "learned"):
        raise InputError("--cv needs K >= 2 and the learned policy")
    if args.cv is not None and args.no_embeddings:
        raise InputError("--cv trains scorers on MiniLM features, which --no-embeddings turns off: drop one of them")
    folder = data_dir(args.data)
    _check_bench_outputs(args, folder)
    items = load_items(folder, limit=args.limit)
    for item in items:  # every question must have the answer before any chart is parsed
        item.answer(args.answer)
    agent = _agent_for(args)
    kwargs: dict = {}
    if args.policy == "learned" and not args.cv:
        _warn_if_in_sample(items)
    recovered = 0
    concurrent = bool(args.cv) and args.graph_source == "image"
    if concurrent:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
    with ThreadPoolExecutor(max_workers=1) as background:
        # the fold scorers' features are built in this process (one torch thread: the cores are busy parsing) while
        # worker processes, started by a fork server so no thread is forked, parse the charts
        cv = background.submit(_cv_scorers, folder, agent, folds=args.cv, seed=args.seed) if args.cv else None
        if args.graph_source == "image":
            from flowpath.bench.images import image_sources

            n_charts = len({i.key for i in items})
            with tqdm(total=n_charts, desc="parse charts", unit="chart", disable=True if args.quiet else None) as bar:
                sources = image_sources(
                    folder,
                    items,
                    workers=args.workers,
                    cache=args.parse_cache,
                    progress=bar.update,
                    start_method="forkserver" if concurrent else None,
                )
        if cv is not None:
            kwargs["scorer_for"] = cv.result()
    if concurrent:
        torch.set_num_threads(threads)  # the questions run alone
    if args.graph_source == "image":
        if sources.failed:
            print(
                f"note: {len(sources.failed)} charts could not be parsed; their questions count as misses",
                file=sys.stderr,
            )
        kwargs.update(graph_for=sources.graph_for, gold_boxes_for=sources.gold_boxes_for)
        recovered = sources.recovered
    run = run_bench(
        items,
        agent=agent,
        source=args.graph_source,
        progress=lambda it: tqdm(it, total=len(items), desc="questions", unit="q"),
        answer=args.answer,
        **kwargs,
    )
    run.recovered_boxes = recovered
    if args.out:
        write_atomic(args.out, write_jsonl(prediction_rows(run)))
    if args.report:
        overlays = _worst_overlays(run, folder, args.report, gold_boxes_for=kwargs.get("gold_boxes_for"))
        write_atomic(args.report, markdown_report(run, overlays=overlays))
    print(summary_table(run))
    return 0


def _check_bench_outputs(args: argparse.Namespace, folder: Path) -> None:
    """--out, --report (and the report's overlay folder beside it) and --parse-cache, before any work."""
    if args.out and args.report and args.out.resolve() == args.report.resolve():
        raise InputError(f"--out and --report are the same file {args.out}; give two names")
    if args.out:
        check_output(args.out, flag="--out", inputs=[folder])
    if args.report:
        check_output(args.report, flag="--report", inputs=[folder])
        overlays = args.report.with_name(args.report.stem + "_overlays")
        check_output(overlays, flag="--report's overlay folder", kind="folder", inputs=[folder])
    if args.parse_cache:
        check_output(args.parse_cache, flag="--parse-cache", kind="folder", inputs=[folder])


def _worst_overlays(run, folder: Path, report: Path, *, gold_boxes_for=None, n: int = 15) -> dict[str, str]:
    """Write gold-vs-prediction pictures of the worst items beside the report; question id -> relative path."""
    from flowpath.bench.dataset import chart_image
    from flowpath.bench.gold import gold_boxes
    from flowpath.bench.run import worst_items
    from flowpath.overlay import comparison_overlay
    from graphsolvers.errors import ToolkitError

    out_dir = report.with_name(report.stem + "_overlays")
    paths = {}
    for p in worst_items(run, n):
        image = chart_image(folder, p.item.key)
        try:
            gold_all = gold_boxes_for(p.item.key) if gold_boxes_for else gold_boxes(folder, p.item.key)
            gold = {g: gold_all[g] for g in p.item.attribution if g in gold_all}
            if run.source == "image":
                pred = {n: p.graph.node(n).bbox for n in p.preds["agent"] if p.graph.node(n).bbox}
            else:  # Mermaid ids are the gold ids: draw predictions on the gold boxes
                pred = {n: gold_all[n] for n in p.preds["agent"] if n in gold_all}
            name = f"{p.item.id}.png"
            write_atomic(out_dir / name, comparison_overlay(image, gold, pred))
        except ToolkitError as e:  # a picture is a convenience: never lose the report over it
            print(f"note: no overlay for {p.item.id}: {e}", file=sys.stderr)
            continue
        paths[p.item.id] = f"{out_dir.name}/{name}"
    return paths


def _cv_scorers(folder: Path, agent, *, folds: int, seed: int):
    """Fold scorers trained on the whole --data folder; chart key -> the scorer that never saw it."""
    from tqdm import tqdm

    from flowpath.agent.train import build_examples, out_of_fold_scorers
    from flowpath.bench.dataset import load_items

    all_items = load_items(folder)
    examples = build_examples(
        all_items,
        embedder=agent.embedder.fresh(),  # its own memo: the timed questions must embed their texts
        answers=ANSWER_FIELDS,
        progress=lambda it: tqdm(it, total=len(all_items), desc="cv features", unit="q"),
    )
    import sklearn.ensemble  # noqa: F401 - loaded first: threadpoolctl limits only libraries already loaded
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # the trees train on one thread: the other cores parse charts
        fold_of, scorers = out_of_fold_scorers(examples, folds=folds, seed=seed)
    return lambda key: scorers[fold_of[key]] if key in fold_of else scorers[0]


def _warn_if_in_sample(items) -> None:
    from flowpath.agent.scorer import load_scorer

    seen = set(load_scorer().trained_on)
    overlap = len({i.key for i in items} & seen)
    if overlap:
        print(
            f"note: {overlap} of these charts trained the committed scorer; these numbers are in-sample "
            "(use --cv K for honest ones)",
            file=sys.stderr,
        )


def _train_scorer(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from flowpath.agent.embed import get_embedder
    from flowpath.agent.scorer import DEFAULT_WEIGHTS, fit_scorer
    from flowpath.agent.train import build_examples, out_of_fold_counts, out_of_fold_scorers
    from flowpath.bench.dataset import data_dir, load_items

    if args.folds < 2:
        raise InputError(f"--folds must be at least 2, got {args.folds}")
    for flag in ("iterations", "epochs", "nets"):
        if getattr(args, flag) < 1:
            raise InputError(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    if args.out:
        check_output(args.out, flag="--out")
    items = load_items(data_dir(args.data))
    examples = build_examples(
        items,
        embedder=get_embedder(),
        answers=ANSWER_FIELDS,
        progress=lambda it: tqdm(it, total=len(items), desc="features", unit="q"),
    )
    fit = {"iterations": args.iterations, "epochs": args.epochs, "nets": args.nets}
    fold_of, scorers = out_of_fold_scorers(examples, folds=args.folds, seed=args.seed, **fit)
    first = [e for e in examples if e.answer == "a1"]
    counts = out_of_fold_counts(first, fold_of, scorers)
    print(
        f"{len(first)} content questions on {len(fold_of)} charts ({len(examples)} examples with the paraphrased "
        f"answers); {args.folds}-fold chart-split CV on a1 (scorer alone, before path joining): "
        f"P {counts.precision:.3f} R {counts.recall:.3f} F1 {counts.f1:.3f}"
    )
    final = fit_scorer(
        [e.features for e in examples],
        [e.labels for e in examples],
        [e.graph for e in examples],
        seed=args.seed,
        trained_on=sorted(fold_of),
        **fit,
    )
    out = args.out or DEFAULT_WEIGHTS
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        final.save(tmp)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"weights written to {out}")
    return 0


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


def _parse(args: argparse.Namespace) -> int:
    import contextlib
    import json

    import cv2
    from tqdm import tqdm

    from flowpath.vision import load_image, parse_image
    from flowpath.vision.overlay import draw_overlay
    from graphsolvers.errors import ToolkitError
    from graphsolvers.mermaid import to_mermaid

    overlay_names = [f"{i:04d}_{path.stem}.png" for i, path in enumerate(args.images)]
    if args.jsonl is not None:
        check_output(args.jsonl, flag="--jsonl", inputs=args.images)
    if args.overlay is not None:
        check_output(args.overlay, flag="--overlay", kind="folder", inputs=args.images)
        for name in overlay_names:
            check_output(args.overlay / name, flag="--overlay", inputs=args.images)
    lines, failed = [], 0
    # overlays go to a temporary folder beside --overlay, moved in at the end (removed if the command fails)
    with staged_folder(args.overlay, merge=True) if args.overlay else contextlib.nullcontext() as staged:
        bar = tqdm(
            args.images, unit="image", disable=True if len(args.images) < 2 or args.quiet else None, file=sys.stderr
        )
        for path, name in zip(bar, overlay_names, strict=True):
            try:
                graph = parse_image(path)
            except ToolkitError as e:
                failed += 1
                print(f"flowpath: error: {e}", file=sys.stderr)
                lines.append(json.dumps({"image": str(path), "error": str(e)}))
                continue
            if args.mermaid:
                lines.append(f"%% {path}\n{to_mermaid(graph)}")
            else:
                lines.append(json.dumps({"image": str(path), "graph": json.loads(graph.to_json())}))
            if staged is not None:
                cv2.imwrite(str(staged / name), draw_overlay(load_image(path), graph))
        text = "\n".join(lines) + "\n"
        if args.jsonl is not None:
            write_atomic(args.jsonl, text)
        else:
            sys.stdout.write(text)
    return 2 if failed else 0


def _eval_parse(args: argparse.Namespace) -> int:
    import json

    import cv2
    from tqdm import tqdm

    from flowpath.bench.parse_eval import evaluate, load_charts, look_text, markdown_report, summarise
    from flowpath.errors import InputError
    from flowpath.vision import load_image, parse_image
    from flowpath.vision.overlay import draw_overlay
    from graphsolvers.cli_support import write_atomic

    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    if args.report is not None:
        check_output(args.report, flag="--report", kind="folder", inputs=[args.data])
    charts = load_charts(args.data)[: args.limit]
    overlays: dict[str, str] = {}
    graphs = {}

    def keep(gold, pred, score) -> None:
        if pred is not None:
            graphs[gold.key] = pred

    bar = tqdm(total=len(charts), unit="chart", file=sys.stderr, disable=True if args.quiet else None)
    scores = []
    for score in evaluate(charts, parse_image, on_result=keep):
        scores.append(score)
        bar.update()
    bar.close()
    summary = summarise(scores)
    if args.report is not None:
        worst = sorted(scores, key=lambda c: (c.edge_f1 + c.node_f1, c.key))[:15]
        byname = {c.key: c for c in charts}
        for c in worst:
            if c.key in graphs:
                img = draw_overlay(load_image(byname[c.key].image), graphs[c.key])
                ok, png = cv2.imencode(".png", img)
                if ok:
                    write_atomic(args.report / "overlays" / f"{c.key}.png", png.tobytes())
                    overlays[c.key] = f"overlays/{c.key}.png"
        write_atomic(args.report / "report.md", markdown_report(summary, scores, overlays=overlays))
        rows = [json.dumps({**c.__dict__, "node_f1": c.node_f1, "edge_f1": c.edge_f1}) for c in scores]
        write_atomic(args.report / "scores.jsonl", "\n".join(rows) + "\n")
        write_atomic(args.report / "summary.json", summary.model_dump_json(indent=2))
    if args.json:
        print(summary.model_dump_json(indent=2))
    else:
        for name, value in summary.model_dump().items():
            if name not in ("by_style", "by_look"):
                print(f"{name:<24} {value:.3f}" if isinstance(value, float) else f"{name:<24} {value}")
        for style, v in summary.by_style.items():
            print(f"style {style:<18} " + "  ".join(f"{k}={x:.3f}" for k, x in v.items() if k != "charts"))
        for line in look_text(summary):
            print(line)
    return 0


def _synth(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from flowpath.errors import InputError
    from flowpath.synth import DEGRADATIONS, write_dataset
    from flowpath.synth.looks import HARD_LOOKS, LOOK_PRESETS

    if args.looks not in LOOK_PRESETS:
        raise InputError(f"--looks must be one of {', '.join(LOOK_PRESETS)}, got {args.looks!r}")
    for name in ("degraded", "graphviz"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise InputError(f"--{name} must be in [0, 1], got {getattr(args, name)}")
    check_output(args.out, flag="--out", kind="folder", empty=True)
    kinds = tuple(k for k in DEGRADATIONS if not (args.no_noise and k == "noise"))
    n = len(HARD_LOOKS) if args.looks == "hard" else args.n
    with (
        tqdm(total=n, unit="chart", file=sys.stderr, disable=True if args.quiet else None) as bar,
        staged_folder(args.out) as staged,  # a failed or interrupted run leaves no half-written --out
    ):
        write_dataset(
            staged,
            n=args.n,
            seed=args.seed,
            degraded=args.degraded,
            min_nodes=args.nodes[0],
            max_nodes=args.nodes[1],
            degradations=kinds,
            graphviz=args.graphviz,
            looks=args.looks,
            progress=bar.update,
        )
    print(f"wrote {n} {args.looks} charts to {args.out}")
    return 0


def _ocr_checked(func: Callable[[argparse.Namespace], int | None]) -> Callable[[argparse.Namespace], int | None]:
    """``func`` preceded by a check of FLOWPATH_OCR_MODEL, so a bad value fails before any work starts."""

    def checked(args: argparse.Namespace) -> int | None:
        from flowpath.vision.ocr_model import ocr_precision

        ocr_precision()
        return func(args)

    return checked


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``flowpath`` console script."""
    return run_cli(build_parser, argv)


if __name__ == "__main__":
    sys.exit(main())
