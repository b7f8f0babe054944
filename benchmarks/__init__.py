"""Throughput, latency and memory benchmarks with their recorded results (see README.md).

Benchmarks are scripts, not tests: they are never collected by pytest and never asserted on speed.
"""
