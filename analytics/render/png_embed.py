"""Plot PNGs drawn once and embedded in report.pdf as they are (issue 17: render CPU).

``png_write`` saves a figure as an 8-bit RGB PNG (the plots are opaque: no alpha channel to carry). A PNG's
image data (its IDAT chunks: zlib-compressed rows with PNG row filters) is exactly what a PDF image stream with
``/FlateDecode`` and ``/DecodeParms << /Predictor 10 … >>`` holds, so ``report.pdf`` copies those bytes instead of
decoding the PNG and compressing the same pixels again (matplotlib's PDF backend re-encodes every image through
PIL: about 40 ms of CPU per plot page, 38 pages with the five default strata).

How: the PDF page still shows the plot with ``imshow`` of its decoded pixels (placement and scaling unchanged);
``EmbeddingPdfPages`` is matplotlib's ``PdfPages`` whose file object, when it writes an image whose pixels are
those of a registered PNG (``PngImages.load``; matched by a digest of the RGB bytes), writes that PNG's IDAT
bytes with the PNG predictor parameters instead. Any other image takes matplotlib's own path, so a PNG that is
not 8-bit RGB non-interlaced (or pixels that do not match) is embedded as before.

The PNGs are written by ``rgb_png`` (rows unfiltered, zlib level 3) rather than PIL, and ``PngImages.load``
reads such a PNG's pixels by decompressing its rows, without PIL's decoder (issue 17: 12 ms per plot less
CPU for the two; any other PNG is decoded by PIL).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.backends.backend_pdf import Name, PdfFile, PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from analytics.render.agg_text import TextLayouts, TextReusingCanvasAgg, text_reuse_available  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RGB_COLOUR_TYPE = 2
PNG_COMPRESS_LEVEL = 3  # zlib: level 3 is ~2x faster than 4-6 on the plots' rows, for ~10% more bytes


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
    and compresses at level 6. The plots are flat colours, which compress as well unfiltered (2.9 MB for the 38
    plots of a five-strata run at level 3, 2.7 MB from PIL): 4.5 ms per plot; the pixels are the same."""
    height, width, _ = pixels.shape
    rows = np.empty((height, 1 + 3 * width), dtype=np.uint8)
    rows[:, 0] = 0  # filter type: none
    rows[:, 1:].reshape(height, width, 3)[...] = pixels
    per_metre = int(dpi / 0.0254 + 0.5)
    return b"".join(
        (
            PNG_SIGNATURE,
            _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, RGB_COLOUR_TYPE, 0, 0, 0)),
            _chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
            _chunk(b"IDAT", zlib.compress(rows, PNG_COMPRESS_LEVEL)),
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


def _pixels_key(pixels: np.ndarray) -> bytes:
    """A digest of an RGB image's shape and bytes (rows top to bottom)."""
    digest = hashlib.sha256(str(pixels.shape).encode())
    digest.update(np.ascontiguousarray(pixels).data)
    return digest.digest()


def unfiltered_pixels(data: PngData) -> np.ndarray | None:
    """The RGB pixels of ``data`` when every row has filter type 0 (none; the PNGs ``rgb_png`` writes), else None:
    a view of the decompressed rows, without PIL's decoding."""
    try:
        raw = zlib.decompress(data.idat)
    except zlib.error:
        return None
    stride = 1 + 3 * data.width
    if len(raw) != data.height * stride:
        return None
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(data.height, stride)
    if rows[:, 0].any():
        return None
    return rows[:, 1:].reshape(data.height, data.width, 3)


@dataclass
class PngImages:
    """The PNGs a PDF may embed as they are, by the digest of their pixels."""

    by_pixels: dict[bytes, PngData] = field(default_factory=dict)

    def load(self, path: Path) -> np.ndarray:
        """The RGB pixels of the PNG at ``path`` (height × width × 3, uint8), registered for embedding as is."""
        data = png_data(path.read_bytes())
        pixels = unfiltered_pixels(data) if data is not None else None
        if pixels is None:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
        if data is not None and pixels.shape == (data.height, data.width, 3):
            self.by_pixels[_pixels_key(pixels)] = data
        return pixels

    def find(self, pixels: np.ndarray) -> PngData | None:
        if not self.by_pixels or pixels.ndim != 3 or pixels.shape[2] != 3:
            return None
        return self.by_pixels.get(_pixels_key(pixels))


class _EmbeddingPdfFile(PdfFile):
    """matplotlib's PDF file writer; an image that is a registered PNG is written from the PNG's own data."""

    def __init__(self, filename, images: PngImages, metadata=None):
        super().__init__(filename, metadata=metadata)
        self._png_images = images

    def _writeImg(self, data, id, smask=None):  # noqa: A002 - matplotlib's signature
        found = self._png_images.find(data) if smask is None else None
        if found is None:
            super()._writeImg(data, id, smask)
            return
        header = {
            "Type": Name("XObject"),
            "Subtype": Name("Image"),
            "Width": found.width,
            "Height": found.height,
            "ColorSpace": Name("DeviceRGB"),
            "BitsPerComponent": 8,
        }
        predictor = {"Predictor": 10, "Colors": 3, "Columns": found.width}  # PNG row filters, RGB samples
        self.beginStream(id, self.reserveObject("length of image stream"), header, png=predictor)
        self.currentstream.write(found.idat)
        self.endStream()


class EmbeddingPdfPages(PdfPages):
    """``PdfPages`` whose images that are registered PNGs (``images``) are embedded without re-encoding."""

    def __init__(self, filename, *, images: PngImages, metadata=None):
        super().__init__(filename, metadata=metadata)
        self._png_images = images

    def _ensure_file(self):
        if self._file is None:
            self._file = _EmbeddingPdfFile(self._filename, self._png_images, metadata=self._metadata)
        return self._file
