"""PDF documents with Chinese text: the font every generated document embeds, and a QR code drawn as vectors.

Library: **fpdf2**. The machine's CJK fonts are Noto Sans/Serif CJK from the Debian package ``fonts-noto-cjk``, which
ships OpenType collections (``.ttc``) with CFF outlines. ReportLab embeds TrueType (glyf) outlines only, so it
would need another font package (``fonts-wqy-microhei``); WeasyPrint would need Pango and its stack on every server.
fpdf2 (pure Python, on fontTools, which the project already uses) reads a collection's member font
(``collection_font_number``) and embeds a CFF subset as a CIDFontType0 font (FontFile3) with a ToUnicode map, so the
text can be searched and extracted again; the fonts the system already has are enough and no Debian package is added.
QR codes are drawn with **segno** (already a dependency: the TOTP enrolment QR) as filled squares, a vector drawing
with no image library involved.

The font is found by its family name (Noto Sans CJK SC) in the collections of ``FONT_DIRS``; a machine without it
gets a clear error naming the Debian package, never a PDF of empty boxes.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import segno
from fontTools.ttLib import TTCollection
from fpdf import FPDF

from core.errors import DomainError

FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/opentype"), Path("/usr/share/fonts"))
FONT_FILES = ("NotoSansCJK-Regular.ttc", "NotoSerifCJK-Regular.ttc")
FAMILY = "Noto Sans CJK SC"
FONT_PACKAGE = "fonts-noto-cjk"
FONT = "cjk"  # the name documents select the embedded font by


@cache
def cjk_font() -> tuple[str, int]:
    """(path of the collection, index of its Simplified Chinese member)."""
    for folder in FONT_DIRS:
        for name in FONT_FILES:
            path = folder / name
            if not path.is_file():
                continue
            collection = TTCollection(str(path), lazy=True)
            try:
                for index, font in enumerate(collection.fonts):
                    families = {r.toUnicode() for r in font["name"].names if r.nameID in (1, 16)}
                    if any(f.endswith(" SC") for f in families):
                        return str(path), index
            finally:
                collection.close()
    raise DomainError(f"no Simplified Chinese font to draw documents with (install the Debian package "
                      f"{FONT_PACKAGE})", f"缺少中文字体，无法生成文书（请安装 {FONT_PACKAGE}）", http_status=503)


def document(title: str, *, orientation: str = "portrait") -> FPDF:
    """An A4 document titled ``title`` with the Chinese font added as :data:`FONT` (one page not yet added)."""
    path, index = cjk_font()
    pdf = FPDF(orientation=orientation, unit="mm", format="A4")
    pdf.set_title(title)
    pdf.set_creator("OneMap")
    pdf.add_font(FONT, fname=path, collection_font_number=index)
    return pdf


def qr_matrix(url: str) -> list[list[bool]]:
    """The QR code of ``url`` as rows of dark (True) modules, without the quiet zone."""
    qr = segno.make(url, error="m", micro=False)
    return [[bool(v) for v in row] for row in qr.matrix]


def draw_qr(pdf: FPDF, url: str, *, x: float, y: float, size: float) -> None:
    matrix = qr_matrix(url)
    quiet = 4
    n = len(matrix) + 2 * quiet
    module = size / n
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x, y, size, size, style="F")
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                # a hair wider than the module, so neighbouring squares leave no seam when rasterised
                pdf.rect(x + (c + quiet) * module, y + (r + quiet) * module, module + 0.02, module + 0.02, style="F")


def zh_date(value: str) -> str:
    """``2026-12-08`` (or an ISO timestamp) → ``2026年12月8日``."""
    y, m, d = value[:10].split("-")
    return f"{int(y)}年{int(m)}月{int(d)}日"
