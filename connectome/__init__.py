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
from connectome.communities import fit_weighted_sbm, leiden_communities, nmi, sbm_communities
from connectome.errors import ConnectomeError
from connectome.io import Recordings, load_flavell2023, load_recordings, validate_recordings
from connectome.ntf import NTFResult, ntf_hals, rank_selection
from connectome.pipeline import DynamicConnectome, run_pipeline, write_outputs

__all__ = [
    "AffinityTensor",
    "ConnectomeError",
    "DynamicConnectome",
    "NTFResult",
    "Recordings",
    "affinity_tensor",
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
