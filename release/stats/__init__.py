"""The statistics core: one implementation of each measure, used by every part.

- :mod:`release.stats.metrics`: metrics by name (point values, and for stacks of
  resampled confusion matrices), agreeing with scikit-learn;
- :mod:`release.stats.bootstrap`: the vectorised, seeded bootstrap;
- :mod:`release.stats.divergence`: population stability index and Jensen-Shannon
  distance (natural log);
- :mod:`release.stats.proportions`: Wilson and Clopper-Pearson intervals, Fisher's exact
  test, for counts too small for normal approximations.

Error analysis, monitoring, the canary judge and the policy gates import these modules;
none of them computes a PSI, a bootstrap or a metric of its own.
"""
