"""``inkbus bench``: measurements side by side in one run (see docs/BENCHMARKS.md)."""
