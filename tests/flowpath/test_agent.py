from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flowpath.agent.graph import MAX_TEXT_CHARS, build_agent
from flowpath.agent.planner import symbolic_policy
from flowpath.errors import InputError
from graphsolvers.graph import Graph
from graphsolvers.io import load_graph

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "bench_data" / "samples" / "order_fulfilment.mmd"


@pytest.fixture(scope="module")
def chart() -> Graph:
    return load_graph(SAMPLE)


@pytest.fixture(scope="module")
def agent():
    return build_agent()  # the default: learned policy with MiniLM embeddings


def test_content_question_finds_answer_node_and_branch(chart: Graph) -> None:
    r = build_agent(policy="symbolic", use_embeddings=False).attribute(
        chart,
        "What happens if the payment is not approved?",
        "The customer is emailed to update their payment details.",
    )
    assert "J" in r.node_ids and "I" in r.node_ids
    assert any(e.source == "I" and e.target == "J" and e.label == "No" for e in r.edges)
    assert r.trace and all(t.tool for t in r.trace)


@pytest.mark.slow
def test_learned_policy_scores_nodes_and_records_the_scores(chart: Graph, agent) -> None:
    r = agent.attribute(
        chart,
        "What happens if the payment is not approved?",
        "The customer is emailed to update their payment details.",
    )
    assert r.intent == "scored" and "J" in r.node_ids
    assert "A" not in r.node_ids and "K" not in r.node_ids  # start/end do not ground this answer
    scores = r.trace[0].result
    assert r.trace[0].tool == "score_nodes" and max(scores, key=scores.get) == "J"


def test_each_claim_of_a_multi_claim_answer_is_grounded(chart: Graph, agent) -> None:
    r = agent.attribute(
        chart,
        "What happens when the card payment is declined?",
        "The customer is emailed to update the payment details, and the card is charged again.",
    )
    assert {"J", "H"} <= set(r.node_ids)


def test_learned_policy_without_embeddings_falls_back_to_the_rules(chart: Graph) -> None:
    r = build_agent(use_embeddings=False).attribute(chart, "What is shipped?", "Pack and ship the order")
    assert "L" in r.node_ids and any("no embeddings" in w for w in r.warnings)


def test_uncovered_claims(chart: Graph) -> None:
    from flowpath.agent.planner import uncovered_claims

    answer = "The customer is emailed to update the payment details, and the card is charged again."
    assert uncovered_claims(chart, answer, {"J": 1.0}, min_match=0.6) == [("the card is charged again", "H")]
    assert uncovered_claims(chart, answer, {"J": 1.0, "H": 0.5}, min_match=0.6) == []  # all covered
    assert uncovered_claims(chart, "The customer is emailed.", {"B": 1.0}, min_match=0.6) == []  # one claim only
    answer = "The customer is emailed, and the customer waits."  # 'customer' alone names no single node
    assert uncovered_claims(chart, answer, {"J": 1.0}, min_match=0.6) == []


class _FixedScorer:
    """Stands in for a cross-validation fold's scorer: always prefers one node."""

    threshold = 0.5

    def __init__(self, graph: Graph, favourite: str) -> None:
        self.ids, self.favourite = graph.node_ids, favourite

    def predict(self, features, graph):
        return np.array([0.9 if i == self.favourite else 0.1 for i in self.ids])


def test_a_scorer_passed_to_attribute_is_the_one_used(chart: Graph, agent) -> None:
    r = agent.attribute(chart, "What is sent after shipping?", "A tracking number", scorer=_FixedScorer(chart, "E"))
    assert r.node_ids == ["E"] and r.intent == "scored"


def test_structural_questions_use_the_graph_tools(chart: Graph, agent) -> None:
    r = agent.attribute(
        chart,
        'Is the node ""Charge the customer\'s card"" direct successor of the node '
        '""Reserve the items in the warehouse""?',
        "Yes",
    )
    assert sorted(r.node_ids) == ["D", "H"] and r.intent == "successor"
    r = agent.attribute(
        chart,
        'How many edges exist in the shortest path between ""Receive customer order"" and ""Pack and ship the order""?',
        "5",
    )
    assert r.node_ids == ["B", "C", "D", "H", "I", "L"] and r.intent == "path"
    assert r.trace[0].tool == "shortest_path"
    r = agent.attribute(chart, "What is the maximum indegree for the flowchart?", "2")
    assert set(r.node_ids) == {"D", "K", "H"}


