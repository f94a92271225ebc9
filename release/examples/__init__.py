"""Example projects for ``release init --example NAME``: package data, one folder each.

An example holds everything that is specific to it (its ``params.yaml``, its hand-written
``card.yaml`` and its artifact in ``artifacts.yaml``); nothing in it is a default that a
project made from its own data inherits.
"""
