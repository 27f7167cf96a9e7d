"""Hostile input (issue 25, items 1, 2 and 4): the tool root, no echoed file content, size caps.

One test per probe. Tool clients are not trusted: every file argument must lie under the session's
root, errors never quote what a file holds, and inputs over a cap are refused, naming the cap.
"""

from __future__ import annotations

import json
import os
import sys
import tracemalloc
from pathlib import Path

import pytest

from flowpath.cli import main
from flowpath.tools import ToolInputError, ToolSession, as_langchain_tools, call_tool
from flowpath.tools.store import GraphStore, estimate_graph_bytes
from graphsolvers.errors import LimitExceededError, MermaidSyntaxError, OutsideRootError
from graphsolvers.graph import Graph
from graphsolvers.mermaid import parse_mermaid
from graphsolvers.security import (
    MAX_ATTRIBUTE_EDGES,
    MAX_ATTRIBUTE_NODES,
    MAX_GRAPH_EDGES,
    MAX_GRAPH_NODES,
    MAX_INPUT_CHARS,
    MAX_MERMAID_FANOUT,
    MAX_STORE_BYTES,
    MAX_TOOL_ARGS_BYTES,
    check_graph_size,
    resolve_under_root,
)

REPO = Path(__file__).resolve().parents[2]
CHART = "flowchart TD\n    A --> B --> C"
SECRET = "sk-live-0123456789abcdefSECRET"


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """``base/root`` (the tool root, holding chart.mmd) beside ``base/root-evil`` and ``base/secret.json``."""
    base = tmp_path.resolve()
    root, evil = base / "root", base / "root-evil"
    root.mkdir()
    evil.mkdir()
    (root / "chart.mmd").write_text(CHART)
    (evil / "chart.mmd").write_text(CHART)
    (base / "secret.json").write_text(json.dumps({"nodes": [], "api_key": SECRET}))
    return {"base": base, "root": root, "evil": evil}


def _refusal(session: ToolSession, graph: str) -> str:
    with pytest.raises(OutsideRootError) as info:
        session.call("end_nodes", {"graph": graph})
    message = str(info.value)
    assert str(session.root) in message and SECRET not in message
    return message


# ---------------------------------------------------------------------- 1. the root
def test_inside_root_works_relative_and_absolute(layout: dict[str, Path]) -> None:
    session = ToolSession(layout["root"])
    assert session.call("end_nodes", {"graph": "chart.mmd"}) == {"nodes": ["C"]}
    assert session.call("end_nodes", {"graph": str(layout["root"] / "chart.mmd")}) == {"nodes": ["C"]}
    assert session.call("end_nodes", {"graph": "./sub/../chart.mmd"}) == {"nodes": ["C"]}  # .. that stays inside


def test_outside_root_by_absolute_path_is_refused(layout: dict[str, Path]) -> None:
    path = str(layout["base"] / "secret.json")
    assert _refusal(ToolSession(layout["root"]), path).startswith(f"{path!r} is not a path under the tool root")


def test_outside_root_by_dotdot_is_refused(layout: dict[str, Path]) -> None:
    assert "'../secret.json' is not a path under" in _refusal(ToolSession(layout["root"]), "../secret.json")
    assert "is not a path under" in _refusal(ToolSession(layout["root"]), "chart.mmd/../../secret.json")


def test_outside_root_by_symlink_is_refused(layout: dict[str, Path]) -> None:
    root = layout["root"]
    os.symlink(layout["base"] / "secret.json", root / "link.json")
    os.symlink(layout["evil"], root / "linked-dir")
    os.symlink(root / "chart.mmd", root / "inner.mmd")  # a link that stays inside is fine
    session = ToolSession(root)
    _refusal(session, "link.json")
    _refusal(session, "linked-dir/chart.mmd")
    assert session.call("end_nodes", {"graph": "inner.mmd"}) == {"nodes": ["C"]}


