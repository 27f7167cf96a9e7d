"""connectome — dynamic functional connectomes from whole-brain calcium imaging.

Affinities between neurons per sliding window (:mod:`connectome.affinity`) form a tensor
[neuron pairs, windows, animals] that a non-negative CP decomposition (:mod:`connectome.ntf`) splits into
components; each component's pair loadings become a weighted neuron graph (the shared
:class:`graphsolvers.Graph`) whose communities are found by a weighted stochastic block model or Leiden
(:mod:`connectome.communities`). :func:`connectome.pipeline.run_pipeline` composes the stages (after
Dyballa et al., "Learning dynamic representations of the functional connectome in neurobiological
networks", ICLR 2024).
"""

from connectome.affinity import AffinityTensor, affinity_tensor
from connectome.errors import ConnectomeError
from connectome.io import Recordings, load_flavell2023, load_recordings, validate_recordings
from connectome.leiden import leiden_communities
from connectome.metrics import ari, nmi
from connectome.ntf import NTFResult, ntf_hals, rank_selection
from connectome.pipeline import DynamicConnectome, run_pipeline, write_outputs
from connectome.sbm import fit_weighted_sbm, sbm_communities

__all__ = [
    "AffinityTensor",
    "ConnectomeError",
    "DynamicConnectome",
    "NTFResult",
    "Recordings",
    "affinity_tensor",
    "ari",
    "fit_weighted_sbm",
    "leiden_communities",
    "load_flavell2023",
    "load_recordings",
    "nmi",
    "ntf_hals",
    "rank_selection",
    "run_pipeline",
    "sbm_communities",
    "validate_recordings",
    "write_outputs",
]
