"""Closed-form infinite-width NNGP and NTK kernels of ReLU residual MLPs (float64)."""

__all__: list[str] = []