def test_a_folder_argument_with_a_link_that_leads_out_is_refused(layout: dict[str, Path]) -> None:
    """A recording folder inside the root whose files are links to files outside it (read by the loader)."""
    folder = layout["root"] / "flav" / "swf702_with_id"
    folder.mkdir(parents=True)
    os.symlink(layout["base"] / "secret.json", layout["root"] / "flav" / "neuropal_labels.json")
    os.symlink(layout["base"] / "secret.json", folder / "2022-01-01-01-data.h5")
    with pytest.raises(OutsideRootError, match=r"'flav/.*' is not a path under the tool root"):
        ToolSession(layout["root"]).call("connectome_factorize", {"data": "flav"})


def test_sibling_folder_sharing_the_roots_prefix_is_outside(layout: dict[str, Path]) -> None:
    session = ToolSession(layout["root"])
    _refusal(session, str(layout["evil"] / "chart.mmd"))  # /…/root-evil starts with the text /…/root
    _refusal(session, "../root-evil/chart.mmd")


def test_nonexistent_outside_file_gets_the_same_message_as_an_existing_one(layout: dict[str, Path]) -> None:
    session = ToolSession(layout["root"])
    target = layout["base"] / "other.json"
    target.write_text('{"nodes": []}')
    existing = _refusal(session, str(target))
    target.unlink()
    assert _refusal(session, str(target)) == existing
    # and the same as for a missing file under another name: only the quoted path differs
    assert _refusal(session, str(layout["base"] / "nope.json")).split("'", 2)[2] == existing.split("'", 2)[2]


def test_every_file_argument_of_every_tool_goes_through_the_root(layout: dict[str, Path]) -> None:
    session = ToolSession(layout["root"])
    outside = str(layout["base"] / "secret.json")
    calls = [
        ("load_graph", {"source": outside}),
        ("parse_flowchart", {"image": str(layout["base"] / "chart.png")}),
        ("attribute", {"chart": str(layout["base"] / "chart.png"), "question": "Q?", "answer": "A"}),
        ("attribute", {"chart": outside, "question": "Q?", "answer": "A"}),
        ("cgs_solve", {"graph": outside}),
        ("cgs_predict", {"graph": CHART, "task": "porous", "checkpoint": str(layout["base"] / "m.pt")}),
        ("connectome_factorize", {"data": str(layout["base"] / "r.npz")}),
        ("connectome_communities", {"result": "../result.json"}),
        ("shortest_path", {"graph": "../secret.json", "source": "A", "target": "B"}),
    ]
    for name, args in calls:
        with pytest.raises(OutsideRootError, match="is not a path under the tool root"):
            session.call(name, args)


def test_langchain_tools_run_in_their_session(layout: dict[str, Path]) -> None:
    tools = {t.name: t for t in as_langchain_tools(["end_nodes"], session=ToolSession(layout["root"]))}
    assert tools["end_nodes"].invoke({"graph": "chart.mmd"}) == {"nodes": ["C"]}
    assert "is not a path under the tool root" in tools["end_nodes"].invoke({"graph": "../secret.json"})


def test_resolve_under_root_refuses_unresolvable_paths(tmp_path: Path) -> None:
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    for bad in ("loop", "a\0b", "a" * 5000 + ".png", "/".join(["d" * 200] * 30)):  # name / path too long
        with pytest.raises(OutsideRootError, match="is not a path under the tool root"):
            resolve_under_root(bad, tmp_path)


def test_a_file_name_too_long_to_look_up_is_refused_not_crashed(tmp_path: Path) -> None:
    session = ToolSession(tmp_path)  # found by the HTTP probe of #27: parse_flowchart raised ENAMETOOLONG (500)
    for name, args in (
        ("parse_flowchart", {"image": "a" * 5000 + ".png"}),
        ("load_graph", {"source": "b" * 300 + ".json"}),
    ):
        with pytest.raises(OutsideRootError, match="is not a path under the tool root"):
            session.call(name, args)


def test_cli_tools_call_takes_root(layout: dict[str, Path], capsys) -> None:
    root = str(layout["root"])
    assert main(["tools", "call", "end_nodes", "--root", root, "--args", '{"graph": "chart.mmd"}']) == 0
    assert json.loads(capsys.readouterr().out) == {"nodes": ["C"]}
    assert main(["tools", "call", "end_nodes", "--root", root, "--args", '{"graph": "../secret.json"}']) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a path under the tool root" in err and SECRET not in err


