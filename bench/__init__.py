"""fleet's benchmark: fleet against ARM's request budget and against the official SDK.

Run ``python -m bench.run --help`` from the repository root; see ``bench/RESULTS.md``.
"""
