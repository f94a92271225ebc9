"""Kubernetes object names derived from GTO names (issue 16, item 4).

The registry accepts ``Team_Model`` and ``team/model``; Kubernetes wants DNS-1035 labels
for Services (lowercase letters, digits and '-', starting with a letter, at most 63
characters). Instead of refusing, the name is mapped (lowercase, ``_`` and ``/`` to
``-``) and, whenever the mapping changed it or had to shorten it, a short hash of the
original is appended, so two GTO names never share objects (``Team_Model`` and
``team_model`` both lowercase to ``team-model`` but hash differently). The GTO name
itself travels in an annotation.
"""

from __future__ import annotations

import hashlib
import re

from release.errors import UsageError

# DNS-1035 label, what a Service name must be; every object name is held to it.
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# Kubernetes label values: at most 63 of [A-Za-z0-9_.-], alphanumeric at both ends.
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# What GTO accepts as an artifact or stage name (gto/constants.py).
GTO_NAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9/_-]*[a-zA-Z0-9])?$")

_HASH = 6
# The longest suffix the renderer adds to the base name ("-analysis").
LONGEST_SUFFIX = len("-analysis")
MAX_BASE = 63 - LONGEST_SUFFIX


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:_HASH]


def dns_name(value: str, what: str, *, limit: int = 63) -> str:
    """``value`` as a DNS-1035 label of at most ``limit`` characters.

    A valid label is returned unchanged; anything else the GTO grammar allows is
    lowercased, ``_`` and ``/`` become ``-``, a leading digit gets an ``m-`` prefix, and
    ``-`` plus six hex digits of the original's sha256 is appended (cutting the mapped
    part so the result fits). Raises UsageError for what is not a GTO name at all.
    """
    if not isinstance(value, str) or not GTO_NAME.fullmatch(value) or len(value) > 255:
        raise UsageError(
            f"{what} {value!r} is not a registry name",
            "use letters, digits, '-', '_' and '/', starting and ending alphanumeric",
        )
    if DNS_LABEL.fullmatch(value) and len(value) <= limit:
        return value
    mapped = value.lower().replace("_", "-").replace("/", "-")
    if not mapped[0].isalpha():
        mapped = "m-" + mapped
    room = limit - _HASH - 1
    mapped = mapped[:room].rstrip("-")
    return f"{mapped}-{_digest(value)}"


def base_name(name: str, stage: str) -> str:
    """The base of every object name for ``name`` in ``stage`` (``<name>-<stage>``).

    Each part is mapped by :func:`dns_name`; if the pair is longer than the renderer's
    suffixes allow, it is shortened and given the hash of the pair.
    """
    artifact = dns_name(name, "artifact name")
    stage_part = dns_name(stage, "stage")
    base = f"{artifact}-{stage_part}"
    if len(base) <= MAX_BASE:
        return base
    return f"{base[: MAX_BASE - _HASH - 1].rstrip('-')}-{_digest(f'{name}#{stage}')}"


def check_namespace(namespace: str) -> str:
    """A namespace from the settings must already be a DNS-1123 label: it is not derived."""
    if not isinstance(namespace, str) or not DNS_LABEL.fullmatch(namespace) or len(namespace) > 63:
        raise UsageError(
            f"release.deploy.kubernetes.namespace {namespace!r} is not a Kubernetes namespace",
            "use lowercase letters, digits and '-', starting with a letter",
        )
    return namespace


def label_value(value: str, fallback: str) -> str:
    """``value`` if Kubernetes accepts it as a label value, else ``fallback`` (a DNS name)."""
    return value if len(value) <= 63 and LABEL_VALUE.fullmatch(value) else fallback