def test_local_cli_commands_stay_unconfined(layout: dict[str, Path], monkeypatch, capsys) -> None:
    from graphsolvers.cli import main as graphsolvers_main

    monkeypatch.chdir(layout["root"])  # the local user is trusted: any path is read, wherever the process runs
    assert graphsolvers_main(["convert", "../root-evil/chart.mmd", "--to", "json"]) == 0
    assert Graph.from_json(capsys.readouterr().out).node_ids == ["A", "B", "C"]


# ---------------------------------------------------------------------- 2. no echoed content
def test_json_file_with_extra_keys_does_not_echo_its_values(layout: dict[str, Path]) -> None:
    (layout["root"] / "config.json").write_text(json.dumps({"nodes": [], "api_key": SECRET, "edges": []}))
    (layout["root"] / "nodes.json").write_text(json.dumps({"nodes": [{"id": "a", "token": SECRET}]}))
    (layout["root"] / "version.json").write_text(json.dumps({"schema_version": SECRET}))
    session = ToolSession(layout["root"])
    for name in ("config.json", "nodes.json", "version.json"):
        with pytest.raises(ToolInputError) as info:
            session.call("load_graph", {"source": name})
        assert SECRET not in str(info.value) and "sk-" not in str(info.value), str(info.value)
    with pytest.raises(ToolInputError, match="api_key: Extra inputs are not permitted"):
        session.call("load_graph", {"source": "config.json"})  # the key is named, its value is not


def test_non_mermaid_mmd_file_is_not_echoed(layout: dict[str, Path]) -> None:
    (layout["root"] / "notes.mmd").write_text(f"{SECRET} is the production key\nflowchart TD\n  A --> B\n")
    (layout["root"] / "after.mmd").write_text(f"flowchart TD {SECRET}\n  A --> B\n")
    (layout["root"] / "body.mmd").write_text(f"flowchart TD\n  A ~~ {SECRET}\n")
    session = ToolSession(layout["root"])
    for name in ("notes.mmd", "after.mmd", "body.mmd"):
        with pytest.raises(ToolInputError, match="line") as info:
            session.call("load_graph", {"source": name})
        assert SECRET[:10] not in str(info.value), str(info.value)
    with pytest.raises(MermaidSyntaxError, match="expected a 'flowchart' or 'graph' header") as info:
        parse_mermaid(f"{SECRET}\n")
    assert "sk-" not in str(info.value)


def test_a_callers_own_long_argument_is_quoted_as_a_short_marked_prefix(layout: dict[str, Path]) -> None:
    session = ToolSession(layout["root"])
    long_path = "../" + "x" * 500 + ".json"
    with pytest.raises(OutsideRootError) as info:
        session.call("load_graph", {"source": long_path})
    assert f"{long_path[:120]!r}…" in str(info.value) and "x" * 121 not in str(info.value)
    with pytest.raises(ToolInputError) as info:
        session.call("end_nodes", {"graph": "graph-" + "f" * 500})
    assert "f" * 41 not in str(info.value) and "…" in str(info.value)


def test_pydantic_errors_of_tool_arguments_do_not_quote_the_values() -> None:
    with pytest.raises(ToolInputError) as info:
        call_tool("neighbours", {"graph": CHART, "node_id": "A", "direction": SECRET})
    assert "direction: Input should be" in str(info.value) and SECRET not in str(info.value)


# ---------------------------------------------------------------------- 4. caps
BUILT_NOTHING = 20_000_000
"""Most memory (bytes, tracemalloc's peak) a refusal by a size cap may take: counting items costs little, building
the Node or Edge objects of a million of them hundreds of MB."""


