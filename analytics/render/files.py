"""File artifacts: result.json (canonical), the analysis-set CSVs and tables.xlsx."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

from analytics.derive import AnalysisSets
from analytics.render.canonical_json import canonical_json, object_pieces, reference_dumps

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
    return canonical_json(numbers)


def _numbers_sha256(numbers_text: str) -> str:
    return hashlib.sha256(numbers_text.encode()).hexdigest()


def result_document(numbers: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    """result.json: the numbers at top level plus a separate ``metadata`` block (generation time, code
    version, run id, and the sha256 of the canonical numbers)."""
    meta = dict(metadata)
    meta["numbers_sha256"] = _numbers_sha256(numbers_json(numbers))
    return {**numbers, "metadata": meta}


def result_json_pieces(numbers: dict[str, Any], metadata: dict[str, Any]) -> list[str]:
    """The text of :func:`result_json_text` as pieces in order (each top-level value's text, the keys between them):
    the numbers' sha256 is hashed piece by piece and the file written piece by piece, so the worker never holds the
    whole document as one string, nor its encoded bytes (at 100,000 patients ~13 MB each, render's peak: issue 17)."""
    if not all(type(key) is str for key in numbers):
        return [reference_dumps(result_document(numbers, metadata))]
    chunks = {key: canonical_json(value, 1) for key, value in numbers.items()}
    digest = hashlib.sha256()
    for piece in object_pieces(sorted(chunks.items())):
        digest.update(piece.encode())
    meta = dict(metadata)
    meta["numbers_sha256"] = digest.hexdigest()
    chunks["metadata"] = canonical_json(meta, 1)
    return list(object_pieces(sorted(chunks.items())))


def result_json_text(numbers: dict[str, Any], metadata: dict[str, Any]) -> str:
    """``json.dumps(result_document(numbers, metadata), sort_keys=True, indent=2, ensure_ascii=False,
    allow_nan=False)``, with each top-level value encoded once for both the canonical numbers (whose sha256 the
    metadata carries) and the document (the numbers' values with ``metadata`` in its sorted place), instead of
    encoding every number twice (issue 17: render CPU)."""
    return "".join(result_json_pieces(numbers, metadata))


def result_numbers(document: dict[str, Any]) -> dict[str, Any]:
    """The numbers part of a result.json document (everything except ``metadata``)."""
    return {key: value for key, value in document.items() if key != "metadata"}


def result_json_write(directory: Path, numbers: dict[str, Any], metadata: dict[str, Any]) -> str:
    """result.json (:func:`result_json_text` and a final newline), written piece by piece."""
    pieces = result_json_pieces(numbers, metadata)

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.writelines(pieces)
            handle.write("\n")

    return atomic_write(directory / RESULT_JSON, write)


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


CSV_CHUNK_ROWS = 50_000
CSV_QUOTED = (",", '"', "\n", "\r")  # a field with one of these is written by csv.writer (quoted where it must be)


def _csv_texts(values: Any) -> list[str]:
    """Each of ``values`` (str) as csv.writer writes it as a field: a field with a delimiter, quote or line break
    quoted by csv.writer itself, the rest as they are."""
    texts = list(values)
    joined = "".join(texts)
    if not any(special in joined for special in CSV_QUOTED):
        return texts
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for index, text in enumerate(texts):
        if any(special in text for special in CSV_QUOTED):
            buffer.seek(0)
            buffer.truncate()
            writer.writerow([text, ""])
            texts[index] = buffer.getvalue()[:-2]  # the field without ",\n"
    return texts


def _csv_fields(column: pd.Series) -> np.ndarray | None:
    """Each row's field of ``column`` as ``csv_ready(frame).to_csv(index=False)`` writes it, an empty field where
    the value is missing; None for a dtype this writer leaves to pandas. Each distinct value is formatted once."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        if not all(type(value) is str for value in dtype.categories):
            return None
        codes, texts = column.cat.codes.to_numpy(), list(dtype.categories)
    elif dtype.kind == "f":
        array = column.to_numpy(dtype=float)
        codes, distinct = pd.factorize(array.view(np.int64))  # bit patterns, as csv_ready
        texts = ["" if value != value else CSV_FLOAT_FORMAT % value for value in distinct.view(float)]
    elif pd.api.types.is_integer_dtype(dtype):  # numpy's and the nullable integers
        values = column.to_numpy() if isinstance(dtype, np.dtype) else column.array
        codes, distinct = pd.factorize(values)  # a nullable integer's missing: code -1
        texts = [str(int(value)) for value in distinct]
    elif dtype == np.dtype(object):
        codes, distinct = pd.factorize(column.to_numpy())  # None, NaN, NA: code -1, written empty
        if not all(type(value) is str for value in distinct):
            return None
        texts = list(distinct)
    else:
        return None
    table = np.array([*_csv_texts(texts), ""], dtype=object)  # code -1 (missing) takes the last: ""
    return table[codes]


def csv_write(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` as ``csv_ready(frame).to_csv(path, index=False, lineterminator="\n")`` writes it, the same bytes:
    each column's distinct values formatted (and quoted where csv.writer would) once, the rows joined by
    ``str.join`` in blocks of CSV_CHUNK_ROWS instead of pandas' csv.writer looking at every field of every row
    (issue 17: render CPU). A dtype other than text, categorical text, integer or float, a single column (where
    csv.writer quotes an empty row) or columns that are not unique text take pandas' path."""
    columns = list(frame.columns)
    found = [_csv_fields(frame.iloc[:, index]) for index in range(len(columns))] if len(columns) > 1 else [None]
    fields = [column for column in found if column is not None]
    if len(fields) < len(found) or not all(type(name) is str for name in columns):
        csv_ready(frame).to_csv(path, index=False, lineterminator="\n")
        return
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(_csv_texts(columns)) + "\n")
        for start in range(0, len(frame), CSV_CHUNK_ROWS):
            rows = zip(*(column[start : start + CSV_CHUNK_ROWS] for column in fields), strict=True)
            handle.write("\n".join(map(",".join, rows)) + "\n")


def _csv(frame: pd.DataFrame) -> Callable[[Path], None]:
    return lambda tmp: csv_write(frame, tmp)


def analysis_csvs_write(directory: Path, sets: AnalysisSets) -> list[str]:
    """adtte.csv and adresp.csv with exactly the contract columns (issue 3)."""
    adtte = sets.adtte.astype({"sre_days": "Int64", "os_days": "Int64"})  # whole days
    return [atomic_write(directory / ADTTE_CSV, _csv(adtte)), atomic_write(directory / ADRESP_CSV, _csv(sets.adresp))]


def _column_width(values: list[Any]) -> float:
    """A sheet column's width from its cells' values (header included), as the report always set it."""
    return min(60, max(8, max(len(str(value)) if value is not None else 0 for value in values) + 2))


def _pandas_xlsx(tmp: Path, tables: dict[str, pd.DataFrame]) -> None:
    with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
        for name, frame in tables.items():
            frame.to_excel(writer, sheet_name=name[:31], index=False)
            sheet = writer.sheets[name[:31]]
            for cells in sheet.columns:
                sheet.column_dimensions[cells[0].column_letter].width = _column_width([c.value for c in cells])


class _NotPlain(Exception):
    """A value ``_excel_value`` leaves to pandas (dates, durations, other objects, very long text)."""


def _excel_value(value: Any) -> str | int | float | bool:
    """The cell value ``DataFrame.to_excel`` writes for ``value`` (pandas' ``_format_value`` and
    ``_value_with_fmt`` with the default ``na_rep`` "" and ``inf_rep`` "inf"), for text, numbers, booleans and
    missing values; ``_NotPlain`` for anything else."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, str):
        if len(value) > 32767:  # pandas warns of Excel's limit
            raise _NotPlain
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if value != value:
            return ""
        if value in (np.inf, -np.inf):
            return "inf" if value > 0 else "-inf"
        return float(value)
    raise _NotPlain


def _excel_table(frame: pd.DataFrame) -> tuple[list[Any], list[list[Any]]]:
    """``frame``'s header and columns of cell values as ``to_excel(index=False)`` writes them."""
    if isinstance(frame.columns, pd.MultiIndex):
        raise _NotPlain
    header = [_excel_value(label) for label in frame.columns]
    columns = [[_excel_value(value) for value in frame.iloc[:, index].tolist()] for index in range(frame.shape[1])]
    return header, columns


def xlsx_write(directory: Path, tables: dict[str, pd.DataFrame]) -> str:
    """One sheet per table: what ``DataFrame.to_excel(sheet_name=name[:31], index=False)`` writes through openpyxl
    (the header row bold, framed and centred), each column as wide as its longest value.

    Written by openpyxl's write-only workbook from the tables' values converted as pandas converts them, instead
    of pandas' ExcelWriter making a cell object per value (issue 17: 0.5 -> 0.25 s of CPU at 100,000 patients):
    the same sheets, cells, styles and column widths, the same XML in every sheet.
    Tables with other values (dates, ...), MultiIndex columns or sheet names equal in their first 31 characters
    take pandas' path."""
    names = [name[:31] for name in tables]
    try:
        if len(set(names)) != len(names):
            raise _NotPlain
        prepared = {name[:31]: _excel_table(frame) for name, frame in tables.items()}
    except _NotPlain:
        return atomic_write(directory / TABLES_XLSX, lambda tmp: _pandas_xlsx(tmp, tables))

    def write(tmp: Path) -> None:
        workbook = Workbook(write_only=True)
        thin = Side(style="thin")
        bold, frame, centred = (
            Font(bold=True),
            Border(left=thin, right=thin, top=thin, bottom=thin),
            Alignment(horizontal="center", vertical="top"),
        )
        for name, (header, columns) in prepared.items():
            sheet = workbook.create_sheet(title=name)
            # the <dimension> openpyxl writes for a sheet whose cells it holds (readers in read-only mode need it)
            last = f"{get_column_letter(len(header))}{len(columns[0]) + 1 if columns else 1}" if header else "A1"
            sheet.calculate_dimension = functools.partial(str, f"A1:{last}")
            for index, values in enumerate(columns, start=1):
                sheet.column_dimensions[get_column_letter(index)].width = _column_width([header[index - 1], *values])
            cells = []
            for label in header:
                cell = WriteOnlyCell(sheet, value=label)
                cell.font, cell.border, cell.alignment = bold, frame, centred
                cells.append(cell)
            sheet.append(cells)
            for row in zip(*columns, strict=True):
                sheet.append(row)
        workbook.save(tmp)

    return atomic_write(directory / TABLES_XLSX, write)
