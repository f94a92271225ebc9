"""release: a GitOps model registry and release tool for machine-learning teams."""

__version__ = "0.1.0"