def test_ten_megabyte_embed_text_is_refused_before_the_model_loads(monkeypatch) -> None:
    import flowpath.agent.embed

    def no_model():
        raise AssertionError("the embedding model was loaded for a refused call")

    monkeypatch.setattr(flowpath.agent.embed, "get_embedder", no_model)
    session = ToolSession(REPO)
    huge = "x" * 10_000_000
    tracemalloc.start()
    with pytest.raises(LimitExceededError, match=f"MAX_TOOL_ARGS_BYTES = {MAX_TOOL_ARGS_BYTES:,}"):
        session.call("embed_text", {"texts": [huge]})
    held, _ = tracemalloc.get_traced_memory()  # nothing of the text is kept once it is refused
    tracemalloc.stop()
    assert held < 1_000_000, held
    # over the text cap but under the argument cap: refused by the text cap, before any tokenisation
    with pytest.raises(LimitExceededError, match=r"texts\[1\]: 100,000 characters, over the cap MAX_INPUT_CHARS"):
        session.call("embed_text", {"texts": ["ok", "y" * 100_000]})
    with pytest.raises(LimitExceededError, match=r"the query: .* MAX_INPUT_CHARS = 20,000"):
        session.call("embed_text", {"texts": ["ok"], "query": "q" * (MAX_INPUT_CHARS + 1)})


