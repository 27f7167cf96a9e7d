import json

import pytest

from connectome.errors import ParameterError, UnknownNeuronError
from connectome.io import save_recordings
from connectome.pipeline import run_pipeline
from connectome.tools import CommunitiesArgs, connectome_communities, connectome_factorize


@pytest.fixture(scope="module")
def result_file(tmp_path_factory, small_planted):
    rec, _ = small_planted
    run = run_pipeline(rec, window_s=10, stride_s=5, rank=2, method="leiden", n_restarts=1, max_iter=80)
    path = tmp_path_factory.mktemp("res") / "result.json"
    path.write_text(run.result.model_dump_json())
    return path


def test_factorize_tool_returns_json(tmp_path, small_planted):
    rec, _ = small_planted
    data = save_recordings(tmp_path / "r.npz", rec)
    out = connectome_factorize({"data": str(data), "window_s": 10, "stride_s": 5, "rank": 2, "n_restarts": 1})
    json.dumps(out)
    assert out["rank"] == 2 and len(out["components"][0]["top_pairs"]) == 10
    with pytest.raises(ParameterError, match="window_s"):
        connectome_factorize({"data": str(data), "window_s": -1})
    with pytest.raises(ParameterError, match="rank"):
        connectome_factorize({"data": str(data), "rank": 0})


def test_communities_tool(result_file):
    out = connectome_communities(CommunitiesArgs(result=str(result_file), component=0, neurons=["N000"]))
    json.dumps(out)
    assert set(out["communities"]) == {"N000"}
    assert "N000" in out["members"][str(out["communities"]["N000"])]
    with pytest.raises(UnknownNeuronError, match="AVAL"):
        connectome_communities({"result": str(result_file), "neurons": ["AVAL"]})
    with pytest.raises(ParameterError, match="component 5 out of range"):
        connectome_communities({"result": str(result_file), "component": 5})
