"""The GTO-compatible model registry: versions and stages in git tags.

Public API in :mod:`release.registry.api`; tag grammar in :mod:`release.grammar`.
"""
