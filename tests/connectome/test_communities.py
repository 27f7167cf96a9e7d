import numpy as np
import pytest

from connectome.affinity import pair_index
from connectome.communities import detect_communities
from connectome.errors import ParameterError
from connectome.graphs import component_graph
from connectome.leiden import leiden_communities
from connectome.metrics import nmi
from connectome.sbm import fit_weighted_sbm, sbm_communities
from connectome.synthetic import planted_partition_graph
from graphsolvers.graph import Edge, Graph


@pytest.mark.slow
@pytest.mark.parametrize(("n", "mu"), [(90, 0.2), (150, 0.4)])
def test_sbm_matches_or_beats_leiden_on_planted_partitions(n, mu):
    g, truth = planted_partition_graph(n, mu=mu, seed=3, average_degree=20, min_community=15, max_community=40)
    sbm = nmi(truth, sbm_communities(g, seed=0))
    leiden = nmi(truth, leiden_communities(g, seed=0))
    assert sbm >= leiden - 1e-9
    assert sbm > 0.8


@pytest.mark.slow
def test_sbm_chooses_the_number_of_blocks():
    g, truth = planted_partition_graph(120, mu=0.15, seed=1, average_degree=16, min_community=20, max_community=40)
    fit = fit_weighted_sbm(g, seed=0)
    assert fit.n_blocks == len(set(truth.values()))
    assert fit.description_length == min(fit.candidates.values())
    assert len(fit.candidates) > 3  # it compared several K


def test_sbm_finds_one_block_in_a_random_graph():
    rng = np.random.default_rng(0)
    n = 80
    iu, ju = np.triu_indices(n, 1)
    take = rng.random(len(iu)) < 0.15
    g = Graph(
        nodes=[{"id": f"v{i}"} for i in range(n)],
        edges=[
            Edge(source=f"v{a}", target=f"v{b}", weight=float(w))
            for a, b, w in zip(iu[take], ju[take], rng.exponential(size=take.sum()), strict=True)
        ],
        directed=False,
    )
    assert fit_weighted_sbm(g, seed=0).n_blocks == 1


@pytest.mark.slow
def test_weight_scale_does_not_change_the_partition():
    g, _ = planted_partition_graph(80, mu=0.3, seed=2, average_degree=14, min_community=20, max_community=30)
    scaled = g.model_copy(update={"edges": [e.model_copy(update={"weight": e.weight * 1000}) for e in g.edges]})
    assert sbm_communities(g, seed=0) == sbm_communities(scaled, seed=0)


def test_weights_carry_information():
    # same topology everywhere; only the weights say which edges are internal
    rng = np.random.default_rng(0)
    n, groups = 60, np.repeat([0, 1, 2], 20)
    iu, ju = np.triu_indices(n, 1)
    take = rng.random(len(iu)) < 0.3
    internal = groups[iu] == groups[ju]
    w = np.where(internal, rng.exponential(5.0, len(iu)), rng.exponential(0.5, len(iu)))
    g = Graph(
        nodes=[{"id": str(i)} for i in range(n)],
        edges=[
            Edge(source=str(a), target=str(b), weight=float(x))
            for a, b, x in zip(iu[take], ju[take], w[take], strict=True)
        ],
        directed=False,
    )
    truth = {str(i): int(c) for i, c in enumerate(groups)}
    assert nmi(truth, sbm_communities(g, seed=0)) > 0.9
    unweighted = fit_weighted_sbm(g, seed=0, weighted=False)
    assert unweighted.n_blocks == 1  # topology alone is a random graph


def test_component_graph_is_a_shared_undirected_graph():
    n = 6
    pairs = pair_index(n)
    w = np.array([1.0 if (i < 3) == (j < 3) else 0.01 for i, j in pairs])
    g = component_graph(w, pairs, [f"N{i}" for i in range(n)], knn=2)
    assert isinstance(g, Graph) and not g.directed
    assert max(e.weight for e in g.edges) == 1.0
    assert {n.kind for n in g.nodes} == {"neuron"}
    assert Graph.from_json(g.to_json()) == g
    comms = leiden_communities(g)
    assert nmi({f"N{i}": int(i < 3) for i in range(n)}, comms) == 1.0


def test_nmi_properties():
    a = [0, 0, 1, 1, 2, 2]
    assert nmi(a, a) == 1.0
    assert nmi(a, [5, 5, 3, 3, 9, 9]) == 1.0
    assert 0 < nmi(a, [0, 0, 1, 1, 1, 1]) < 1
    with pytest.raises(ParameterError):
        nmi([0, 1], [0])


def test_unknown_method():
    g, _ = planted_partition_graph(40, mu=0.1, seed=0)
    with pytest.raises(ParameterError, match="unknown community method 'louvain'"):
        detect_communities(g, method="louvain")
    with pytest.raises(ParameterError, match="mixing mu"):
        planted_partition_graph(40, mu=1.5)
