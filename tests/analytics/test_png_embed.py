"""Render shortcuts of issue 17: plot PNGs embedded in the PDF as they are, the funnel plot's curve grid, footnote
wrapping and the stratum selection of the survival plots give the same pictures and rows as before."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pypdfium2  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from PIL import Image  # noqa: E402
from pypdf import PdfReader  # noqa: E402

from analytics.render.curves import _stratum_rows  # noqa: E402
from analytics.render.exploratory import funnel_grid  # noqa: E402
from analytics.render.pdf import ImagePages, _image_page  # noqa: E402
from analytics.render.plot_style import footnote_lines  # noqa: E402
from analytics.render.png_embed import (  # noqa: E402
    EmbeddedPngImage,
    EmbeddingPdfPages,
    PlotPng,
    png_data,
    png_write,
    rgb_png,
)


def _figure():
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.fill_between([0, 1], [0.6, 0.6], [1, 1], color="#d6604d")  # a red block in the upper left corner
    ax.set(xlim=(0, 2), ylim=(0, 1))
    ax.set_title("Test plot")
    return fig


def test_plot_png_is_rgb_and_embedded_in_the_pdf_byte_for_byte(tmp_path):
    png = tmp_path / "plot.png"
    fig = _figure()
    png_write(fig, png, 110)
    plt.close(fig)
    with Image.open(png) as image:
        assert image.mode == "RGB" and image.size == (660, 330)
        pixels = np.asarray(image)
    data = png_data(png.read_bytes())
    assert data is not None and (data.width, data.height) == (660, 330)

    target = tmp_path / "report.pdf"
    with EmbeddingPdfPages(target) as pdf:
        page = _image_page(png, "Section")
        assert isinstance(page.axes[0].images[0], EmbeddedPngImage)
        pdf.savefig(page)
        plt.close(page)
    assert data.idat in target.read_bytes()  # the PNG's compressed rows, copied, not re-encoded

    # The page shows the plot the right way up: the red block sits at the same height within the drawn picture.
    document = pypdfium2.PdfDocument(target)
    rendered = np.asarray(document[0].render(scale=110 / 72).to_pil().convert("RGB"))
    assert abs(_red_top_share(rendered) - _red_top_share(pixels)) < 0.05


def _red_top_share(picture: np.ndarray) -> float:
    """Where the red block's top edge is, as a share of the height of the black content (title to x axis)."""
    colours = picture.astype(int)
    red_rows = np.flatnonzero((np.abs(colours - [0xD6, 0x60, 0x4D]).sum(axis=2) < 40).any(axis=1))
    content = np.flatnonzero((colours < 60).all(axis=2).any(axis=1))  # black: title and axes (not grey page text)
    assert len(red_rows) and len(content)
    return float((red_rows.min() - content.min()) / (content.max() - content.min()))


def _pdf_pages(path) -> list[tuple[bytes, list[bytes]]]:
    """Each page's content stream and its images' decoded samples."""
    pages = []
    for page in PdfReader(path).pages:
        images = page["/Resources"].get("/XObject") or {}
        images = images.get_object() if images else {}
        pages.append((page.get_contents().get_data(), [images[name].get_object().get_data() for name in sorted(images)]))
    return pages


@pytest.mark.parametrize("clip", [False, True])
def test_the_embedded_page_is_the_page_of_imshow(tmp_path, clip):
    """The page with the PNG's data embedded (EmbeddedPngImage) draws what imshow of the decoded pixels in
    matplotlib's PdfPages draws: the same content streams and image samples; with only part of the picture in view
    (clip) it is drawn from the decoded pixels."""
    png = tmp_path / "plot.png"
    fig = _figure()
    png_write(fig, png, 110)
    plt.close(fig)
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"))

    def page(embedded: bool):
        page = _image_page(png, "Section")
        if not embedded:
            ax = page.axes[0]
            ax.images[0].remove()
            ax.imshow(pixels[::-1], origin="lower", interpolation="none", aspect="auto")
        if clip:
            page.axes[0].set_xlim(100, 400)
        return page

    for name, pages, embedded in (("embedded.pdf", EmbeddingPdfPages, True), ("imshow.pdf", PdfPages, False)):
        with pages(tmp_path / name) as pdf:
            for _ in range(2):
                figure = page(embedded)
                pdf.savefig(figure)
                plt.close(figure)
    assert _pdf_pages(tmp_path / "embedded.pdf") == _pdf_pages(tmp_path / "imshow.pdf")


