"""Benchmarks: python -m bench.journey."""
