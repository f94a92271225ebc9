"""Progressive delivery: strategies as plans, a statistical judge, a router, records.

The local target runs model servers and a router as separate processes on 127.0.0.1;
the Kubernetes target renders manifests (``release.deploy.kubernetes``). Decisions are
pure functions: the judge (:mod:`~release.deploy.judge`), the plans
(:mod:`~release.deploy.plan`) and the rollout's state machine
(:mod:`~release.deploy.machine`). Its effects run in :mod:`~release.deploy.driver` through
small interfaces (:mod:`~release.deploy.effects`: process launcher, router admin, record
store, registry writer); processes, HTTP and files live at the edges
(:mod:`~release.deploy.controller`, :mod:`~release.deploy.router_app`,
:mod:`~release.deploy.records`, :mod:`~release.deploy.recovery`).

How the local target behaves:

- ``release deploy NAME STAGE`` compares the version the registry assigns to STAGE (the
  candidate) with the one the deployment record says serves it (the baseline). It starts
  the candidate's ``release serve`` process and, when needed, the stage's router
  (``release.deploy.router_port`` + the stage's index, or ``--port``), then runs the plan.
- Before any traffic: the contract check (same V2 inputs, or ``--allow-schema-change``),
  a smoke test (requests built from the model's metadata must all succeed) and the
  golden-set replay (the candidate must reproduce the predictions recorded at
  evaluation time for its own commit; skipped, and recorded as skipped, when that
  commit's test set and predictions are in neither git nor the DVC cache).
- Each analysed step opens a new measurement window in the router and asks the judge
  until it passes (after ``min_duration``), fails (at once), or stays inconclusive until
  ``max_duration`` (``inconclusive``: a rollback, or held when the stage's
  ``on_inconclusive`` is ``hold``). When a step sends all traffic to the candidate, the
  baseline of the earlier windows is the reference; a blue/green bake is judged against
  the old version's pre-switch window. A baseline that fails health checks stops the
  rollout (``failed: baseline unhealthy``), never a promotion.
- A rollback sends all traffic to the baseline, stops the candidate and writes a GTO
  assignment tag restoring the baseline version, with the reason in its message.
- After the command the stage keeps serving in the background: the current server, the
  router and (blue/green) the previous version kept warm as standby, with pids and exact
  command lines in ``<state_dir>/<name>/<stage>.json``. ``release deployments`` shows the
  records; ``release deployments --stop NAME STAGE`` stops those processes (a later
  ``release deploy`` restarts them).
"""
