"""The typed tool library: plain calls, LangChain/LangGraph tools, graph handles, errors, CLI, MCP, README."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from flowpath.cli import main
from flowpath.tools import (
    ToolInputError,
    ToolSession,
    UnknownHandleError,
    UnknownToolError,
    as_langchain_tools,
    call_tool,
    default_store,
    get_tool,
    list_tools,
)
from graphsolvers.queries import NodeNotFoundError

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "bench_data" / "samples" / "order_fulfilment.png"
QUESTION = "What happens when the card payment is declined?"
ANSWER = "The customer is emailed to update the payment details."
EMAIL_NODE = "Email the customer to update payment details"
CHART = """flowchart TD
    A(["Start"]) --> B{"Paid?"}
    B -->|Yes| C["Ship"] --> E(["End"])
    B -->|No| D["Remind"] --> B"""

GRAPH_TOOLS = {
    "get_statement": ({"node_id": "B"}, {"node_id": "B", "text": "Paid?", "kind": "decision"}),
    "neighbours": ({"node_id": "B", "direction": "in"}, {"node_id": "B", "direction": "in", "neighbours": ["A", "D"]}),
    "in_degree": ({"node_id": "B"}, {"node_id": "B", "in_degree": 2}),
    "out_degree": ({"node_id": "E"}, {"node_id": "E", "out_degree": 0}),
    "max_in_degree": ({}, {"degree": 2, "nodes": ["B"]}),
    "max_out_degree": ({}, {"degree": 2, "nodes": ["B"]}),
    "ancestors": ({"node_id": "C"}, {"node_id": "C", "ancestors": {"B": 1, "A": 2, "D": 2}}),
    "descendants": ({"node_id": "B", "pinned": {"B": "yes"}}, {"node_id": "B", "descendants": {"C": 1, "E": 2}}),
    "bfs": ({"start": "A"}, {"order": ["A", "B", "C", "D", "E"]}),
    "dfs": ({"start": "A"}, {"order": ["A", "B", "C", "E", "D"]}),
    "shortest_path": ({"source": "D", "target": "E"}, {"path": ["D", "B", "C", "E"]}),
    "paths_between": ({"source": "A", "target": "E", "pinned": {"B": "No"}}, {"paths": []}),
    "start_nodes": ({}, {"nodes": ["A"]}),
    "end_nodes": ({}, {"nodes": ["E"]}),
    "decision_branches": ({"node_id": "B"}, {"node_id": "B", "branches": {"Yes": "C", "No": "D"}}),
    "loops": ({}, {"loops": [["B", "D"]]}),
}
APP_TOOLS = {"load_graph", "parse_flowchart", "attribute", "embed_text", "cgs_solve", "cgs_predict"}
CONNECTOME_TOOLS = {"connectome_factorize", "connectome_communities"}


@pytest.fixture(scope="module")
def handle() -> str:
    return call_tool("load_graph", {"source": CHART})["handle"]


@pytest.fixture(scope="module")
def parsed() -> dict:
    return call_tool("parse_flowchart", {"image": str(SAMPLE)})


def test_registry_lists_every_tool_with_a_schema_and_description() -> None:
    tools = {t.name: t for t in list_tools()}
    assert set(tools) == set(GRAPH_TOOLS) | APP_TOOLS | CONNECTOME_TOOLS
    for t in tools.values():
        assert t.description and "Examples" not in t.description, t.name
        assert issubclass(t.args_model, BaseModel) and t.input_schema()["type"] == "object"


@pytest.mark.parametrize("name", sorted(GRAPH_TOOLS))
def test_graph_tool_plain_call_on_a_handle(name: str, handle: str) -> None:
    args, expected = GRAPH_TOOLS[name]
    out = call_tool(name, {"graph": handle, **args})
    assert out == expected
    json.dumps(out)


def test_graph_tools_take_graph_json_mermaid_or_a_file_instead_of_a_handle(handle: str, tmp_path: Path) -> None:
    graph = default_store().get(handle)
    path = tmp_path / "graph-chart.mmd"  # a file whose name looks like a handle is still read as a file
    path.write_text(CHART)
    session = ToolSession(tmp_path)  # files must lie under the session's root
    for ref in (CHART, graph.model_dump(mode="json"), graph.to_json(), str(path), path.name):
        out = call_tool("shortest_path", {"graph": ref, "source": "A", "target": "E"}, session=session)
        assert out["path"] == ["A", "B", "C", "E"]


def test_direct_calls_of_a_tool_and_identical_graphs_share_a_handle(handle: str) -> None:
    tool = get_tool("neighbours")
    assert (
        tool(graph=handle, node_id="A")
        == tool({"graph": handle, "node_id": "A"})
        == tool(tool.args_model(graph=handle, node_id="A"))
    )
    assert call_tool("load_graph", {"source": CHART})["handle"] == handle


def test_load_graph_returns_a_handle_and_a_summary(handle: str) -> None:
    out = call_tool("load_graph", {"source": CHART})
    s = out["summary"]
    assert (s["n_nodes"], s["n_edges"], s["start_nodes"], s["end_nodes"], s["decisions"]) == (5, 5, ["A"], ["E"], ["B"])
    assert {"id": "D", "text": "Remind", "kind": "process"} in s["nodes"]


def test_langchain_tools_invoke_and_return_errors_to_the_model(handle: str) -> None:
    tools = {t.name: t for t in as_langchain_tools()}
    assert set(tools) == {t.name for t in list_tools()}
    assert tools["decision_branches"].args_schema is get_tool("decision_branches").args_model
    assert tools["decision_branches"].invoke({"graph": handle, "node_id": "B"})["branches"] == {"Yes": "C", "No": "D"}
    assert tools["loops"].invoke({"graph": CHART}) == {"loops": [["B", "D"]]}
    assert tools["neighbours"].invoke({"graph": handle, "node_id": "Q"}).startswith("error: node 'Q' is not in")
    assert "node_id" in tools["neighbours"].invoke({"graph": handle})  # validation error, as text for the model
    assert tools["start_nodes"].invoke({"graph": "graph-000000000000"}).startswith("error: unknown graph handle")


def test_langgraph_tool_node_runs_a_bound_tool_call(handle: str) -> None:
    from langchain_core.messages import AIMessage
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    sg = StateGraph(MessagesState)
    sg.add_node("tools", ToolNode(as_langchain_tools(["shortest_path", "neighbours"])))
    sg.add_edge(START, "tools")
    sg.add_edge("tools", END)
    calls = [
        {"name": "shortest_path", "args": {"graph": handle, "source": "A", "target": "E"}, "id": "c1"},
        {"name": "neighbours", "args": {"graph": handle, "node_id": "nope"}, "id": "c2"},
    ]
    messages = sg.compile().invoke({"messages": [AIMessage(content="", tool_calls=calls)]})["messages"]
    ok, bad = messages[1:]
    assert json.loads(ok.content) == {"path": ["A", "B", "C", "E"]}
    assert bad.content.startswith("error: node 'nope' is not in the graph")


@pytest.mark.slow
def test_parse_flowchart_handle_flows_into_graph_tools_and_attribute(parsed: dict) -> None:
    assert parsed["handle"].startswith("graph-") and parsed["graph"]["nodes"]
    ids = {n["text"]: n["id"] for n in parsed["summary"]["nodes"]}
    email = ids[EMAIL_NODE]
    preds = call_tool("neighbours", {"graph": parsed["handle"], "node_id": email, "direction": "in"})["neighbours"]
    assert ids["Payment approved?"] in preds
    out = call_tool("attribute", {"chart": parsed["handle"], "question": QUESTION, "answer": ANSWER})
    assert EMAIL_NODE in [n["text"] for n in out["nodes"]]
    assert out["question"] == QUESTION and out["reason"]
    # the image path itself works too, and reuses this session's parse
    again = call_tool("attribute", {"chart": str(SAMPLE), "question": QUESTION, "answer": ANSWER, "policy": "symbolic"})
    assert email in [n["id"] for n in again["nodes"]]


def test_embed_text_similarities_and_matrix() -> None:
    out = call_tool("embed_text", {"texts": ["refund the customer", "ship the parcel"], "query": "send the package"})
    assert [s["text"] for s in out["similarities"]] == ["ship the parcel", "refund the customer"]
    assert "vectors" not in out
    out = call_tool("embed_text", {"texts": ["a", "b"], "return_vectors": True})
    assert out["similarity_matrix"][0][0] == pytest.approx(1.0, abs=1e-3) and len(out["vectors"][0]) == 384


def test_cgs_tools_accept_a_handle() -> None:
    g = {
        "nodes": [{"id": "a", "attrs": {"bias": 1}}, {"id": "b", "attrs": {"bias": 0}}],
        "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}],
    }
    h = call_tool("load_graph", {"source": g})["handle"]
    out = call_tool("cgs_solve", {"graph": h, "gamma": 0.5})
    assert out["converged"] and out["values"]["a"] == pytest.approx(4 / 3, abs=1e-4)
    with pytest.raises(ToolInputError, match="gamma"):
        call_tool("cgs_solve", {"graph": h, "gamma": 2})

    from graphsolvers.tasks import generate_porous

    porous = generate_porous(1, seed=3, n_pores=(40, 40))[0].to_graph()
    out = call_tool("cgs_predict", {"graph": porous.model_dump(mode="json"), "task": "porous"})
    assert len(out["predictions"]) == 40 and out["model"]


def test_connectome_tools(tmp_path: Path) -> None:
    from connectome.io import save_recordings
    from connectome.pipeline import run_pipeline
    from connectome.synthetic import planted_dynamic_recordings

    rec, _ = planted_dynamic_recordings(n_neurons=12, n_animals=2, n_epochs=2, epoch_s=40.0, seed=0)
    save_recordings(tmp_path / "r.npz", rec)
    session = ToolSession(tmp_path)
    args = {"data": "r.npz", "window_s": 10, "stride_s": 5, "rank": 2, "n_restarts": 1}
    out = call_tool("connectome_factorize", args, session=session)
    assert out["rank"] == 2
    run = run_pipeline(rec, window_s=10, stride_s=5, rank=2, method="leiden", n_restarts=1, max_iter=80)
    result = tmp_path / "result.json"
    result.write_text(run.result.model_dump_json())
    args = {"result": str(result), "neurons": ["N000"], "method": "leiden"}
    out = call_tool("connectome_communities", args, session=session)
    assert set(out["communities"]) == {"N000"}


def test_bad_input_gives_typed_errors_with_clear_messages(handle: str) -> None:
    with pytest.raises(UnknownToolError, match=r"unknown tool 'nope'; available: load_graph"):
        call_tool("nope", {})
    with pytest.raises(ToolInputError, match=r"invalid arguments for neighbours: node_id: Field required"):
        call_tool("neighbours", {"graph": handle})
    with pytest.raises(ToolInputError, match=r"direction: Input should be 'out', 'in' or 'both'"):
        call_tool("neighbours", {"graph": handle, "node_id": "A", "direction": "up"})
    with pytest.raises(UnknownHandleError, match=r"unknown graph handle 'graph-0123456789ab'.*load_graph"):
        call_tool("loops", {"graph": "graph-0123456789ab"})
    with pytest.raises(NodeNotFoundError, match=r"node 'Z' is not in the graph \(ids: A, B"):
        call_tool("shortest_path", {"graph": handle, "source": "A", "target": "Z"})
    with pytest.raises(NodeNotFoundError, match="'Q'"):
        call_tool("bfs", {"graph": handle, "start": "A", "pinned": {"Q": "Yes"}})
    with pytest.raises(ToolInputError, match="call parse_flowchart on it first"):
        call_tool("loops", {"graph": str(SAMPLE)})
    with pytest.raises(ToolInputError, match="invalid graph"):
        call_tool("loops", {"graph": "flowchart TD\n  A -->"})
    with pytest.raises(ToolInputError, match="no such image file"):
        call_tool("parse_flowchart", {"image": "missing.png"})
    with pytest.raises(ToolInputError, match="answer"):
        call_tool("attribute", {"chart": handle, "question": "Why?", "answer": ""})


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flowpath", *args], capture_output=True, text=True, cwd=REPO)


@pytest.mark.slow
def test_cli_tools_list_and_call() -> None:
    proc = _run("tools", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["paths_between"]["input_schema"]["properties"]["pinned"]
    proc = _run("tools", "call", "paths_between", "--args", json.dumps({"graph": CHART, "source": "A", "target": "E"}))
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"paths": [["A", "B", "C", "E"]]}


def test_cli_tools_list_is_readable(capsys) -> None:
    assert main(["tools", "list"]) == 0
    out = capsys.readouterr().out
    assert "\nneighbours\n" in out and "    node_id (text, required): A node id" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tools", "call", "nope"], "unknown tool 'nope'"),
        (["tools", "call", "loops", "--args", "{bad"], "--args is not valid JSON"),
        (["tools", "call", "loops", "--args", "[1]"], "--args must be a JSON object"),
        (["tools", "call", "loops", "--args", '{"graph": "graph-0123456789ab"}'], "unknown graph handle"),
        (["tools", "call", "in_degree", "--args", json.dumps({"graph": CHART, "node_id": "Z"})], "node 'Z' is not"),
        (["tools", "call", "loops", "--args", '{"graf": 1}'], "invalid arguments for loops"),
    ],
)
def test_cli_bad_input_is_exit_2_and_one_line(argv: list[str], message: str, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("flowpath: error: ") and message in err


@pytest.mark.slow
def test_cli_bad_input_in_a_subprocess_has_no_traceback() -> None:
    proc = _run("tools", "call", "neighbours", "--args", json.dumps({"graph": CHART, "node_id": "Z"}))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("flowpath: error: node 'Z'") and proc.stderr.count("\n") == 1


@pytest.mark.slow
def test_mcp_server_lists_tools_and_attributes_the_sample_chart() -> None:
    import anyio
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import get_default_environment, stdio_client

    async def session() -> None:
        env = {**get_default_environment(), "OMP_NUM_THREADS": "1"}
        server = StdioServerParameters(command=sys.executable, args=["-m", "flowpath", "mcp"], cwd=str(REPO), env=env)
        async with stdio_client(server) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            names = {t.name for t in (await client.list_tools()).tools}
            assert names == {t.name for t in list_tools()}
            parsed = await client.call_tool("parse_flowchart", {"image": str(SAMPLE)})
            assert not parsed.is_error, parsed.content
            handle = json.loads(parsed.content[0].text)["handle"]
            result = await client.call_tool("attribute", {"chart": handle, "question": QUESTION, "answer": ANSWER})
            assert not result.is_error, result.content
            assert EMAIL_NODE in [n["text"] for n in result.structured_content["nodes"]]
            bad = await client.call_tool("neighbours", {"graph": handle, "node_id": "zz"})
            assert bad.is_error and "node 'zz' is not in the graph" in bad.content[0].text

    async def bounded() -> None:
        with anyio.fail_after(180):
            await session()

    anyio.run(bounded)


def test_readme_tools_example_runs() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Tools for agents", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    exec(compile(code, "README.md#tools-for-agents", "exec"), {})
