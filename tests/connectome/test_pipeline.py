import json

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from connectome.errors import FactorizationError, OutputExistsError, ParameterError, UnknownNeuronError
from connectome.metrics import nmi
from connectome.pipeline import DynamicConnectome, community_of, run_pipeline, write_outputs


@pytest.fixture(scope="module")
def planted_run(planted):
    rec, truth = planted
    return run_pipeline(rec, window_s=20, stride_s=10, rank=3, method="sbm", n_restarts=2, seed=0), truth


def test_pipeline_recovers_planted_dynamic_communities(planted_run):
    run, truth = planted_run
    result = run.result
    indicator = truth.epoch_indicator(np.array(result.windows_s))
    courses = np.array([c.time for c in result.components])
    corr = np.corrcoef(np.vstack([indicator, courses]))[:3, 3:]
    epochs, comps = linear_sum_assignment(-corr)
    for e, c in zip(epochs, comps, strict=True):
        assert corr[e, c] > 0.8  # the component's time course follows its epoch
        assert nmi(truth.partitions[e], result.components[c].communities) >= 0.9
    # every animal takes part in every planted epoch
    loads = np.array([result.components[c].animals for c in comps])
    assert (loads > 0.1 * loads.max(axis=1, keepdims=True)).all()


@pytest.mark.slow
def test_result_json_has_the_issue_schema(planted_run, planted, tmp_path):
    run, _ = planted_run
    rec, _ = planted
    out = write_outputs(run, rec, tmp_path / "out")
    data = json.loads((out / "result.json").read_text())
    assert set(data) == {"windows_s", "components", "params"}
    comp = data["components"][0]
    assert set(comp) == {"time", "animals", "communities", "weights"}
    assert len(comp["time"]) == len(data["windows_s"]) and len(comp["animals"]) == rec.n_animals
    assert set(comp["communities"]) == set(rec.neurons)
    assert comp["weights"]["directed"] is False and comp["weights"]["edges"][0]["weight"] > 0
    assert DynamicConnectome.model_validate(data) == run.result
    for png in ("time_courses.png", "animal_loadings.png", "communities.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_output_folder_is_never_half_written(planted_run, planted, tmp_path):
    run, _ = planted_run
    rec, _ = planted
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not empty"):
        write_outputs(run, rec, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left behind


def test_unknown_neuron_in_a_query(planted_run):
    run, _ = planted_run
    assert set(community_of(run.result, ["N000", "N001"])) == {"N000", "N001"}
    with pytest.raises(UnknownNeuronError, match="unknown neuron name\\(s\\) \\['AVAL'\\]"):
        community_of(run.result, ["N000", "AVAL"])
    with pytest.raises(ParameterError, match="component 9 out of range"):
        community_of(run.result, ["N000"], component=9)


def test_bad_pipeline_options(small_planted):
    rec, _ = small_planted
    with pytest.raises(FactorizationError, match="only 3 windows for rank 5"):
        run_pipeline(rec, window_s=40, stride_s=20, rank=5)
    with pytest.raises(ParameterError, match="rank must be a positive integer or 'auto'"):
        run_pipeline(rec, window_s=10, stride_s=5, rank=0)
    with pytest.raises(ParameterError, match="window length must be a positive"):
        run_pipeline(rec, window_s=-10, stride_s=5, rank=1)
    with pytest.raises(ParameterError, match="unknown community method"):
        run_pipeline(rec, window_s=10, stride_s=5, rank=1, method="louvain")


@pytest.mark.slow
def test_auto_rank_writes_rank_selection_plot(small_planted, tmp_path):
    rec, _ = small_planted
    run = run_pipeline(
        rec, window_s=10, stride_s=5, rank="auto", ranks=[1, 2, 3], n_restarts=2, max_iter=60, method="leiden"
    )
    assert run.result.params["rank"] == run.selection.chosen
    assert run.result.params["rank_selection"]["ranks"] == [1, 2, 3]
    out = write_outputs(run, rec, tmp_path / "auto")
    assert (out / "rank_selection.png").is_file()