def test_unrelated_answer_gives_empty_attribution(chart: Graph, agent) -> None:
    r = agent.attribute(chart, "Who painted the Mona Lisa?", "Leonardo da Vinci in Florence")
    assert r.node_ids == [] and "matches" in r.reason


def test_non_english_text_is_handled(chart: Graph, agent) -> None:
    r = agent.attribute(chart, "¿Qué pasa si el pago es rechazado?", "Se envía un correo al cliente.")
    assert set(r.node_ids) <= set(chart.node_ids)


def test_very_long_text_is_truncated_with_warning(chart: Graph, agent) -> None:
    r = agent.attribute(chart, "What is shipped? " * 300, "Pack and ship the order")
    assert len(r.question) == MAX_TEXT_CHARS and any("truncated" in w for w in r.warnings)
    assert "L" in r.node_ids


@pytest.mark.parametrize(("q", "a"), [("", "x"), ("   ", "x"), ("What?", ""), ("What?", " \n ")])
def test_empty_question_or_answer_is_an_input_error(chart: Graph, agent, q: str, a: str) -> None:
    with pytest.raises(InputError, match="is empty"):
        agent.attribute(chart, q, a)


def test_chart_without_nodes(agent) -> None:
    r = agent.attribute(Graph(), "What happens?", "Nothing")
    assert r.node_ids == [] and "no nodes" in r.reason


def test_unknown_policy_and_bad_source(chart: Graph) -> None:
    with pytest.raises(InputError, match="unknown policy"):
        build_agent(policy="oracle")
    with pytest.raises(InputError, match="no such image file"):
        build_agent(use_embeddings=False).attribute("/no/such.png", "q?", "a")


def test_policy_never_returns_unknown_ids(chart: Graph) -> None:
    sel = symbolic_policy(
        chart, 'Is the node ""Nonexistent step"" direct successor of the node ""Also missing""?', "No", embedder=None
    )
    assert set(sel.scores) <= set(chart.node_ids)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowpath", *args], capture_output=True, text=True)