def test_question_and_answer_over_the_text_cap_are_refused() -> None:
    from flowpath.agent.graph import FlowPathAgent

    long = "why " * (MAX_INPUT_CHARS // 4 + 1)
    with pytest.raises(LimitExceededError, match=r"the answer: .* over the cap MAX_INPUT_CHARS"):
        call_tool("attribute", {"chart": CHART, "question": "What?", "answer": long})
    with pytest.raises(LimitExceededError, match=r"the question: .* over the cap MAX_INPUT_CHARS"):
        FlowPathAgent(policy="symbolic", use_embeddings=False).attribute(parse_mermaid(CHART), long, "A")


def test_chart_over_the_attribution_caps_is_refused() -> None:
    from flowpath.agent.graph import FlowPathAgent

    n = MAX_ATTRIBUTE_NODES + 1
    big = Graph.from_dict({"nodes": [{"id": f"n{i}"} for i in range(n)], "edges": []})
    agent = FlowPathAgent(policy="symbolic", use_embeddings=False)
    with pytest.raises(LimitExceededError, match=f"the chart has {n:,} nodes, over the cap MAX_ATTRIBUTE_NODES"):
        agent.attribute(big, "What?", "Yes")
    assert MAX_ATTRIBUTE_EDGES >= 46 and MAX_ATTRIBUTE_NODES >= 44  # FlowExplainBench's largest chart


def test_mermaid_fan_out_is_refused_before_the_edges_are_built() -> None:
    left = " & ".join(f"A{i}" for i in range(1000))
    right = " & ".join(f"B{i}" for i in range(1000))
    text = f"flowchart TD\n  {left} --> {right}\n"
    tracemalloc.start()
    with pytest.raises(LimitExceededError, match=f"over the cap MAX_MERMAID_FANOUT = {MAX_MERMAID_FANOUT:,}") as info:
        parse_mermaid(text)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < BUILT_NOTHING, peak  # a million edges built would take hundreds of MB
    assert info.value.cap == "MAX_MERMAID_FANOUT" and info.value.size == 1_000_000
    assert str(info.value).startswith("line 2, column")
    with pytest.raises(LimitExceededError, match="MAX_MERMAID_FANOUT"):
        call_tool("load_graph", {"source": text})
    # small groups, as charts use them, still parse
    assert len(parse_mermaid("flowchart TD\n  A & B --> C & D").edges) == 4


def test_graph_documents_over_the_conversion_caps_are_refused_before_building() -> None:
    empty: dict = {}
    nodes, edges = [empty] * (MAX_GRAPH_NODES + 1), [empty] * (MAX_GRAPH_EDGES + 1)
    tracemalloc.start()
    with pytest.raises(LimitExceededError, match="MAX_GRAPH_NODES"):
        Graph.from_dict({"nodes": nodes})
    with pytest.raises(LimitExceededError, match="MAX_GRAPH_EDGES"):
        Graph.from_dict({"nodes": [], "edges": edges})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < BUILT_NOTHING, peak  # no Node or Edge was built for the over-cap lists
    check_graph_size(1_048_576, 6_291_456)  # the CGS bench graphs of docs/graphsolvers.md pass


def test_handle_store_is_capped_by_bytes() -> None:
    graphs = [parse_mermaid(f"flowchart TD\n  A{i}[{'word ' * 50}] --> B{i}") for i in range(4)]
    size = estimate_graph_bytes(graphs[0])
    store = GraphStore(capacity=100, max_bytes=int(size * 2.5))
    handles = [store.put(g) for g in graphs]
    assert len(store) == 2 and store.nbytes <= store.max_bytes
    assert handles[0] not in store and handles[-1] in store  # the oldest went first
    with pytest.raises(LimitExceededError, match=r"over the cap MAX_STORE_BYTES = .*pass its graph file path"):
        GraphStore(max_bytes=size - 1).put(graphs[0])
    assert ToolSession(REPO).store.max_bytes == MAX_STORE_BYTES


def test_oversize_tool_arguments_are_refused_with_the_cap() -> None:
    session = ToolSession(REPO, max_arg_bytes=1_000)
    with pytest.raises(LimitExceededError, match=r"the tool arguments: [\d,]+ bytes of JSON, over the cap "):
        session.call("load_graph", {"source": "flowchart TD\n" + "  A --> B\n" * 200})
    assert session.call("load_graph", {"source": CHART})["summary"]["n_nodes"] == 3
    with pytest.raises(LimitExceededError, match=f"MAX_TOOL_ARGS_BYTES = {MAX_TOOL_ARGS_BYTES:,}"):
        call_tool("end_nodes", {"graph": "flowchart TD\n  A --> B\n" + "%%" * MAX_TOOL_ARGS_BYTES})


def test_cli_over_a_cap_is_exit_2_with_the_cap(capsys) -> None:
    args = json.dumps({"graph": "flowchart TD\n" + "  A --> B\n" * 100})
    assert main(["tools", "call", "end_nodes", "--max-arg-bytes", "100", "--args", args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "over the cap MAX_TOOL_ARGS_BYTES = 100" in err


def test_largest_flowexplainbench_charts_pass_the_caps(feb_dev: Path) -> None:
    items = json.loads((feb_dev / "dataset.json").read_text(encoding="utf-8"))
    session = ToolSession(REPO)
    for item in items.values():
        session.check_args({"graph": item["mermaid"], "question": item["q"], "answer": item["a1"]})
        graph = parse_mermaid(item["mermaid"])
        check_graph_size(
            len(graph.nodes),
            len(graph.edges),
            nodes=("MAX_ATTRIBUTE_NODES", MAX_ATTRIBUTE_NODES),
            edges=("MAX_ATTRIBUTE_EDGES", MAX_ATTRIBUTE_EDGES),
        )
        assert max(len(item["q"]), len(item["a1"])) <= MAX_INPUT_CHARS
    assert MAX_GRAPH_EDGES >= 25_000_000  # the 4M-node GPU run


# ---------------------------------------------------------------------- over MCP
@pytest.mark.slow
def test_mcp_server_confines_files_to_root_and_caps_arguments(layout: dict[str, Path]) -> None:
    import anyio
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import get_default_environment, stdio_client

    root = layout["root"]
    (root / "config.json").write_text(json.dumps({"nodes": [], "api_key": SECRET}))

    async def session() -> None:
        env = {**get_default_environment(), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
        server = StdioServerParameters(
            command=sys.executable, args=["-m", "flowpath", "mcp", "--root", str(root)], cwd=str(REPO), env=env
        )
        async with stdio_client(server) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            ok = await client.call_tool("end_nodes", {"graph": "chart.mmd"})  # relative to --root, not the cwd
            assert not ok.is_error and ok.structured_content == {"nodes": ["C"]}
            for path in ("../secret.json", str(layout["base"] / "secret.json"), "../root-evil/chart.mmd"):
                bad = await client.call_tool("load_graph", {"source": path})
                assert bad.is_error and "is not a path under the tool root" in bad.content[0].text
            leak = await client.call_tool("load_graph", {"source": "config.json"})
            assert leak.is_error and SECRET not in leak.content[0].text
            big = await client.call_tool("embed_text", {"texts": ["x" * 10_000_000]})
            assert big.is_error and "MAX_TOOL_ARGS_BYTES" in big.content[0].text

    async def bounded() -> None:
        with anyio.fail_after(120):
            await session()

    anyio.run(bounded)
