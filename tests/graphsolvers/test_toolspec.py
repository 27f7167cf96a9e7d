"""The tool convention: entry-point discovery, argument docs, and the query tools generated from the queries."""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint

import pytest

from graphsolvers import queries, toolspec
from graphsolvers.errors import ToolkitError
from graphsolvers.query_tools import QUERIES, bound_args_model, query_tools
from graphsolvers.toolspec import TOOL_ENTRY_POINTS, ToolArgs, TrustedContext, plugin_tools

GRAPH = {
    "nodes": [{"id": "A", "kind": "start"}, {"id": "B", "text": "Paid?", "kind": "decision"}, {"id": "C"}, {"id": "D"}],
    "edges": [
        {"source": "A", "target": "B"},
        {"source": "B", "target": "C", "label": "Yes"},
        {"source": "B", "target": "D", "label": "No"},
    ],
}


def _entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=TOOL_ENTRY_POINTS)


def test_installed_apps_publish_their_tools_by_entry_name() -> None:
    names = [t.name for t in plugin_tools()]
    assert names == ["cgs_solve", "cgs_predict", "connectome_factorize", "connectome_communities"]


def test_an_app_that_cannot_be_imported_is_skipped_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    found = [_entry("zeta", "graphsolvers.cgs.tools:TOOLS"), _entry("ghost", "no_such_app_module.tools:TOOLS")]
    monkeypatch.setattr(toolspec, "entry_points", lambda group: found if group == TOOL_ENTRY_POINTS else [])
    with caplog.at_level(logging.WARNING, logger="graphsolvers.toolspec"):
        names = [t.name for t in plugin_tools()]
    assert names == ["cgs_solve", "cgs_predict"]
    (record,) = caplog.records
    assert "ghost tools are not available" in record.getMessage() and "no_such_app_module" in record.getMessage()


def test_every_query_is_a_tool_with_the_query_name_signature_and_docs() -> None:
    specs = {t.name: t for t in query_tools()}
    assert list(specs) == [q.query.__name__ for q in QUERIES]
    assert {name for name in queries.__all__ if callable(getattr(queries, name))} - set(specs) == {"NodeNotFoundError"}
    schema = specs["paths_between"].args_model.model_json_schema()
    assert schema["required"] == ["graph", "source", "target"] and schema["additionalProperties"] is False
    assert schema["properties"]["max_paths"]["maximum"] == queries.MAX_PATHS
    assert schema["properties"]["pinned"]["description"] == queries.PARAMETERS["pinned"]
    assert specs["loops"].description.startswith("The directed cycles of the graph")
    assert "Parameters" not in specs["neighbours"].description


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("get_statement", {"node_id": "B"}, {"node_id": "B", "text": "Paid?", "kind": "decision"}),
        ("max_out_degree", {}, {"degree": 2, "nodes": ["B"]}),
        ("descendants", {"node_id": "A", "pinned": {"B": "no"}}, {"node_id": "A", "descendants": {"B": 1, "D": 2}}),
        ("decision_branches", {"node_id": "B"}, {"node_id": "B", "branches": {"Yes": "C", "No": "D"}}),
    ],
)
def test_a_query_tool_reports_the_query_value_under_its_keys(name: str, args: dict, expected: dict) -> None:
    (spec,) = [t for t in query_tools() if t.name == name]
    assert spec.run(spec.args_model(graph=GRAPH, **args), TrustedContext()) == expected


def test_a_pinned_node_the_graph_lacks_is_an_error() -> None:
    (spec,) = [t for t in query_tools() if t.name == "bfs"]
    with pytest.raises(queries.NodeNotFoundError, match="'Z' is not in the graph"):
        spec.run(spec.args_model(graph=GRAPH, start="A", pinned={"Z": "Yes"}), TrustedContext())


def test_the_bound_model_is_the_handle_model_without_the_graph() -> None:
    for q in QUERIES:
        (spec,) = [t for t in query_tools() if t.name == q.query.__name__]
        handle = spec.args_model.model_json_schema()["properties"]
        bound = bound_args_model(q.query).model_json_schema().get("properties", {})
        assert set(handle) - set(bound) == {"graph"}
        assert all(bound[k] == handle[k] for k in bound), q.query.__name__


def test_tool_args_refuse_unknown_arguments_with_the_callers_error_type() -> None:
    class Args(ToolArgs):
        n: int = 1

    with pytest.raises(ToolkitError, match="invalid Args: typo: Extra inputs are not permitted"):
        Args.coerce({"typo": 2}, error=ToolkitError)
    assert Args.coerce({"n": 3}, error=ToolkitError).n == 3


def _app_with_extra(tmp_path, requirement: str) -> list[EntryPoint]:
    """The entry points of an installed app whose tools need extra ``app`` (requiring ``requirement``)."""
    from importlib.metadata import distributions

    info = tmp_path / "someapp-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: someapp\nVersion: 1.0\nProvides-Extra: app\n"
        f'Requires-Dist: {requirement}; extra == "app"\n'
    )
    (info / "entry_points.txt").write_text(f"[{TOOL_ENTRY_POINTS}]\nsome = graphsolvers.cgs.tools:TOOLS [app]\n")
    (dist,) = distributions(path=[str(tmp_path)])
    return list(dist.entry_points)


def test_tools_whose_extra_is_not_installed_are_left_out_saying_what_to_install(
    tmp_path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    found = _app_with_extra(tmp_path, "no-such-package-xyz>=1")
    monkeypatch.setattr(toolspec, "entry_points", lambda group: found)
    with caplog.at_level(logging.WARNING, logger="graphsolvers.toolspec"):
        assert plugin_tools() == []
    (record,) = caplog.records
    assert record.getMessage() == (
        "the some tools are not available (no-such-package-xyz not installed); install flowpath[app]"
    )


def test_tools_whose_extra_is_installed_load(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = _app_with_extra(tmp_path, "pydantic>=2")
    monkeypatch.setattr(toolspec, "entry_points", lambda group: found)
    assert [t.name for t in plugin_tools()] == ["cgs_solve", "cgs_predict"]
