"""Benchmarks: ``python -m benchmarks.NAME`` (medians over repeats, ratios from one run).

Single process, single-threaded BLAS (as in the engine's workers).  Not tests: these
machines are shared and noisy, so the scripts report medians and ratios measured
side by side, and the README quotes them with the command that produced them.
"""
