"""Spinal Instability Neoplastic Score (Fourney et al., JCO 2011;29:3072; docs/domain.md §8).

The total is derived from the six components, never typed. The location
component is derived from the vertebral level.
"""

from __future__ import annotations

SPINE_LEVELS = (
    [f"C{i}" for i in range(1, 8)]
    + [f"T{i}" for i in range(1, 13)]
    + [f"L{i}" for i in range(1, 6)]
    + [f"S{i}" for i in range(1, 6)]
)
SPINE_LEVEL_CHOICES = [(lvl, lvl) for lvl in SPINE_LEVELS]

_JUNCTIONAL = {"C1", "C2", "C7", "T1", "T2", "T11", "T12", "L1", "L5", "S1"}
_MOBILE = {"C3", "C4", "C5", "C6", "L2", "L3", "L4"}
_SEMI_RIGID = {f"T{i}" for i in range(3, 11)}
_RIGID = {"S2", "S3", "S4", "S5"}

LOCATION_POINTS = {"junctional": 3, "mobile": 2, "semi_rigid": 1, "rigid": 0}
PAIN_POINTS = {"mechanical": 3, "occasional": 1, "none": 0}
BONE_LESION_POINTS = {"lytic": 2, "mixed": 1, "blastic": 0}
ALIGNMENT_POINTS = {"subluxation": 4, "deformity": 2, "normal": 0}
COLLAPSE_POINTS = {"gt50": 3, "lt50": 2, "none_gt50_involved": 1, "none": 0}
POSTEROLATERAL_POINTS = {"bilateral": 3, "unilateral": 1, "none": 0}

PAIN_CHOICES = [
    ("mechanical", "Mechanical pain (3)"),
    ("occasional", "Occasional non-mechanical pain (1)"),
    ("none", "Pain-free (0)"),
]
BONE_LESION_CHOICES = [("lytic", "Lytic (2)"), ("mixed", "Mixed lytic/blastic (1)"), ("blastic", "Blastic (0)")]
ALIGNMENT_CHOICES = [
    ("subluxation", "Subluxation/translation (4)"),
    ("deformity", "De novo deformity (2)"),
    ("normal", "Normal (0)"),
]
COLLAPSE_CHOICES = [
    ("gt50", "> 50% collapse (3)"),
    ("lt50", "< 50% collapse (2)"),
    ("none_gt50_involved", "No collapse with > 50% body involved (1)"),
    ("none", "None of the above (0)"),
]
POSTEROLATERAL_CHOICES = [("bilateral", "Bilateral (3)"), ("unilateral", "Unilateral (1)"), ("none", "None (0)")]


def sins_location(level: str) -> str:
    if level in _JUNCTIONAL:
        return "junctional"
    if level in _MOBILE:
        return "mobile"
    if level in _SEMI_RIGID:
        return "semi_rigid"
    if level in _RIGID:
        return "rigid"
    raise ValueError(f"Unknown vertebral level {level!r}")


def sins_total(*, level: str, pain: str, bone_lesion: str, alignment: str, collapse: str, posterolateral: str) -> int:
    return (
        LOCATION_POINTS[sins_location(level)]
        + PAIN_POINTS[pain]
        + BONE_LESION_POINTS[bone_lesion]
        + ALIGNMENT_POINTS[alignment]
        + COLLAPSE_POINTS[collapse]
        + POSTEROLATERAL_POINTS[posterolateral]
    )


def sins_category(total: int) -> str:
    """0–6 stable, 7–12 potentially unstable, 13–18 unstable."""
    if not 0 <= total <= 18:
        raise ValueError("SINS total must be 0–18")
    if total <= 6:
        return "stable"
    if total <= 12:
        return "potentially unstable"
    return "unstable"