def test_image_pages_reusing_one_figure_are_the_pages_of_image_page(tmp_path):
    """ImagePages draws every plot page on one figure (issue 17): the same content streams and images as a new
    figure per page (_image_page), with pictures of other sizes in between, one of them RGBA (matplotlib's path)
    and the footer text pdf_write adds to each page."""
    pngs = []
    for index, size in enumerate([(6, 3), (9, 3), (4, 4), (6, 3)]):
        fig = _figure()
        fig.set_size_inches(*size)
        pngs.append(tmp_path / f"plot{index}.png")
        png_write(fig, pngs[-1], 110)
        plt.close(fig)
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.full((40, 90, 4), 200, dtype=np.uint8)).save(rgba)
    pngs.insert(2, rgba)

    for name, build in (("reused.pdf", ImagePages()), ("fresh.pdf", _image_page)):
        with EmbeddingPdfPages(tmp_path / name) as pdf:
            for number, png in enumerate(pngs):
                page = build(png, f"Section {number}")
                page.text(0.01, 0.008, f"page {number}", fontsize=6)  # as pdf_write's footer
                pdf.savefig(page)
                plt.close(page)
    assert _pdf_pages(tmp_path / "reused.pdf") == _pdf_pages(tmp_path / "fresh.pdf")


def test_the_embedded_image_drawn_elsewhere_shows_the_decoded_pixels(tmp_path):
    png = tmp_path / "plot.png"
    fig = _figure()
    png_write(fig, png, 110)
    plt.close(fig)
    page = _image_page(png, "Section")
    buffer = io.BytesIO()
    page.savefig(buffer, format="png", dpi=110)  # Agg: resampled from the decoded pixels
    plt.close(page)
    drawn = np.asarray(Image.open(buffer).convert("RGB")).astype(int)
    assert (np.abs(drawn - [0xD6, 0x60, 0x4D]).sum(axis=2) < 40).sum() > 1000  # the red block is there


def test_a_png_that_is_not_plain_rgb_takes_matplotlibs_own_path(tmp_path):
    png = tmp_path / "rgba.png"
    Image.fromarray(np.zeros((20, 30, 4), dtype=np.uint8)).save(png)
    assert png_data(png.read_bytes()) is None
    picture = PlotPng.read(png)
    assert picture.data is None and (picture.width, picture.height) == (30, 20)
    buffer = io.BytesIO()
    with EmbeddingPdfPages(buffer) as pdf:
        page = _image_page(png, "Section")
        assert not isinstance(page.axes[0].images[0], EmbeddedPngImage)
        pdf.savefig(page)
        plt.close(page)
    assert buffer.getvalue().startswith(b"%PDF")


def test_rgb_png_is_read_back_with_the_same_pixels_and_dpi(tmp_path):
    """The PNG writer of issue 17 (rows unfiltered, zlib level 3) gives PIL the same pixels and dpi."""
    pixels = np.random.default_rng(3).integers(0, 256, (7, 13, 3), dtype=np.uint8)
    png = tmp_path / "plot.png"
    rgba = np.dstack([pixels, np.full((7, 13), 255, dtype=np.uint8)])
    png.write_bytes(rgb_png(rgba[..., :3], 110))  # a view of the RGBA buffer, as png_write passes it
    with Image.open(png) as image:
        assert image.mode == "RGB" and image.size == (13, 7)
        assert image.info["dpi"] == pytest.approx((110, 110), abs=0.01)
        assert np.array_equal(np.asarray(image), pixels)
    picture = PlotPng.read(png)
    assert picture.data is not None and (picture.width, picture.height) == (13, 7)
    assert np.array_equal(picture.pixels(), pixels)


def test_funnel_grid_every_small_n_then_evenly_spaced_to_the_largest():
    assert funnel_grid(50).tolist() == list(range(1, 51))
    grid = funnel_grid(80_000)
    assert grid[:200].tolist() == list(range(1, 201))
    assert grid[-1] == 80_000 and len(grid) <= 1_700 and np.all(np.diff(grid) > 0)


def test_footnote_lines_fit_the_figure_width():
    short = "Error bars: 95% confidence interval of the mean."
    assert footnote_lines(short, 10) == short
    long = " ".join(["word"] * 120)
    lines = footnote_lines(long, 10).split("\n")
    assert len(lines) > 1 and max(map(len, lines)) <= int(0.98 * 10 * 72 / (7 * 0.6))
    assert " ".join(lines) == long


def test_stratum_rows_of_a_categorical_equal_the_text_comparison():
    frame = pd.DataFrame({"modality": pd.Categorical(["RFA", "cryo", None, "RFA", "MWA"]), "x": range(5)})
    for stratum in ("modality=RFA", "modality=cryo", "modality=MWA", "modality=nan", "modality=none"):
        value = stratum.split("=", 1)[1]
        expected = frame[frame["modality"].astype(str) == value]
        pd.testing.assert_frame_equal(_stratum_rows(frame, stratum), expected)
    assert _stratum_rows(frame, "all") is frame
