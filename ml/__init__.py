"""Recogniser: ink validation, rasterisation, model artifacts (serving side) and training."""
