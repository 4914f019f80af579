"""Benchmarks of the service; see bench/README.md."""
