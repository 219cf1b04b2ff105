"""Plot PNGs drawn once and embedded in report.pdf as they are (issue 17: render CPU).

``png_write`` saves a figure as an 8-bit RGB PNG (the plots are opaque: no alpha channel to carry). A PNG's
image data (its IDAT chunks: zlib-compressed rows with PNG row filters) is exactly what a PDF image stream with
``/FlateDecode`` and ``/DecodeParms << /Predictor 10 … >>`` holds, so ``report.pdf`` copies those bytes instead of
decoding the PNG and compressing the same pixels again (matplotlib's PDF backend re-encodes every image through
PIL: about 40 ms of CPU per plot page, 38 pages with the five default strata).

How: the PDF page shows the plot with ``png_imshow``, which is ``imshow`` of its pixels (placement, scaling and
clipping by matplotlib's own code) with an ``EmbeddedPngImage``: drawn into ``EmbeddingPdfPages`` (matplotlib's
``PdfPages`` with its own file object) it hands the PDF renderer a ``PngStandIn`` carrying the PNG's data instead
of an RGBA array, and the file writes that PNG's IDAT bytes with the PNG predictor parameters. So the pixels of
a plot are never decoded for the PDF (issue 17: before, each page decoded its PNG, converted it to RGBA, split it
again and matched it to its PNG by a digest of the pixels, ~15 ms of CPU a page). A PNG that is not 8-bit RGB
non-interlaced, an image only partly in view, or the page drawn by another backend take matplotlib's own path
from the decoded pixels.

The PNGs are written by ``rgb_png`` (rows unfiltered, zlib level 3) rather than PIL (issue 17: 18 -> 4.5 ms of
CPU per plot, the same pixels).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.backends.backend_pdf import Name, PdfFile, PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from PIL import Image  # noqa: E402

from analytics.render.agg_text import TextLayouts, TextReusingCanvasAgg, text_reuse_available  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RGB_COLOUR_TYPE = 2
PNG_COMPRESS_LEVEL = 3  # zlib: ~2x faster than levels 4-6 on the plots' rows, for ~10% more bytes than level 6


def png_write(fig: Figure, path: Path, dpi: float, layouts: TextLayouts | None = None) -> None:
    """Draw ``fig`` at ``dpi`` and save it to ``path`` as PNG: 8-bit RGB when every pixel is opaque (the report's
    plots, ``rgb_png``), else RGBA as matplotlib would write it. No "Software" text chunk (the bytes do not name a
    version). With ``layouts``, drawn on a canvas that reuses the text layouts of the figures drawn before it with
    the same ``layouts`` (analytics.render.agg_text: the same pixels)."""
    fig.set_dpi(dpi)
    canvas = TextReusingCanvasAgg(fig, layouts) if layouts is not None and text_reuse_available() else fig.canvas
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())  # type: ignore[attr-defined]  # the Agg canvas's
    if bool((rgba[..., 3] == 255).all()):
        path.write_bytes(rgb_png(rgba[..., :3], dpi))
    else:
        Image.fromarray(np.ascontiguousarray(rgba)).save(path, format="png", dpi=(dpi, dpi))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))


def rgb_png(pixels: np.ndarray, dpi: float) -> bytes:
    """An 8-bit RGB PNG of ``pixels`` (height × width × 3, uint8) with its ``dpi`` (a pHYs chunk, as PIL writes
    it), every row with PNG filter type 0 (none) and the rows compressed at zlib level PNG_COMPRESS_LEVEL in one
    IDAT chunk.

    Issue 17 (render CPU): PIL tries all five row filters on every row to pick one (40% of its 18 ms per plot)
    and compresses at level 6. The plots are flat colours, which compress nearly as well unfiltered (the 38 plots
    of a five-strata run: 2.9 MB at level 3, 2.7 MB from PIL) in 4.5 ms per plot; the pixels are the same."""
    height, width, _ = pixels.shape
    rows = np.empty((height, 1 + 3 * width), dtype=np.uint8)
    rows[:, 0] = 0  # filter type: none
    samples = rows[:, 1:].reshape(height, width, 3)
    for channel in range(3):  # one strided copy per channel: ~7x faster than numpy's copy of 3-byte pixels
        samples[..., channel] = pixels[..., channel]
    per_metre = int(dpi / 0.0254 + 0.5)
    return b"".join(
        (
            PNG_SIGNATURE,
            _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, RGB_COLOUR_TYPE, 0, 0, 0)),
            _chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
            _chunk(b"IDAT", zlib.compress(rows.data, PNG_COMPRESS_LEVEL)),
            _chunk(b"IEND", b""),
        )
    )


@dataclass(frozen=True)
class PngData:
    """The image data of an 8-bit RGB, non-interlaced PNG: size in pixels and its IDAT bytes joined."""

    width: int
    height: int
    idat: bytes


def png_data(blob: bytes) -> PngData | None:
    """``blob``'s image data when it is an 8-bit RGB non-interlaced PNG (the only kind embedded as is), else None."""
    if not blob.startswith(PNG_SIGNATURE):
        return None
    position, header, chunks = len(PNG_SIGNATURE), None, []
    while position + 8 <= len(blob):
        length, kind = struct.unpack(">I4s", blob[position : position + 8])
        body = blob[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
        position += 12 + length  # length, type, data, CRC
    if header is None or not chunks:
        return None
    width, height, depth, colour, _compression, _filter, interlace = header
    if (depth, colour, interlace) != (8, RGB_COLOUR_TYPE, 0):
        return None
    return PngData(width, height, b"".join(chunks))


def _opaque_black(shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.array([0, 0, 0, 255], dtype=np.uint8), (*shape[:2], 4))


@dataclass(frozen=True, eq=False)
class PngStandIn:
    """What ``EmbeddedPngImage`` hands the PDF renderer instead of an RGBA array: its shape (all the renderer reads)
    and the PNG data ``_EmbeddingPdfFile`` writes for it."""

    data: PngData
    shape: tuple[int, ...]


class EmbeddedPngImage(AxesImage):
    """``ax.imshow(pixels[::-1], origin="lower", interpolation="none", aspect="auto")`` of a PNG (``png_imshow``):
    placed, scaled and clipped by matplotlib's own code, but, drawn into ``EmbeddingPdfPages``, it hands the PDF a
    ``PngStandIn`` of the PNG's data instead of its pixels, which are then never decoded, converted to RGBA, split
    again and matched by digest (issue 17: ~15 ms of CPU per plot page). Drawn anywhere else (or resampled), it
    decodes the PNG first and is an ordinary image."""

    def __init__(self, ax, png: PlotPng, **kwargs):
        super().__init__(ax, **kwargs)
        self._png = png
        self._embedding = False
        self._decoded = False

    def _decode(self) -> None:
        if not self._decoded:
            self.set_data(self._png.pixels()[::-1])
            self._decoded = True

    def to_rgba(self, x, alpha=None, bytes=False, norm=True):  # noqa: A002 - matplotlib's signature
        if self._embedding:
            return _opaque_black(x.shape)  # a view of 4 bytes: make_image only slices it for its shape
        return super().to_rgba(x, alpha, bytes, norm)

    def make_image(self, renderer, magnification=1.0, unsampled=False):
        if self._embedding and unsampled:
            image, left, bottom, transform = super().make_image(renderer, magnification, unsampled)
            if image is None or image.shape[:2] == (self._png.height, self._png.width):
                return (image if image is None else PngStandIn(self._png.data, image.shape)), left, bottom, transform
            # clipped: only part of the picture shows, drawn from the decoded pixels
        self._embedding = False
        self._imcache = None
        self._decode()
        return super().make_image(renderer, magnification, unsampled)

    def draw(self, renderer):
        self._embedding = self._png.data is not None and isinstance(getattr(renderer, "file", None), _EmbeddingPdfFile)
        self._imcache = None  # the RGBA of the other mode
        try:
            super().draw(renderer)
        finally:
            self._embedding = False
            self._imcache = None


@dataclass(frozen=True)
class PlotPng:
    """A plot PNG as a PDF page shows it: its size, and its image data when that can be embedded as is (an 8-bit RGB,
    non-interlaced PNG); else the page decodes its pixels."""

    path: Path
    width: int
    height: int
    data: PngData | None

    @classmethod
    def read(cls, path: Path) -> PlotPng:
        data = png_data(path.read_bytes())
        if data is not None:
            return cls(path, data.width, data.height, data)
        with Image.open(path) as image:
            width, height = image.size
        return cls(path, width, height, None)

    def pixels(self) -> np.ndarray:
        """The RGB pixels (height × width × 3, uint8), decoded."""
        with Image.open(self.path) as image:
            return np.asarray(image.convert("RGB"))


def png_imshow(ax, png: PlotPng) -> AxesImage:
    """``ax.imshow(pixels[::-1], origin="lower", interpolation="none", aspect="auto")`` of ``png``'s pixels, rows
    bottom-up with origin "lower" (the same picture; the PDF backend then hands over the rows in the PNG's own
    order, top first): embedded as is into ``EmbeddingPdfPages`` when ``png.data`` (``EmbeddedPngImage``), else
    the decoded pixels by matplotlib's own path. For the former, ``imshow``'s steps for these arguments, with an
    ``EmbeddedPngImage`` in place of its ``AxesImage``."""
    if png.data is None:
        return ax.imshow(png.pixels()[::-1], origin="lower", interpolation="none", aspect="auto")
    image = EmbeddedPngImage(ax, png, origin="lower", interpolation="none")
    ax.set_aspect("auto")
    image.set_data(np.zeros((png.height, png.width, 3), dtype=np.uint8))  # the shape: extent and placement
    image.set_alpha(None)
    if image.get_clip_path() is None:
        image.set_clip_path(ax.patch)
    image.set_url(None)
    image.set_extent(image.get_extent())
    ax.add_image(image)
    return image


class _EmbeddingPdfFile(PdfFile):
    """matplotlib's PDF file writer; a ``PngStandIn`` is written as its PNG's own data."""

    def writeImages(self):
        # matplotlib 3.11's loop, with a PngStandIn written by _writePngData
        for img, _name, ob in self._images.values():
            if isinstance(img, PngStandIn):
                self._writePngData(img.data, ob.id)
                continue
            data, adata = self._unpack(img)
            if adata is not None:
                smaskObject = self.reserveObject("smask")
                self._writeImg(adata, smaskObject.id)
            else:
                smaskObject = None
            self._writeImg(data, ob.id, smaskObject)

    def _writePngData(self, png: PngData, id):  # noqa: A002 - as matplotlib's _writeImg
        header = {
            "Type": Name("XObject"),
            "Subtype": Name("Image"),
            "Width": png.width,
            "Height": png.height,
            "ColorSpace": Name("DeviceRGB"),
            "BitsPerComponent": 8,
        }
        predictor = {"Predictor": 10, "Colors": 3, "Columns": png.width}  # PNG row filters, RGB samples
        self.beginStream(id, self.reserveObject("length of image stream"), header, png=predictor)
        self.currentstream.write(png.idat)
        self.endStream()


class EmbeddingPdfPages(PdfPages):
    """``PdfPages`` whose ``EmbeddedPngImage`` images are embedded as their PNG's data, without re-encoding."""

    def _ensure_file(self):
        if self._file is None:
            self._file = _EmbeddingPdfFile(self._filename, metadata=self._metadata)
        return self._file
