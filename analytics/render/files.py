"""File artifacts: result.json (canonical), the analysis-set CSVs and tables.xlsx."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analytics.derive import AnalysisSets

RESULT_JSON = "result.json"
ADTTE_CSV = "adtte.csv"
ADRESP_CSV = "adresp.csv"
TABLES_XLSX = "tables.xlsx"
CSV_FLOAT_FORMAT = "%.10g"


def umask_file_mode() -> int:
    """The mode a plain ``open()`` would give a new file under the process umask (0o640 under umask 0027)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(target: Path):
    """Yield a temporary path beside ``target``; rename over it when the block succeeds.

    The file gets the umask's mode, not mkstemp's private 0600, so the web process and an operator's
    backup (same group) can read what the worker wrote.
    """
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix)
    os.close(handle)
    try:
        yield Path(tmp)
        os.chmod(tmp, umask_file_mode())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(target: Path, write: Callable[[Path], object]) -> str:
    with atomic_path(target) as tmp:
        write(tmp)
    return target.name


def numbers_json(numbers: dict[str, Any]) -> str:
    """The canonical text of the numbers: sorted keys, fixed indentation, no NaN.

    Contains no timestamp, so the same data and parameters give the same bytes.
    """
    return json.dumps(numbers, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)


def result_document(numbers: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    """result.json: the numbers at top level plus a separate ``metadata`` block (generation time, code
    version, run id, and the sha256 of the canonical numbers)."""
    meta = dict(metadata)
    meta["numbers_sha256"] = hashlib.sha256(numbers_json(numbers).encode()).hexdigest()
    return {**numbers, "metadata": meta}


def result_numbers(document: dict[str, Any]) -> dict[str, Any]:
    """The numbers part of a result.json document (everything except ``metadata``)."""
    return {key: value for key, value in document.items() if key != "metadata"}


def result_json_write(directory: Path, numbers: dict[str, Any], metadata: dict[str, Any]) -> str:
    text = json.dumps(result_document(numbers, metadata), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return atomic_write(directory / RESULT_JSON, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))


def csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every float column as the text ``CSV_FLOAT_FORMAT`` gives it, formatted once per distinct
    value instead of once per row (issue 17: scores, days and doses repeat), missing left missing. Written with
    ``to_csv`` it gives the bytes ``to_csv(float_format=CSV_FLOAT_FORMAT)`` would."""
    changes = {}
    for column in frame.columns:
        if frame[column].dtype.kind != "f":
            continue
        array = frame[column].to_numpy(dtype=float)
        codes, distinct = pd.factorize(array.view(np.int64))  # bit patterns: keeps -0.0 apart from 0.0
        fields = np.array([CSV_FLOAT_FORMAT % v for v in distinct.view(float)], dtype=object)
        changes[column] = np.where(np.isnan(array), np.nan, fields[codes]) if len(array) else array
    return frame.assign(**changes) if changes else frame


def _csv(frame: pd.DataFrame) -> Callable[[Path], None]:
    return lambda tmp: csv_ready(frame).to_csv(tmp, index=False, lineterminator="\n")


def analysis_csvs_write(directory: Path, sets: AnalysisSets) -> list[str]:
    """adtte.csv and adresp.csv with exactly the contract columns (issue 3)."""
    adtte = sets.adtte.astype({"sre_days": "Int64", "os_days": "Int64"})  # whole days
    return [atomic_write(directory / ADTTE_CSV, _csv(adtte)), atomic_write(directory / ADRESP_CSV, _csv(sets.adresp))]


def xlsx_write(directory: Path, tables: dict[str, pd.DataFrame]) -> str:
    """One sheet per table (openpyxl)."""

    def write(tmp: Path) -> None:
        with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
            for name, frame in tables.items():
                frame.to_excel(writer, sheet_name=name[:31], index=False)
                sheet = writer.sheets[name[:31]]
                for cells in sheet.columns:
                    width = max(len(str(c.value)) if c.value is not None else 0 for c in cells)
                    sheet.column_dimensions[cells[0].column_letter].width = min(60, max(8, width + 2))

    return atomic_write(directory / TABLES_XLSX, write)
