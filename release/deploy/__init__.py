"""Progressive delivery: strategies as plans, a statistical judge, a router, records.

The local target runs model servers and a router as separate processes on 127.0.0.1;
the Kubernetes target renders manifests (``release.deploy.kubernetes``). Decisions are
pure functions (:mod:`release.deploy.judge`, :mod:`release.deploy.plan`); processes,
HTTP and files live at the edges (:mod:`release.deploy.controller`,
:mod:`release.deploy.router`, :mod:`release.deploy.records`).
"""
