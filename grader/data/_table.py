"""``table``: a course's own dataset from one CSV or Parquet file, with no code to write.

pandas reads the file (its CSV and Parquet readers handle quoting, encodings, compression
and types better than anything worth writing here); the rest turns columns into what a
task needs: numeric and one-hot features, a binary or multi-class label, per-case
attributes for subgroups and grouped splits, and case ids that stay the same as long as
the file does.

pandas is imported where a table is read, not with this module: every command imports the
loaders, and only a table task needs pandas.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

from grader.data._dataset import Dataset
from grader.data._fetch import register_no_download
from grader.data._files import file_sha256
from grader.data._loaders import register_loader
from grader.errors import DataError
from grader.suggest import suggest

register_no_download(
    "table", "the table loader reads the course's own file: copy it into the data folder"
)

Scalar = str | int | float | bool

#: The value a missing attribute takes, so that it forms a subgroup of its own.
MISSING = "missing"


@register_loader("table")
def load_table(
    *,
    data_dir: Path | None,
    file: str,
    target: str,
    features: list[str],
    positive: Scalar | list[Scalar] | None = None,
    negative: Scalar | list[Scalar] | None = None,
    classes: list[Scalar] | None = None,
    categorical: list[str] | None = None,
    drop_rows: dict[str, list[Scalar | None]] | None = None,
    attributes: list[str] | None = None,
    bands: dict[str, list[float]] | None = None,
    id_column: str | None = None,
    name: str | None = None,
    sha256: str | None = None,
) -> Dataset:
    """One row per case of a CSV (``.csv``, ``.tsv``, optionally ``.gz``) or Parquet file.

    - ``file``: relative to the data folder (``--data-dir`` / ``MEDGRADE_DATA``), or absolute.
    - ``target``: the label column; ``positive``: the value(s) that make a case positive
      (a binary task: every other value is negative, which must then be one value unless
      ``negative`` lists them), or ``classes``: the values in class order 0..K-1 (a
      multi-class task). Numbers match however the file writes them (1, 1.0, "1").
    - ``features``: the columns the sandbox sees, in order; numbers as they are (a missing
      value is NaN), and the ``categorical`` ones one-hot encoded as ``column=value``.
    - ``drop_rows``: ``{column: [values]}`` rows to leave out (``null`` drops missing values).
    - ``attributes``: columns kept as text for subgroups, ``split.group_key`` and
      ``cluster_key`` (a missing value becomes ``"missing"``); ``bands``:
      ``{column: [edges]}`` adds an attribute ``column_band`` (``"under 18"``, ``"18-65"``,
      ``"65 and over"``).
    - ``id_column``: unique case ids; by default ``NAME-ROW``, ROW the row's position in
      the file, so pin the file with ``sha256`` to keep the recorded split meaningful.
    """
    path = _locate(file, data_dir)
    if sha256 is not None and file_sha256(path) != sha256.lower():
        raise DataError(
            f"{path} is not the file the task was written for: its sha256 is "
            f"{file_sha256(path)}, the task records {sha256}"
        )
    frame = _read(path)
    name = name or path.name.split(".")[0]
    categorical = list(categorical or [])
    attributes = list(attributes or [])
    bands = dict(bands or {})
    needed = [target, *features, *categorical, *attributes, *bands, *(drop_rows or {})]
    _require_columns(frame, [*needed, *([id_column] if id_column else [])], path)
    undeclared = sorted(set(categorical) - set(features))
    if undeclared:
        raise DataError(f"{path}: categorical column(s) {undeclared} are not among the features")
    if (positive is None) == (classes is None) or (negative is not None and classes is not None):
        raise DataError(
            f"{path}: give exactly one of 'positive' (a binary task) or 'classes' (multi-class)"
        )
    case_ids = (
        frame[id_column].astype(str).to_numpy()
        if id_column
        else np.array([f"{name}-{row:06d}" for row in range(len(frame))])
    )
    keep = _rows_to_keep(frame, drop_rows or {})
    frame, case_ids = frame[keep], case_ids[keep]
    labels = _labels(frame[target], positive, negative, classes, target, path)
    matrix, names = _features(frame, features, categorical, path)
    found = {column: _as_text(frame[column]) for column in attributes}
    for column, edges in bands.items():
        found[f"{column}_band"] = _bands(frame[column], edges, column)
    return Dataset(
        name=name,
        case_ids=case_ids,
        features=matrix,
        feature_names=names,
        labels=labels,
        attributes=found,
        source_paths=(path,),
    )


def _locate(file: str, data_dir: Path | None) -> Path:
    candidate = Path(file).expanduser()
    if not candidate.is_absolute():
        if data_dir is None:
            raise DataError(
                f"the table {file!r} is relative to the data folder: pass --data-dir DIR or set "
                f"MEDGRADE_DATA=DIR, DIR holding {file}"
            )
        candidate = data_dir / candidate
    if not candidate.is_file():
        raise DataError(f"the table {candidate} is not on this machine")
    return candidate


def _read(path: Path) -> Any:
    import pandas as pd

    suffixes = [s.lower() for s in path.suffixes]
    try:
        if ".parquet" in suffixes or ".pq" in suffixes:
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if ".tsv" in suffixes else ",", low_memory=False)
    except ImportError as error:  # Parquet needs pyarrow or fastparquet
        raise DataError(
            f"reading {path} needs a Parquet engine: pip install 'medgrade[parquet]' ({error})"
        ) from None
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise DataError(f"{path} is not a readable table: {error}") from None


def _require_columns(frame: Any, columns: list[str], path: Path) -> None:
    have = [str(c) for c in frame.columns]
    for column in dict.fromkeys(columns):
        if column not in have:
            raise DataError(
                f"{path} has no column {column!r}{suggest(column, have)}; it has: {', '.join(have)}"
            )


def _rows_to_keep(frame: Any, drop_rows: dict[str, list[Scalar | None]]) -> np.ndarray:
    keep = np.ones(len(frame), dtype=bool)
    for column, values in drop_rows.items():
        series = frame[column]
        dropped = series.map(_label_key).isin({_label_key(v) for v in values if v is not None})
        if any(v is None for v in values):
            dropped |= series.isna()
        keep &= ~dropped.to_numpy()
    return keep


def _labels(
    series: Any,
    positive: Scalar | list[Scalar] | None,
    negative: Scalar | list[Scalar] | None,
    classes: list[Scalar] | None,
    target: str,
    path: Path,
) -> np.ndarray:
    if series.isna().any():
        raise DataError(
            f"{path}: the target {target!r} is missing in {int(series.isna().sum())} row(s); "
            f"drop them with drop_rows: {{{target}: [null]}}"
        )
    text = series.map(_label_key)
    values = sorted(text.unique().tolist())
    if classes is not None:
        wanted = [_label_key(c) for c in classes]
        stray = sorted(set(values) - set(wanted))
        if stray:
            raise DataError(
                f"{path}: the target {target!r} holds {stray}, which 'classes' does not list; "
                "list them or drop those rows with drop_rows"
            )
        position = {value: index for index, value in enumerate(wanted)}
        return text.map(position).to_numpy(dtype=np.int64)
    chosen = _as_strings(positive)
    others = _as_strings(negative) if negative is not None else set(values) - chosen
    stray = sorted(set(values) - chosen - others)
    if not chosen & set(values) or stray or (len(others) != 1 and negative is None):
        raise DataError(
            f"{path}: {target!r} holds {values}; positive is {sorted(chosen)}"
            + (f" and negative {sorted(others)}" if negative is not None else "")
            + ". A binary target needs its positive value(s) and one other value, or the "
            "negative ones listed under 'negative'; drop other rows with drop_rows, or use "
            "'classes'"
        )
    return text.isin(chosen).to_numpy().astype(np.int64)


def _as_strings(values: Scalar | list[Scalar]) -> set[str]:
    return {_label_key(v) for v in (values if isinstance(values, list) else [values])}


def _label_key(value: object) -> str:
    """A cell's value as the spec and the file agree on it: ``positive: 1`` (or a
    ``drop_rows`` value) matches a column read as 1, 1.0 (a float column, where some rows are
    missing) or "1"."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _features(
    frame: Any, features: list[str], categorical: list[str], path: Path
) -> tuple[np.ndarray, tuple[str, ...]]:
    import pandas as pd

    columns, names = [], []
    for column in features:
        series = frame[column]
        if column in categorical:
            text = _as_text(series)
            for level in sorted(set(text.tolist())):
                columns.append((text == level).astype(np.float64))
                names.append(f"{column}={level}")
            continue
        numbers = pd.to_numeric(series, errors="coerce")
        unreadable = numbers.isna() & series.notna()
        if unreadable.any():
            example = series[unreadable].iloc[0]
            raise DataError(
                f"{path}: feature {column!r} is not numeric (e.g. {example!r}); list it under "
                "'categorical' to one-hot encode it"
            )
        columns.append(numbers.to_numpy(dtype=np.float64))
        names.append(column)
    matrix = np.column_stack(columns) if columns else np.empty((len(frame), 0))
    return np.ascontiguousarray(matrix, dtype=np.float64), tuple(names)


def _as_text(series: Any) -> np.ndarray:
    return np.where(series.isna().to_numpy(), MISSING, series.astype(str).to_numpy()).astype(str)


def _bands(series: Any, edges: list[float], column: str) -> np.ndarray:
    import pandas as pd

    if list(edges) != sorted(set(edges)) or not edges:
        raise DataError(f"bands.{column}: the edges must be increasing, got {edges}")
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
    labels = [f"under {edges[0]:g}"]
    labels += [f"{low:g}-{high:g}" for low, high in itertools.pairwise(edges)]
    labels.append(f"{edges[-1]:g} and over")
    band = np.asarray(labels, dtype=object)[np.searchsorted(edges, numbers, side="right")]
    band[np.isnan(numbers)] = MISSING
    return band.astype(str)
