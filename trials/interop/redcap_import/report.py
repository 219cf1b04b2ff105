"""The per-row import report: what became of every input row (``RowError``, ``RowOutcome``, ``ImportReport``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RowError:
    row: int
    record_id: str
    redcap_field: str
    registry_field: str
    message: str

    def __str__(self) -> str:
        source = f"field {self.redcap_field}" if self.redcap_field else "(no REDCap field)"
        return f"row {self.row} (record {self.record_id}), {source} → {self.registry_field}: {self.message}"


IMPORTED, UPDATED, UNCHANGED, REFUSED, NO_DATA = "imported", "updated", "unchanged", "refused", "no data"
IGNORED = "ignored (mapping)"
_RANK = {REFUSED: 5, IMPORTED: 4, UPDATED: 3, UNCHANGED: 2, IGNORED: 1, NO_DATA: 0}


@dataclass
class RowOutcome:
    """What became of one input row: its status and the registry records it produced or matched."""

    row: int
    record_id: str
    status: str = NO_DATA
    records: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def note(self, status: str, record: str = "") -> None:
        if _RANK[status] > _RANK[self.status]:
            self.status = status
        if record and record not in self.records:
            self.records.append(record)

    def __str__(self) -> str:
        what = f": {', '.join(self.records)}" if self.records else ""
        return f"row {self.row} (record {self.record_id}) {self.status}{what}"


@dataclass
class ImportReport:
    dry_run: bool
    source: str = ""
    rows_read: int = 0
    blank_rows: list[int] = field(default_factory=list)
    rows: list[RowOutcome] = field(default_factory=list)
    records: int = 0
    created: list[tuple[str, str]] = field(default_factory=list)  # (REDCap record id, registry study ID)
    visits_recorded: int = 0
    committed: bool = False

    @property
    def errors(self) -> list[RowError]:
        return [e for outcome in self.rows for e in outcome.errors]

    def counts(self) -> dict[str, int]:
        counted = {status: 0 for status in (IMPORTED, UPDATED, UNCHANGED, REFUSED, IGNORED, NO_DATA)}
        for outcome in self.rows:
            counted[outcome.status] += 1
        return {**counted, "blank (skipped)": len(self.blank_rows)}

    def summary(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in self.counts().items() if n)
        return f"{self.rows_read} row(s) read: {counts or 'nothing'}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready report (kept with a web import run)."""
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "committed": self.committed,
            "rows_read": self.rows_read,
            "counts": self.counts(),
            "blank_rows": self.blank_rows,
            "created": [list(c) for c in self.created],
            "rows": [
                {
                    "row": o.row,
                    "record_id": o.record_id,
                    "status": o.status,
                    "records": o.records,
                    "errors": [str(e) for e in o.errors],
                }
                for o in self.rows
            ],
        }
