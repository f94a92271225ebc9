"""Read the declared data source into a DataFrame, with clear errors for bad files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from release.config import Settings
from release.errors import DataError


def read_table(
    path: str | Path,
    kind: str | None = None,
    na_values: list[str] | None = None,
    delimiter: str = ",",
) -> Any:
    """Read a CSV or Parquet file (kind from the suffix when not given).

    ``na_values`` (from ``data.na_values``) are the strings a CSV holds for a missing
    value, besides the empty field; None keeps pandas' own list. ``delimiter`` is the
    CSV's field separator. Parquet ignores both.
    """
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        raise DataError(
            f"data path {path} is a directory", "point data.path at one .csv or .parquet file"
        )
    if not path.is_file():
        raise DataError(f"data file {path} not found", "check data.path in params.yaml")
    kind = kind or {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(path.suffix.lower())
    if kind == "csv":
        frame = _read_csv(path, na_values, delimiter)
    elif kind == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for bad files
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"{path} is not a readable Parquet file: {first}", "fix it") from None
        _check_header(path, [str(c) for c in frame.columns])
    else:
        raise DataError(f"{path}: unknown file type {path.suffix!r}", "use a .csv or .parquet file")
    if frame.shape[1] == 0 or len(frame) == 0:
        raise DataError(f"{path} has no rows", "provide a file with a header and rows")
    return frame


def _read_csv(path: Path, na_values: list[str] | None, delimiter: str) -> Any:
    import pandas as pd

    # Markers given: exactly these (and the empty field) are missing, so a real category
    # such as "NA" (North America) survives when the user did not list it.
    options: dict[str, Any] = {"skipinitialspace": True, "sep": delimiter}
    if na_values is not None:
        options.update(keep_default_na=False, na_values=[*na_values, ""])
    try:
        # The header as written: pandas renames a repeated name to "name.1" silently.
        header = pd.read_csv(
            path, sep=delimiter, header=None, nrows=1, dtype=str, keep_default_na=False
        )
        _check_header(path, [str(v) for v in header.iloc[0].tolist()] if len(header) else [])
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty", "provide a CSV with a header and rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise DataError(f"{path} is not a readable CSV: {first}", "fix the file") from None


def _check_header(path: Path, names: list[str]) -> None:
    counts = Counter(names)
    repeated = [name for name, n in counts.items() if n > 1]
    if repeated:
        shown = ", ".join(repr(n[:40]) for n in repeated[:5])
        raise DataError(
            f"{path} has a duplicated column name in its header: {shown}",
            "give every column a distinct name",
        )


def load_source(settings: Settings) -> tuple[Any, dict[str, Any]]:
    """The raw dataset and a description of where it came from."""
    from release.data import builtin
    from release.fsio import sha256_file

    data = settings.data
    if data.source == "builtin":
        frame = builtin.generate(rows=data.rows, seed=data.seed)
        info = {
            "kind": "builtin",
            "generator": "release.data.builtin",
            "generator_version": builtin.GENERATOR_VERSION,
            "rows_requested": data.rows,
            "seed": data.seed,
        }
    else:
        assert data.path is not None  # checked by config
        frame = read_table(data.path, data.source, data.na_values, data.delimiter)
        info = {"kind": data.source, "path": data.path, "sha256": sha256_file(data.path)}
    if data.target not in frame.columns:
        raise DataError(
            f"target column {data.target!r} is absent from the data",
            "set data.target in params.yaml to one of: " + ", ".join(map(str, frame.columns)),
        )
    info.update({"rows": len(frame), "columns": [str(c) for c in frame.columns]})
    return frame, info
