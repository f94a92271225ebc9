"""The reference a model is monitored against: the profile ``release evaluate`` writes
beside the model (``models/reference_profile.json``), the per-column references built
from it, and the sorted-quantile helpers both use. Below ``release.model`` (which writes
it) and ``release.monitor`` (which reads it)."""
