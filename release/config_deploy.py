"""Settings of the Kubernetes target (issue 17): `release deploy --target kubernetes|kserve`.

Part of :mod:`release.config` (re-exported there); split out so each settings module
stays one idea.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ScrapeMode = Literal["servicemonitor", "annotations"]


@dataclass(frozen=True)
class KubernetesSettings:
    """What the rendered manifests run and where: image, namespace, model source, scraping.

    ``image`` has no default: it is the image built from the repository's Dockerfile, and
    rendering refuses to guess one. ``model_secret`` names the Secret whose keys become the
    init container's environment (the repository URL and the DVC remote's credentials);
    the serving container never sees them.
    """

    image: str | None = None
    namespace: str = "models"
    replicas: int = 2
    prometheus_url: str = "http://prometheus-operated.monitoring.svc:9090"
    scrape: ScrapeMode = "servicemonitor"
    scrape_interval: int = 15
    servicemonitor_labels: dict[str, str] = field(default_factory=dict)
    model_secret: str = "release-model-source"  # noqa: S105 (a Secret's name, not a secret)
    gateways: list[str] = field(default_factory=lambda: ["mesh"])
    cpu_request: str = "250m"
    cpu_limit: str = "1"
    memory_request: str = "256Mi"
    run_as_user: int = 10001
    # Largest Kolmogorov-Smirnov distance between the canary's and the baseline's
    # prediction histograms before the analysis fails.
    max_prediction_ks: float = 0.2
