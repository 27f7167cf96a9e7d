"""Benchmarks of the flowpath app: gold data loaders and scorers (FlowExplainBench, synthetic sets)."""
