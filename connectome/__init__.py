"""connectome — dynamic functional connectomes from whole-brain calcium imaging.

Affinities between neurons per sliding window (:mod:`connectome.affinity`) form a tensor
[neuron pairs, windows, animals] that a non-negative CP decomposition (:mod:`connectome.ntf`) splits into
components; each component's pair loadings become a weighted neuron graph (the shared
:class:`graphsolvers.Graph`) whose communities are found by a weighted stochastic block model or Leiden
(:mod:`connectome.communities`). :func:`connectome.pipeline.run_pipeline` composes the stages (after
Dyballa et al., "Learning dynamic representations of the functional connectome in neurobiological
networks", ICLR 2024).
"""

from graphsolvers.lazy import lazy_exports

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

# loaded on first use: the tool registry reads connectome.tools, which should not import torch and scipy
__getattr__ = lazy_exports(
    __name__,
    {
        "AffinityTensor": "affinity",
        "affinity_tensor": "affinity",
        "ConnectomeError": "errors",
        "Recordings": "io",
        "load_flavell2023": "io",
        "load_recordings": "io",
        "validate_recordings": "io",
        "leiden_communities": "leiden",
        "ari": "metrics",
        "nmi": "metrics",
        "NTFResult": "ntf",
        "ntf_hals": "ntf",
        "rank_selection": "ntf",
        "DynamicConnectome": "pipeline",
        "run_pipeline": "pipeline",
        "write_outputs": "pipeline",
        "fit_weighted_sbm": "sbm",
        "sbm_communities": "sbm",
    },
)
