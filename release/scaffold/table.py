"""Read a table as text cells and find its missing-value markers (the I/O of ``release init``).

CSV is read with its dialect sniffed and every cell kept as text, so nothing is parsed
before the markers are known; :func:`typed` then parses cells as the data loader will.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from release.errors import DataError

# Markers that mean "missing" wherever they appear; "-" only in otherwise numeric columns,
# where it cannot be a category.
NA_MARKERS = ("", "?", "NA", "N/A", "n/a", "na", "NaN", "nan", "null", "NULL", "None", "#N/A")
DASH = "-"


def read_data(path: str | Path) -> tuple[Any, str | None]:
    """The table as text cells (nothing parsed yet), and the CSV delimiter (None for Parquet)."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a directory", "pass one CSV or Parquet file with --data")
    if not path.is_file():
        raise DataError(f"data file {path} not found", "pass an existing file with --data")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for bad files
            raise DataError(f"{path} is not a readable Parquet file", str(exc)[:200]) from None
        return frame, None
    if suffix not in (".csv", ".tsv", ".txt"):
        raise DataError(f"{path}: unknown file type {suffix!r}", "use a .csv or .parquet file")
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        sample = fh.read(64 * 1024)
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    try:
        frame = pd.read_csv(
            path, sep=delimiter, dtype=str, keep_default_na=False, skipinitialspace=True
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{path} is not a readable CSV: {first}", "fix the file") from None
    if frame.shape[1] == 0 or len(frame) == 0:
        raise DataError(f"{path} has no rows", "provide a file with a header and rows")
    return frame, delimiter


def detect_na_values(raw: Any) -> list[str]:
    """Markers of missing values present in the text cells, in :data:`NA_MARKERS` order."""
    import pandas as pd

    found: set[str] = set()
    for name in raw.columns:
        col = raw[name]
        if not (pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)):
            continue
        text = col.dropna().astype(str).str.strip()
        present = set(text.unique())
        found |= present & set(NA_MARKERS)
        if DASH in present:
            rest = text[~text.isin([*NA_MARKERS, DASH])]
            numeric = pd.to_numeric(rest, errors="coerce").notna().mean() if len(rest) else 0
            if numeric >= 0.9:
                found.add(DASH)
    return [m for m in (*NA_MARKERS, DASH) if m in found]


def typed(raw: Any, na_values: list[str]) -> Any:
    """Cells parsed as the data loader will: markers become missing, numbers become numbers."""
    import pandas as pd

    out = {}
    for name in raw.columns:
        col = raw[name]
        if pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col):
            text = col.astype("string").str.strip()
            text = text.mask(text.isin(na_values))
            numbers = pd.to_numeric(text, errors="coerce")
            if text.notna().sum() and numbers.notna().sum() == text.notna().sum():
                out[name] = numbers
            else:
                out[name] = text.astype(object).where(text.notna(), None)
        else:
            out[name] = col
    return pd.DataFrame(out)
