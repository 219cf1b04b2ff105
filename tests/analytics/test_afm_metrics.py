"""The PDF's standard-font string metrics per distinct character (analytics.render.afm_metrics, issue 17) are
matplotlib's: every printable cp1252 character, kerning pairs, line breaks, unknown characters, empty strings."""

from __future__ import annotations

import random

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib._afm import AFM  # noqa: E402
from matplotlib.backends._backend_pdf_ps import _cached_get_afm_from_fname  # noqa: E402
from matplotlib.backends.backend_pdf import RendererPdf  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402

from analytics.render.afm_metrics import _MATPLOTLIB_METRICS, afm_string_metrics, string_metrics  # noqa: E402

CP1252 = bytes(range(32, 256)).decode("cp1252", "ignore")
FONTS = [
    FontProperties(family=["sans-serif"]),
    FontProperties(family="sans-serif", weight="bold"),
    FontProperties(family=["monospace"]),
    FontProperties(family="serif", style="italic"),
]


def _afm(prop: FontProperties) -> AFM:
    return _cached_get_afm_from_fname(font_manager.findfont(prop, fontext="afm", directory=RendererPdf._afm_font_dir))


def _strings() -> list[str]:
    rng = random.Random(17)
    strings = ["", "\n", "\n\n", "A", "AV", "AVA\nVA", "To\nyo", "Wolf\u2212Δ≥", "\u4e2d", CP1252, CP1252[::-1]]
    strings += ["".join(rng.choice(CP1252 + "\n") for _ in range(rng.randint(1, 120))) for _ in range(300)]
    strings += ["AVWAYTo".join(rng.choice(["", "\n", "lp", "ff"]) for _ in range(9)) for _ in range(50)]
    return strings


@pytest.mark.parametrize("prop", FONTS, ids=lambda p: f"{p.get_family()[0]}-{p.get_weight()}-{p.get_style()}")
def test_string_metrics_are_matplotlibs(prop):
    afm = _afm(prop)
    for s in _strings():
        expected = _MATPLOTLIB_METRICS(afm, s)
        got = string_metrics(afm, s)
        assert got == expected and [type(v) for v in got] == [type(v) for v in expected], repr(s)


def test_kerning_pairs_are_counted():
    afm = _afm(FontProperties(family=["sans-serif"]))
    assert afm._kern and string_metrics(afm, "AV")[2] < string_metrics(afm, "A")[2] + string_metrics(afm, "V")[2]


def test_the_swap_is_undone_after_the_block():
    with pytest.raises(RuntimeError), afm_string_metrics():
        assert AFM.get_str_bbox_and_descent is string_metrics
        raise RuntimeError
    assert AFM.get_str_bbox_and_descent is _MATPLOTLIB_METRICS


def test_a_font_with_fractional_metrics_is_measured_by_matplotlibs_loop():
    import copy

    afm = copy.copy(_afm(FontProperties(family=["sans-serif"])))
    afm._metrics_by_name = dict(afm._metrics_by_name)
    width, name, bbox = afm._metrics_by_name["A"]
    afm._metrics_by_name["A"] = (width + 0.25, name, bbox)
    for s in ["AVA", "A" * 50 + "\nx", CP1252]:
        assert string_metrics(afm, s) == _MATPLOTLIB_METRICS(afm, s)
    assert string_metrics(afm, "AA")[2] == _MATPLOTLIB_METRICS(afm, "AA")[2] != string_metrics(_afm(FONTS[0]), "AA")[2]
