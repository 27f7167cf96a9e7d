"""Tool names and argument schemas are a contract: MCP clients and chat models call the tools by them.

``data/tool_schemas.json`` was written from the tools as they stood before the tool convention of issue #26
(``python -m tests.flowpath.test_tool_schemas > tests/flowpath/data/tool_schemas.json``). Descriptions and
schema titles may be reworded; names, argument names, types, defaults, bounds and required lists may not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).parent / "data" / "tool_schemas.json"
WORDING_KEYS = frozenset({"description", "title"})
"""Schema keys that only word things for a reader; every other key is part of the contract."""
BOUND_KEYS = frozenset({"minimum", "maximum"})
"""Bounds a chat model's bound graph tools may gain from the registry's argument models (a model that
oversteps one gets the validation error back as the tool's output)."""


def current_schemas() -> dict[str, Any]:
    """Every registry tool's input schema, and every tool the LLM policy binds to one chart (OpenAI format)."""
    from flowpath.agent.llm.tools import graph_tools, openai_schemas
    from flowpath.agent.planner import Toolbox
    from flowpath.tools import list_tools
    from graphsolvers.mermaid import parse_mermaid

    bound = openai_schemas(graph_tools(Toolbox(parse_mermaid("flowchart TD\n  A --> B"))))
    return {
        "registry": {t.name: t.input_schema() for t in list_tools()},
        "llm_policy": {s["function"]["name"]: s["function"]["parameters"] for s in bound},
    }


def contract(schema: Any, ignore: frozenset[str] = WORDING_KEYS) -> Any:
    """``schema`` without the keys in ``ignore`` (default: its wording); property names are kept whatever they are
    called."""
    if isinstance(schema, dict):
        return {
            k: ({p: contract(v, ignore) for p, v in val.items()} if k == "properties" else contract(val, ignore))
            for k, val in schema.items()
            if k not in ignore
        }
    if isinstance(schema, list):
        return [contract(v, ignore) for v in schema]
    return schema


def test_registry_tool_names_order_and_schemas_are_unchanged() -> None:
    want = json.loads(SNAPSHOT.read_text(encoding="utf-8"))["registry"]
    got = current_schemas()["registry"]
    assert list(got) == list(want)
    for name in want:
        assert contract(got[name]) == contract(want[name]), name


def test_llm_policy_tool_names_and_schemas_are_unchanged() -> None:
    want = json.loads(SNAPSHOT.read_text(encoding="utf-8"))["llm_policy"]
    got = current_schemas()["llm_policy"]
    assert list(got) == list(want)
    for name in want:
        got_args = {k: v for k, v in got[name].items() if k != "additionalProperties"}
        assert contract(got_args, WORDING_KEYS | BOUND_KEYS) == contract(want[name], WORDING_KEYS | BOUND_KEYS), name


def test_contract_ignores_wording_but_not_names_or_types() -> None:
    schema = {"title": "A", "properties": {"title": {"type": "string", "description": "x"}}, "required": ["title"]}
    assert contract(schema) == {"properties": {"title": {"type": "string"}}, "required": ["title"]}
    renamed = {"properties": {"name": {"type": "string"}}, "required": ["name"]}
    assert contract(renamed) != contract(schema)


if __name__ == "__main__":
    json.dump(current_schemas(), sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