@pytest.mark.slow
def test_attribute_cli_json(tmp_path: Path) -> None:
    proc = _cli(
        "attribute",
        str(SAMPLE),
        "-q",
        "What is sent after shipping?",
        "-a",
        "A tracking number",
        "--json",
        "--no-embeddings",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["nodes"][0]["id"] == "M"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("attribute", "/no/chart.mmd", "-q", "q?", "-a", "a"), "no such file"),
        (("attribute", str(SAMPLE), "-q", " ", "-a", "a"), "question is empty"),
        (("attribute", str(SAMPLE), "-q", "q?"), "required: -a/--answer"),
        (("bench", "--data", "/nonexistent", "--graph-source", "mermaid"), "has no dataset.json"),
        (("bench", "--data", str(REPO), "--limit", "0"), "--limit must be at least 1"),
        (("train-scorer", "--data", "/nonexistent"), "has no dataset.json"),
        (("train-scorer", "--data", "/nonexistent", "--iterations", "0"), "--iterations must be at least 1"),
        (("train-scorer", "--data", "/nonexistent", "--folds", "1"), "--folds must be at least 2"),
        (("train-scorer", "--data", "/nonexistent", "--epochs", "0"), "--epochs must be at least 1"),
        (("train-scorer", "--data", "/nonexistent", "--nets", "-1"), "--nets must be at least 1"),
    ],
)
def test_cli_bad_input_is_one_line(args: tuple[str, ...], match: str) -> None:
    proc = _cli(*args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and match in proc.stderr, proc.stderr


@pytest.mark.slow
def test_bench_on_dev_subset(feb_dev: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "preds.jsonl", tmp_path / "report.md"
    proc = _cli(
        "bench",
        "--data",
        str(feb_dev),
        "--graph-source",
        "mermaid",
        "--limit",
        "40",
        "--no-embeddings",
        "--out",
        str(out),
        "--report",
        str(report),
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 40 and {"id", "key", "type", "domain", "pred", "gold"} <= set(rows[0])
    table = proc.stdout.splitlines()
    all_row = next(line for line in table if line.startswith("| all |"))
    agent_f1 = float(all_row.split("|")[5])
    assert agent_f1 > 0.55, all_row  # lexical-only agent on the first 40 dev questions
    assert "Worst" in report.read_text()


@pytest.mark.slow
def test_bench_times_questions_apart_from_embedding_their_charts(feb_dev: Path, agent) -> None:
    from flowpath.bench.dataset import load_items
    from flowpath.bench.run import markdown_report, run_bench

    items = load_items(feb_dev, limit=12)
    run = run_bench(items, agent=agent)
    assert len(run.seconds_per_question) == 12 and len(run.seconds_per_chart) == len({i.key for i in items})
    report = markdown_report(run)
    assert "its node texts embedded): p50" in report and "Embedding a chart's node texts (once per chart)" in report


def test_out_of_fold_counts_score_each_chart_with_its_own_fold(chart: Graph) -> None:
    from flowpath.bench.dataset import BenchItem
    from flowpath.bench.train import Example, out_of_fold_counts

    def example(key: str, gold: list[str]) -> Example:
        item = BenchItem(id=key, key=key, mermaid="", q="q", a1="a", type="fact_retrieval", attribution=gold,
                         domain="code")  # fmt: skip
        labels = np.array([n in gold for n in chart.node_ids], dtype=np.float32)
        return Example(item, chart, np.zeros((len(chart.nodes), 1), np.float32), labels)

    examples = [example("k1", ["J"]), example("k2", ["H", "ZZ"])]  # ZZ: a gold id the chart lacks
    counts = out_of_fold_counts(examples, {"k1": 0, "k2": 1}, [_FixedScorer(chart, "J"), _FixedScorer(chart, "K")])
    assert (counts.tp, counts.fp, counts.fn) == (1, 1, 2)  # k1 right; k2 picks K, misses H and ZZ


@pytest.mark.slow
def test_the_scorer_reads_the_charts_edges() -> None:
    """A node's score depends on its neighbours: the label sits on a node's successor only."""
    from flowpath.agent.features import FEATURE_NAMES
    from flowpath.agent.scorer import fit_scorer
    from graphsolvers.mermaid import parse_mermaid

    chain = parse_mermaid('flowchart TD\n A["a"] --> B["b"] --> C["c"] --> D["d"]')
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for _ in range(40):
        x = rng.normal(size=(4, len(FEATURE_NAMES))).astype(np.float32)
        hot = int(rng.integers(1, 4))
        x[:, 0] = 0.0
        x[hot, 0] = 3.0  # a strong signal on one node; the gold node is the one before it
        xs.append(x)
        ys.append(np.eye(4, dtype=np.float32)[hot - 1])
    scorer = fit_scorer(xs, ys, [chain] * 40, iterations=100)
    x = np.zeros((4, len(FEATURE_NAMES)), dtype=np.float32)
    x[2, 0] = 3.0
    assert int(np.argmax(scorer.predict(x, chain))) == 1
    reversed_chain = parse_mermaid('flowchart TD\n D["d"] --> C["c"] --> B["b"] --> A["a"]')
    rows = [reversed_chain.node_ids.index(n) for n in chain.node_ids]
    assert reversed_chain.node_ids[int(np.argmax(scorer.predict(x[np.argsort(rows)], reversed_chain)))] != "B"


def test_scorer_rejects_rows_that_do_not_fit_the_chart(chart: Graph, tmp_path: Path) -> None:
    import torch

    from flowpath.agent.features import FEATURE_NAMES
    from flowpath.agent.scorer import load_scorer
    from flowpath.errors import FlowpathError

    scorer = load_scorer()
    with pytest.raises(FlowpathError, match="feature rows"):
        scorer.predict(np.zeros((len(chart.nodes) + 1, len(FEATURE_NAMES)), dtype=np.float32), chart)
    with pytest.raises(FlowpathError, match="expects"):
        scorer.predict(np.zeros((len(chart.nodes), len(FEATURE_NAMES) - 1), dtype=np.float32), chart)
    old = tmp_path / "old.pt"
    torch.save({"state_dicts": [], "features": list(FEATURE_NAMES)}, old)  # the torch format of earlier versions
    with pytest.raises(FlowpathError, match="retrain"):
        load_scorer(old)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(FlowpathError, match="retrain"):
        load_scorer(junk)
    from flowpath.agent.scorer import DEFAULT_WEIGHTS

    whole = DEFAULT_WEIGHTS.read_bytes()
    for name, data in (("cut.npz", whole[: len(whole) // 2]), ("flipped.npz", whole[:200] + bytes(64) + whole[264:])):
        (tmp_path / name).write_bytes(data)  # a download cut short, a file with damaged bytes
        with pytest.raises(FlowpathError, match="retrain"):
            load_scorer(tmp_path / name)


@pytest.mark.slow
def test_saved_scorer_loads_without_pickle_and_predicts_the_same(tmp_path: Path) -> None:
    """Weights are plain arrays; a scorer written with other feature names is refused."""
    import json

    from flowpath.agent.features import FEATURE_NAMES
    from flowpath.agent.scorer import fit_scorer, load_scorer
    from flowpath.errors import FlowpathError
    from graphsolvers.mermaid import parse_mermaid

    chain = parse_mermaid('flowchart TD\n A["a"] --> B["b"] --> C["c"]')
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(3, len(FEATURE_NAMES))).astype(np.float32) for _ in range(30)]
    ys = [(x[:, 1] > 0).astype(np.float32) for x in xs]
    scorer = fit_scorer(xs, ys, [chain] * 30, iterations=20, trained_on=["k2", "k1"])
    path = tmp_path / "s.npz"
    scorer.save(path)
    loaded = load_scorer(path)
    assert loaded.trained_on == ["k1", "k2"]
    np.testing.assert_allclose(loaded.predict(xs[0], chain), scorer.predict(xs[0], chain))
    with np.load(path, allow_pickle=False) as blob:
        arrays = {k: blob[k] for k in blob.files}
    meta = json.loads(str(arrays["meta"]))
    meta["features"] = meta["features"][:-1]
    arrays["meta"] = np.array(json.dumps(meta))
    other = tmp_path / "other.npz"
    np.savez(other, **arrays)
    with pytest.raises(FlowpathError, match="other features"):
        load_scorer(other)


@pytest.mark.slow
def test_exported_trees_predict_what_scikit_learn_predicts() -> None:
    """The NumPy tree walk reproduces HistGradientBoostingClassifier, NaN routing included."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from flowpath.agent.scorer import TreeEnsemble

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 6))
    x[::13, 2] = np.nan
    y = (x[:, 0] + np.nan_to_num(x[:, 2]) * x[:, 1] > 0.2).astype(int)
    model = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15, early_stopping=False, random_state=0)
    model.fit(x, y)
    p = 1.0 / (1.0 + np.exp(-TreeEnsemble.from_sklearn(model).raw(x)))
    np.testing.assert_allclose(p, model.predict_proba(x)[:, 1], atol=1e-12)


def test_scorer_refuses_labels_of_one_class() -> None:
    from flowpath.agent.features import FEATURE_NAMES
    from flowpath.agent.scorer import fit_scorer
    from flowpath.errors import FlowpathError
    from graphsolvers.mermaid import parse_mermaid

    chain = parse_mermaid('flowchart TD\n A["a"] --> B["b"]')
    with pytest.raises(FlowpathError, match="all the same"):
        fit_scorer([np.zeros((2, len(FEATURE_NAMES)), np.float32)], [np.zeros(2)], [chain])


def _tiny_bench(folder: Path, *, paraphrases: bool) -> list[str]:
    """A FlowExplainBench-shaped folder of six small charts, two questions each; returns the chart keys."""
    charts = {
        f"c{k}": f'flowchart TD\n A(["Start"]) --> B["Boil {k} litres of water"] --> C{{"Is it boiling?"}}\n'
        f'    C -->|Yes| D["Add {k} cups of pasta"] --> E(["End"])\n    C -->|No| B'
        for k in range(6)
    }
    questions = [
        ("What is added once the water boils?", "Pasta is added", "The pasta goes in", ["C", "D"]),
        ("What do you boil first?", "Water", "Some water", ["B"]),
    ]
    items = {}
    for key, mermaid in charts.items():
        for j, (q, a1, a2, gold) in enumerate(questions):
            items[f"{key}_{j}"] = {"key": key, "mermaid": mermaid, "q": q, "a1": a1, "type": "fact_retrieval",
                                   "attribution": gold, "domain": "instruct"}  # fmt: skip
            if paraphrases:
                items[f"{key}_{j}"] |= {"a2": a2, "a3": a2}
    (folder / "dataset.json").write_text(json.dumps(items))
    return list(charts)


@pytest.mark.slow
def test_train_scorer_cli_writes_weights_that_load(tmp_path: Path) -> None:
    """A tiny benchmark folder: cross-validated figure printed, weights written atomically and loadable."""
    from flowpath.agent.scorer import load_scorer

    keys = _tiny_bench(tmp_path, paraphrases=False)
    out = tmp_path / "w" / "scorer.npz"
    proc = _cli(
        "train-scorer",
        "--data",
        str(tmp_path),
        "--folds",
        "2",
        "--iterations",
        "20",
        "--epochs",
        "3",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert "2-fold chart-split CV" in proc.stdout and out.is_file()
    assert not list(out.parent.glob("*.tmp"))
    assert sorted(load_scorer(out).trained_on) == sorted(keys)


@pytest.mark.slow
def test_bench_attributes_the_chosen_paraphrase(tmp_path: Path) -> None:
    """--answer a2 attributes the paraphrase; a folder without paraphrases is refused before any work."""
    from flowpath.bench.dataset import load_items

    _tiny_bench(tmp_path, paraphrases=True)
    report = tmp_path / "report.md"
    proc = _cli("bench", "--data", str(tmp_path), "--graph-source", "mermaid", "--answer", "a2", "--no-embeddings",
                "--report", str(report))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "- A (a2): The pasta goes in" in report.read_text() or "- A (a2): Some water" in report.read_text()
    assert load_items(tmp_path)[0].answer("a2") == "The pasta goes in"
    _tiny_bench(tmp_path, paraphrases=False)
    out = tmp_path / "preds.jsonl"
    proc = _cli("bench", "--data", str(tmp_path), "--graph-source", "mermaid", "--answer", "a3", "--out", str(out))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "has no answer 'a3'" in proc.stderr
    assert not out.exists()


def test_build_examples_adds_one_example_per_paraphrase(tmp_path: Path) -> None:
    from flowpath.bench.dataset import load_items
    from flowpath.bench.train import build_examples

    _tiny_bench(tmp_path, paraphrases=True)
    items = load_items(tmp_path)[:2]
    only_a1 = build_examples(items, embedder=None)
    every = build_examples(items, embedder=None, answers=("a1", "a2", "a3"))
    assert [e.answer for e in only_a1] == ["a1", "a1"]
    assert [e.answer for e in every] == ["a1", "a2", "a3"] * 2
    assert all(np.array_equal(e.labels, every[3 * (i // 3)].labels) for i, e in enumerate(every))
    assert not np.array_equal(every[0].features, every[1].features)  # the answer's wording changes the features


def test_nets_in_numpy_predict_what_torch_predicts() -> None:
    """The NumPy forward pass reproduces the torch nets: edge messages, branch flags, chart max, head."""
    import torch

    from flowpath.agent.graphnet import GraphNets, batch, chart_edges, torch_net
    from graphsolvers.mermaid import parse_mermaid

    chart = parse_mermaid(
        'flowchart TD\n A["a"] --> B{"b"}\n B -->|Yes| C["c"]\n B -->|No| D["d"]\n C --> E["e"]\n D --> E\n E --> B'
    )
    rng = np.random.default_rng(3)
    x = rng.normal(size=(len(chart.nodes), 5))
    mean, std = rng.normal(size=5), rng.uniform(0.5, 2.0, size=5)
    torch.manual_seed(0)
    nets = [torch_net(5), torch_net(5)]
    edges = chart_edges(chart)
    xb, src, dst, lab, chart_of = batch([torch.from_numpy(((x - mean) / std).astype(np.float32))], [edges])
    with torch.no_grad():
        want = torch.stack([torch.sigmoid(net(xb, src, dst, lab, chart_of, 1)) for net in nets]).mean(0).numpy()
    got = GraphNets.from_torch(nets, mean, std).predict(x, edges)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.ptp(got) > 1e-3  # the nodes differ, so the comparison says something


def test_cover_features_pick_the_node_that_states_the_rest_of_the_answer() -> None:
    """Greedy cover: the node that restates the best match adds nothing; the one stating the other claim does."""
    from flowpath.agent.features import FEATURE_NAMES, node_features
    from flowpath.agent.grounding import ground
    from graphsolvers.mermaid import parse_mermaid

    chart = parse_mermaid(
        'flowchart TD\n A["Email the customer"] --> B["Email the customer a receipt"] --> C["Charge the card"]'
        ' --> D["Close the order"]'
    )
    answer = "The customer gets an email with a receipt, then the card is charged"
    f = node_features(chart, "What happens after the order?", answer, ground(chart, "q", answer, None))
    order = dict(zip(chart.node_ids, f[:, FEATURE_NAMES.index("a_cover_order")], strict=True))
    second = dict(zip(chart.node_ids, f[:, FEATURE_NAMES.index("a_cover_second")], strict=True))
    assert order["B"] == 0.25 and order["C"] == 0.5  # B first (most words), then C
    assert order["A"] == 0.0 and order["D"] == 0.0
    assert second["C"] > 0.3 and second["A"] == 0.0  # after B, A adds nothing, C adds the card
