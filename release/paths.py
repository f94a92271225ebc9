"""Where the pipeline's files live, relative to the project root.

Every stage in ``dvc.yaml`` and every command agree on these names; a file here is the
contract between two parts of the system.
"""

from __future__ import annotations

PARAMS = "params.yaml"
CARD_INPUT = "card.yaml"  # hand-written model card content

RAW_DIR = "data/raw"
PREPARED_DIR = "data/prepared"
TRAIN = "data/prepared/train.parquet"
TEST = "data/prepared/test.parquet"
PROVENANCE = "data/provenance.json"

REPORTS = "reports"
DATA_QUALITY = "reports/data_quality.json"
METRICS = "reports/metrics.json"
PREDICTIONS = "reports/predictions.parquet"
PLOTS_DIR = "reports/plots"
SLICES_JSON = "reports/slices.json"
SLICES_MD = "reports/slices.md"
EXPLAIN_JSON = "reports/explain.json"
EXAMPLES_JSON = "reports/examples.json"

MODELS = "models"
MODEL = "models/model.skops"
MODEL_META = "models/model.json"
REFERENCE_PROFILE = "models/reference_profile.json"

CARD_DIR = "model_card"
CARD_JSON = "model_card/card.json"
CARD_MD = "model_card/README.md"
CARD_HTML = "model_card/card.html"

DEPLOYMENTS_DIR = ".release/deployments"
