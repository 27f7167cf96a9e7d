from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from graphsolvers.cgs.data import collate
from graphsolvers.cgs.model import CGS, IGNN, AttentionEncoder, StackedGNN
from graphsolvers.cgs.tools import CgsPredictArgs, CgsSolveArgs, cgs_predict, cgs_solve
from graphsolvers.cgs.training import evaluate_task, load_checkpoint, predict, save_checkpoint, train_model
from graphsolvers.errors import CheckpointError, FeatureError, GraphStructureError, GraphValidationError
from graphsolvers.fixedpoint.graphmap import GraphLinearMap
from graphsolvers.fixedpoint.solvers import fixed_point_iteration
from graphsolvers.graph import Edge, Graph, Node
from graphsolvers.tasks import generate_gvi, generate_porous, sample_from_graph
from graphsolvers.tasks.gvi import DISCOUNT, gvi_metrics, policy_loss, q_values
from graphsolvers.tasks.porous import INLET_PRESSURE


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A few training steps per task: enough to test the plumbing, not the accuracy."""
    out = tmp_path_factory.mktemp("ckpt")
    paths = {}
    for task in ("gvi", "porous"):
        ckpt = train_model(
            task, "cgs", n_train=8, n_val=4, max_steps=3, batch_size=4, config={"hidden": 8, "n_heads": 2}
        )
        paths[task] = save_checkpoint(ckpt, out / f"{task}_cgs.pt")
    return paths


# ----------------------------------------------------------------------------- contraction
@pytest.mark.parametrize("seed", range(6))
def test_every_head_is_a_contraction_in_the_max_norm(seed: int) -> None:
    """‖γ·A_m‖_∞ < γ < 1 for random graphs, random features and random (untrained) weights."""
    g = torch.Generator().manual_seed(seed)
    n = int(torch.randint(2, 60, (1,), generator=g))
    e = int(torch.randint(1, 6 * n, (1,), generator=g))
    src = torch.randint(0, n, (e,), generator=g)
    dst = (src + torch.randint(1, n, (e,), generator=g)) % n
    torch.manual_seed(seed)
    enc = AttentionEncoder(5, 3, hidden=16, n_heads=4)
    for p in enc.parameters():  # far from the initialisation, too
        p.data.mul_(1 + 3 * seed)
    out = enc(torch.randn(n, 5, generator=g) * 10, torch.randn(e, 3, generator=g) * 10, torch.stack([src, dst]))
    rows = torch.zeros(n, 4).index_add_(0, dst, out.coeff.detach())
    assert bool((out.coeff >= 0).all())
    gamma = 0.95
    assert float((gamma * rows).max()) < gamma < 1
    A = torch.zeros(4, n, n).index_put_(
        (torch.arange(4).repeat_interleave(e), dst.repeat(4), src.repeat(4)),
        out.coeff.detach().T.reshape(-1),
        accumulate=True,
    )
    assert float(torch.linalg.matrix_norm(gamma * A, ord=float("inf")).max()) < 1
    # unique fixed point: two far-apart starts reach the same point
    op = GraphLinearMap(torch.stack([src, dst]), n, gamma=gamma).bind(out.coeff)
    f = lambda x: torch.tanh(op.matvec(x) + out.bias.detach())  # noqa: E731
    a = fixed_point_iteration(f, torch.full((n, 4), 50.0), max_iter=2000, tol=1e-7)
    b = fixed_point_iteration(f, torch.full((n, 4), -50.0), max_iter=2000, tol=1e-7)
    assert a.converged and b.converged
    torch.testing.assert_close(a.x, b.x, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("model_cls", [CGS, IGNN, StackedGNN])
def test_models_train_step_on_a_batch(model_cls: type) -> None:
    torch.manual_seed(0)
    batch = collate(generate_porous(3, seed=0, n_pores=(50, 60)))
    model = model_cls(6, 2)
    out = model(batch)
    assert out.shape == (batch.num_nodes, 1)
    ((out[:, 0] - batch.y[:, 0]) ** 2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(bool(torch.isfinite(gr).all()) for gr in grads)
    if model_cls is not StackedGNN:
        assert model.last_stats["forward"].converged and model.last_stats["backward"].converged


def test_graph_readout() -> None:
    batch = collate(generate_gvi(3, seed=2))
    model = CGS(18, 18, hidden=8, n_heads=2, readout="graph", out_dim=2)
    assert model(batch).shape == (3, 2)


def test_cgs_rejects_a_non_contracting_gamma() -> None:
    with pytest.raises(ValueError, match="gamma must lie in"):
        CGS(6, 2, gamma=1.0)
    with pytest.raises(ValueError, match="n_rounds must be a positive integer"):
        CGS(6, 2, n_rounds=0)


def test_refinement_rounds_keep_the_contraction_and_train() -> None:
    torch.manual_seed(0)
    batch = collate(generate_gvi(3, seed=2))
    model = CGS(18, 18, hidden=16, n_heads=4, n_rounds=3)
    enc = model.encoder(batch.x, batch.edge_attr, batch.edge_index)
    enc = model.refine[0](enc, torch.randn(batch.num_nodes, 4) * 10, batch.edge_attr, batch.edge_index)
    rows = torch.zeros(batch.num_nodes, 4).index_add_(0, batch.edge_index[1], enc.coeff.detach())
    assert bool((enc.coeff >= 0).all()) and float(rows.max()) < 1
    out = model(batch)
    out.sum().backward()
    assert model.last_stats["forward"].converged and model.last_stats["backward"].converged
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in model.refine.parameters())


def test_gvi_policy_loss_prefers_the_true_values() -> None:
    batch = collate(generate_gvi(4, seed=9))
    v = batch.y[:, 0]
    noisy = (v + 0.3 * torch.randn(v.shape, generator=torch.Generator().manual_seed(0))).requires_grad_()
    at_truth = policy_loss(batch.x, batch.edge_attr, batch.edge_index, v, v)
    at_noise = policy_loss(batch.x, batch.edge_attr, batch.edge_index, noisy, v)
    assert torch.isfinite(at_truth) and at_noise.item() > at_truth.item()
    at_noise.backward()
    assert bool(torch.isfinite(noisy.grad).all()) and float(noisy.grad.abs().sum()) > 0
    # a constant shift of the values changes no greedy action
    shifted = policy_loss(batch.x, batch.edge_attr, batch.edge_index, v + 5.0, v)
    assert float(shifted) == pytest.approx(float(at_truth), rel=1e-4)


def test_train_model_rejects_a_negative_aux_weight() -> None:
    with pytest.raises(ValueError, match="aux_weight must be"):
        train_model("gvi", "cgs", n_train=2, n_val=1, max_steps=1, batch_size=1, aux_weight=-1.0)


# ----------------------------------------------------------------------------- tasks
def test_gvi_targets_satisfy_the_bellman_equation() -> None:
    samples = generate_gvi(5, seed=3)
    again = generate_gvi(5, seed=3)
    for s, t in zip(samples, again, strict=True):
        V, R, P = s.meta["V"], s.meta["R"], s.meta["P"]
        assert 20 <= s.num_nodes <= 49
        n_actions = (~np.isnan(R)).sum(axis=1)
        assert n_actions.min() >= 5 and n_actions.max() <= 9
        assert np.abs(np.nan_to_num(R)).max() <= 1
        np.testing.assert_allclose(P.sum(axis=2)[~np.isnan(R)], 1.0, atol=1e-12)
        # value iteration stopped at a 1e-3 step, so the Bellman residual is below 1e-3
        assert np.abs(q_values(R, P, V).max(axis=1) - V).max() < 1e-3
        assert not (s.edge_index[0] == s.edge_index[1]).any()
        np.testing.assert_array_equal(s.x, t.x)  # seeded


def test_porous_pressure_conserves_mass_and_meets_the_boundaries() -> None:
    for s in generate_porous(3, seed=4):
        p, g, (i, j) = s.meta["pressure"], s.meta["conductance"], s.meta["throats"]
        inlet, outlet = s.x[:, 4] > 0.5, s.x[:, 5] > 0.5
        np.testing.assert_allclose(p[inlet], INLET_PRESSURE)
        np.testing.assert_allclose(p[outlet], 0.0, atol=1e-6)
        flux = np.zeros(s.num_nodes)
        np.add.at(flux, i, g * (p[i] - p[j]))
        np.add.at(flux, j, g * (p[j] - p[i]))
        interior = ~(inlet | outlet)
        assert np.abs(flux[interior]).max() < 1e-9 * np.abs(g * (p[i] - p[j])).max()
        assert s.y.max() == pytest.approx(1.0) and s.y.min() >= -1e-6
        assert 50 <= s.num_nodes <= 200
    large = generate_porous(1, seed=5, n_pores=(200, 500))[0]
    assert 200 <= large.num_nodes <= 500


def test_sample_graph_round_trip() -> None:
    s = generate_porous(1, seed=6)[0]
    back = sample_from_graph(Graph.from_json(s.to_graph().to_json()), task="porous", node_dim=6, edge_dim=2)
    np.testing.assert_array_equal(back.x, s.x)
    np.testing.assert_array_equal(back.edge_index, s.edge_index)
    np.testing.assert_array_equal(back.edge_attr, s.edge_attr)
    np.testing.assert_array_equal(back.y, s.y)


# ----------------------------------------------------------------------------- checkpoints and tools
@pytest.mark.slow
def test_checkpoint_round_trip_gives_the_same_predictions(tiny_checkpoints: dict[str, Path]) -> None:
    ckpt = load_checkpoint(tiny_checkpoints["porous"], task="porous")
    samples = generate_porous(2, seed=7)
    again = load_checkpoint(tiny_checkpoints["porous"])
    for a, b in zip(predict(ckpt, samples), predict(again, samples), strict=True):
        np.testing.assert_array_equal(a, b)
    assert ckpt.info["steps"] == 3 and ckpt.kind == "cgs"


def test_cgs_solve_tool() -> None:
    g = Graph(
        nodes=[Node(id="a", attrs={"bias": 1.0}), Node(id="b", attrs={"bias": 0.0}), Node(id="c", attrs={"bias": 2.0})],
        edges=[Edge(source="a", target="b"), Edge(source="b", target="c"), Edge(source="c", target="a")],
    )
    out = cgs_solve({"graph": g.to_json(), "gamma": 0.5})
    expected = np.linalg.solve(np.eye(3) - 0.5 * np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]]), [1.0, 0.0, 2.0])
    np.testing.assert_allclose([out["values"][k] for k in "abc"], expected, atol=1e-7)
    assert out["converged"] and json.loads(json.dumps(out)) == out
    assert "gamma" in CgsSolveArgs.model_json_schema()["properties"]
    with pytest.raises(GraphValidationError, match="gamma"):
        cgs_solve({"graph": g.to_json(), "gamma": 1.5})


@pytest.mark.slow
def test_cgs_predict_tool(tiny_checkpoints: dict[str, Path]) -> None:
    g = generate_gvi(1, seed=8)[0].to_graph()
    out = cgs_predict({"graph": g.model_dump(), "task": "gvi", "checkpoint": str(tiny_checkpoints["gvi"])})
    assert set(out["predictions"]) == set(g.node_ids) and set(out["policy"]) == set(g.node_ids)
    assert out["model"] == "cgs" and json.loads(json.dumps(out)) == out
    assert set(CgsPredictArgs.model_json_schema()["required"]) == {"graph", "task"}


def _porous_graph() -> Graph:
    return generate_porous(1, seed=9, n_pores=(50, 50))[0].to_graph()


def _with_node_features(graph: Graph, index: int, features: list[float]) -> Graph:
    data = graph.model_dump()
    data["nodes"][index]["attrs"]["features"] = features
    return Graph(**data)


def _bad_graphs() -> list[tuple[str, Graph, type, str]]:
    g = _porous_graph()
    two = g.model_dump()
    n = len(two["nodes"])
    two["nodes"] += [
        {"id": "x1", "kind": "other", "attrs": {"features": [0.5] * 6}},
        {"id": "x2", "kind": "other", "attrs": {"features": [0.5] * 6}},
    ]
    two["edges"].append({"source": "x1", "target": "x2", "attrs": {"features": [0.0, 0.1]}})
    loop = g.model_dump()
    loop["edges"].append({"source": "0", "target": "0", "attrs": {"features": [0.0, 0.1]}})
    return [
        ("no edges", Graph(nodes=g.nodes, edges=[], attrs=g.attrs), GraphStructureError, "no edges"),
        ("self-loop", Graph(**loop), GraphStructureError, "self-loop"),
        ("NaN", _with_node_features(g, 3, [float("nan")] * 6), FeatureError, "NaN or inf"),
        ("inf", _with_node_features(g, 3, [float("inf")] + [0.0] * 5), FeatureError, "NaN or inf"),
        ("disconnected", Graph(**two), GraphStructureError, f"2 disconnected parts \\(sizes \\[{n}, 2\\]"),
        ("size", _with_node_features(g, 0, [0.0] * 4), FeatureError, "has 4 features; this model expects 6"),
        ("missing", _with_node_features(g, 0, None), FeatureError, "needs attrs\\['features'\\]"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "graph", "error", "match"), _bad_graphs(), ids=[b[0] for b in _bad_graphs()])
def test_bad_graphs_get_typed_errors(
    tiny_checkpoints: dict[str, Path], name: str, graph: Graph, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        cgs_predict({"graph": graph.model_dump(), "task": "porous", "checkpoint": str(tiny_checkpoints["porous"])})


@pytest.mark.slow
def test_checkpoint_for_another_task(tiny_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="trained for task 'gvi', not 'porous'"):
        cgs_predict(
            {"graph": _porous_graph().model_dump(), "task": "porous", "checkpoint": str(tiny_checkpoints["gvi"])}
        )
    gvi_graph = generate_gvi(1, seed=1)[0].to_graph()
    with pytest.raises(GraphValidationError, match="marked as task 'gvi'"):
        cgs_predict({"graph": gvi_graph.model_dump(), "task": "porous", "checkpoint": str(tiny_checkpoints["porous"])})
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(junk)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


# ----------------------------------------------------------------------------- CLI
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "graphsolvers.cli", *args], capture_output=True, text=True)


def _eval_rows(task: str, checkpoint: Path, n_graphs: int) -> dict[tuple[str, str], dict]:
    """The rows ``evaluate_task`` computes in this process, by (model, split)."""
    report = evaluate_task(task, {"checkpoint": load_checkpoint(checkpoint)}, n_graphs=n_graphs)
    return {(r["model"], r["split"]): r for r in report["rows"]}


@pytest.mark.slow
def test_eval_cli_writes_the_checkpoints_metrics(tiny_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    """The headline figures are the checkpoint's on the first split (porous: and on the large one), the exact
    solver's row is perfect, and a 3-step checkpoint is not."""
    out = tmp_path / "gvi.json"
    proc = _cli("eval", "gvi", str(tiny_checkpoints["gvi"]), "--n-graphs", "3", "--no-baselines", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    rows = _eval_rows("gvi", tiny_checkpoints["gvi"], 3)
    split = data["rows"][0]["split"]
    mine, exact = rows["checkpoint", split], rows["exact", split]
    assert data["policy_accuracy"] == pytest.approx(mine["policy_accuracy"])
    assert data["value_mape"] == pytest.approx(mine["value_mape"], rel=1e-4)
    assert exact["policy_accuracy"] == 1.0 and exact["value_mape"] < 1e-3 < mine["value_mape"]  # percent
    out = tmp_path / "porous.json"
    proc = _cli(
        "eval", "porous", str(tiny_checkpoints["porous"]), "--n-graphs", "2", "--no-baselines", "--json", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    rows = _eval_rows("porous", tiny_checkpoints["porous"], 2)
    in_size, large = list(dict.fromkeys(r["split"] for r in data["rows"]))
    assert data["mse"] == pytest.approx(rows["checkpoint", in_size]["mse"], rel=1e-4)
    assert data["mse_large"] == pytest.approx(rows["checkpoint", large]["mse"], rel=1e-4)
    assert rows["exact", in_size]["mse"] < 1e-9 < data["mse"] and rows["exact", large]["mse"] < 1e-9 < data["mse_large"]


@pytest.mark.slow
def test_eval_cli_bad_checkpoint_is_one_line(tiny_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    proc = _cli("eval", "porous", str(tiny_checkpoints["gvi"]), "--n-graphs", "2", "--json", str(out))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "trained for task 'gvi'" in proc.stderr
    assert not out.exists()


@pytest.mark.slow
def test_bench_cli_rows(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = _cli("bench", "--sizes", "256", "--dense-max", "256", "--heads", "2", "--threads", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())
    assert [r["impl"] for r in rows] == ["sparse", "dense"]
    for r in rows:
        assert {"n", "edges", "impl", "forward_s", "backward_s", "peak_mb"} <= set(r)
        assert r["n"] == 256 and r["edges"] == 1536
    assert "speed-up" in proc.stdout


@pytest.mark.slow
def test_train_cli_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    proc = _cli("train", "gvi", "--steps", "2", "--n-train", "4", "--batch-size", "2", "--output-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    ckpt = load_checkpoint(tmp_path / "gvi_cgs.pt", task="gvi")
    assert ckpt.info["steps"] == 2 and "gvi_cgs.pt" in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["train", "gvi", "--steps", "0"],
        ["train", "maze"],
        ["bench", "--sizes", "x"],
        ["train", "gvi", "--aux-weight", "-1"],
    ],
)
def test_cgs_cli_usage_errors_are_one_line(args: list[str]) -> None:
    proc = _cli(*args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("task", ["gvi", "porous"])
@pytest.mark.parametrize("kind", ["cgs", "ignn", "gnn"])
def test_committed_checkpoints_are_small_and_usable(task: str, kind: str) -> None:
    from graphsolvers.cgs.training import default_checkpoint, get_task

    path = default_checkpoint(task, kind)
    assert path.stat().st_size < 350_000  # gvi CGS (two rounds, 69k parameters): 308 KB
    ckpt = load_checkpoint(path, task=task)
    assert (ckpt.task, ckpt.kind) == (task, kind) and ckpt.info["steps"] > 100
    samples = get_task(task).generate(2, seed=11)
    assert all(
        np.isfinite(p).all() and p.shape == (s.num_nodes,) for s, p in zip(samples, predict(ckpt, samples), strict=True)
    )


@pytest.mark.parametrize("activation", ["identity", "tanh"])
def test_cgs_gradients_match_autograd_through_an_unrolled_solve(activation: str) -> None:
    """The head-major implicit layer gives the gradients of backpropagating through many plain iterations."""
    torch.manual_seed(0)
    batch = collate(generate_gvi(2, seed=4))
    model = CGS(18, 18, hidden=8, n_heads=3, activation=activation, tol=1e-12, max_iter=2000).double()
    x, ea = batch.x.double(), batch.edge_attr.double()
    batch.x, batch.edge_attr = x, ea
    (model(batch) ** 2).sum().backward()
    implicit = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    enc = model.encoder(x, ea, batch.edge_index)
    op = GraphLinearMap(batch.edge_index, batch.num_nodes, gamma=model.gamma)
    z = torch.zeros_like(enc.bias)
    for _ in range(400):  # γ·σ(gate) < 0.9: 0.9^400 is far below double precision
        z = op.matvec(enc.coeff, z) + enc.bias
        z = torch.tanh(z) if activation == "tanh" else z
    out = model.decoder(torch.cat([(1 - model.gamma) * z, enc.h], dim=1))
    (out**2).sum().backward()
    for k, g in implicit.items():
        torch.testing.assert_close(g, model.get_parameter(k).grad, rtol=1e-6, atol=1e-9, msg=k)


def _policy_iteration_weights(model: CGS) -> None:
    """Hand-set a lookahead round to one step of policy iteration on gvi graphs (slots = actions)."""
    step = model.refine[0]
    la = step.lookahead
    with torch.no_grad():
        for p in step.parameters():
            p.zero_()
        la.value.weight.fill_(1.0)  # v = z
        # slot score ∝ R(s, a) + γ Σ P(s'|s, a) v(s'), missing actions far below
        la.slot_score.weight.copy_(torch.tensor([[200.0, 1e4, 200.0 * DISCOUNT, 0.0]], dtype=torch.float64))
        la.slot_score.bias.fill_(-1e4)
        la.edge_term.weight.copy_(torch.tensor([[0.0, 1.0]], dtype=torch.float64))  # score ln P(s'|s, a)
        la.node_term.weight.copy_(torch.tensor([[1.0, 0.0]], dtype=torch.float64))  # bias R(s, a)
        step.node_head[-1].bias[0] = 40.0  # σ(gate) = 1 in double precision


def test_slot_lookahead_can_express_policy_iteration() -> None:
    """With hand-set weights, lookahead rounds are policy improvement + evaluation: V* is (nearly) kept,
    and noisy values improve round after round (to 0.99 here)."""
    torch.manual_seed(0)
    samples = generate_gvi(4, seed=3)
    batch = collate(samples)
    model = CGS(18, 18, hidden=8, n_heads=1, n_rounds=2, lookahead_slots=9, gamma=DISCOUNT).double()
    _policy_iteration_weights(model)
    x, ea = batch.x.double(), batch.edge_attr.double()
    enc = model.encoder(x, ea, batch.edge_index)
    op = GraphLinearMap(batch.edge_index, batch.num_nodes, gamma=DISCOUNT)

    def improve(v: torch.Tensor) -> torch.Tensor:
        out = model.refine[0](enc, v, ea, batch.edge_index, x)
        bound = op.bind(out.coeff.detach())
        res = fixed_point_iteration(lambda z: bound.matvec(z) + out.bias.detach(), v * 0, max_iter=3000, tol=1e-10)
        assert res.converged
        return res.x

    def accuracy(v: torch.Tensor) -> float:
        return gvi_metrics(samples, np.split(v[:, 0].detach().numpy(), np.cumsum(batch.sizes())[:-1]))[
            "policy_accuracy"
        ]

    v_star = batch.y.double()
    # ln(P + 1e-3) in the features lets ~1e-3 of each row leak to the other successors: small errors
    assert float((improve(v_star) - v_star).abs().max()) < 0.2
    assert accuracy(improve(v_star)) >= 0.97
    noise = torch.randn(v_star.shape, generator=torch.Generator().manual_seed(1), dtype=v_star.dtype)
    v = v_star + 0.5 * noise
    acc = [accuracy(v)]
    for _ in range(6):
        v = improve(v)
        acc.append(accuracy(v))
    assert acc[0] < 0.7 and acc[-1] >= 0.97 and acc[-1] > acc[1]


def test_lookahead_rounds_keep_the_contraction_and_train() -> None:
    torch.manual_seed(0)
    batch = collate(generate_gvi(3, seed=2))
    model = CGS(18, 18, hidden=16, n_heads=4, n_rounds=2, lookahead_slots=9)
    enc = model.encoder(batch.x, batch.edge_attr, batch.edge_index)
    enc = model.refine[0](enc, torch.randn(batch.num_nodes, 4) * 10, batch.edge_attr, batch.edge_index, batch.x)
    rows = torch.zeros(batch.num_nodes, 4).index_add_(0, batch.edge_index[1], enc.coeff.detach())
    assert bool((enc.coeff >= 0).all()) and float(rows.max()) < 1
    model(batch).sum().backward()
    grads = [p.grad for p in model.refine[0].lookahead.parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)


def test_lookahead_configuration_errors() -> None:
    with pytest.raises(ValueError, match="must divide both feature sizes"):
        CGS(18, 18, n_rounds=2, lookahead_slots=4)
    with pytest.raises(ValueError, match="needs n_rounds >= 2"):
        CGS(18, 18, lookahead_slots=9)


def test_collate_stores_edges_by_target_with_their_features() -> None:
    samples = generate_gvi(3, seed=5)
    batch = collate(samples)
    dst = batch.edge_index[1]
    assert bool((dst[1:] >= dst[:-1]).all())
    offsets = np.cumsum([0] + [s.num_nodes for s in samples[:-1]])
    original = sorted(
        (int(a + o), int(b + o), *np.round(np.asarray(f, dtype=np.float32).astype(np.float64), 5).tolist())
        for s, o in zip(samples, offsets, strict=True)
        for (a, b), f in zip(s.edge_index.T, s.edge_attr, strict=True)
    )
    got = sorted(
        (int(a), int(b), *np.round(f, 5).tolist())
        for (a, b), f in zip(batch.edge_index.T.numpy(), batch.edge_attr.numpy().astype(np.float64), strict=True)
    )
    assert got == original
