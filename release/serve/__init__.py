"""Model serving: an Open Inference Protocol (KServe V2) server with micro-batching.

Modules: ``protocol`` (wire format), ``schema`` (what a model accepts), ``runner``
(batched prediction), ``batching`` (the micro-batcher), ``metrics`` (Prometheus golden
signals), ``loader`` (path or registered version, sha256-verified), ``app`` (the
Starlette app), ``commands`` (``release serve``); ``body`` (bounded request bodies),
``large`` (the three paths by body size), ``offload`` and ``offload_worker`` (the
large-request worker process), ``render`` (JSON answers in pieces).
"""
