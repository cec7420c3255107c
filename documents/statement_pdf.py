"""The continuity statement as a PDF (fpdf2): what `evidence.continuity` states, laid out to read.

DejaVu fonts (Debian's fonts-dejavu-core) print any name or file name as typed; without them
the PDF falls back to the core Helvetica font, which holds Latin-1 only, and other characters
print as `?`.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from evidence.continuity import ContinuityStatement, ExhibitStatement

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FONTS = {
    ("Sans", ""): "DejaVuSans.ttf",
    ("Sans", "B"): "DejaVuSans-Bold.ttf",
    ("Mono", ""): "DejaVuSansMono.ttf",
}


class _Statement(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self._title = title
        self.unicode = all((FONT_DIR / name).is_file() for name in _FONTS.values())
        if self.unicode:
            for (family, style), name in _FONTS.items():
                self.add_font(family, style, str(FONT_DIR / name))
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 16, 18)

    @property
    def bullet(self) -> str:
        return "\u2022" if self.unicode else "-"

    def use(self, family: str, size: float, style: str = "") -> None:
        if self.unicode:
            self.set_font(family, style, size)
        else:
            self.set_font("Courier" if family == "Mono" else "Helvetica", style, size)

    def text_of(self, text: str) -> str:
        if self.unicode:
            return text
        return text.encode("latin-1", "replace").decode("latin-1")

    def footer(self) -> None:
        self.set_y(-12)
        self.use("Sans", 8)
        self.cell(0, 6, self.text_of(f"{self._title} - page {self.page_no()} of {{nb}}"),
                  align="C")  # fmt: skip

    def para(self, text: str, size: float = 10, style: str = "", height: float = 5) -> None:
        self.use("Sans", size, style)
        self.multi_cell(0, height, self.text_of(text), align="L", new_x=XPos.LMARGIN,
                        new_y=YPos.NEXT)  # fmt: skip

    def field(self, label: str, value: str, *, mono: bool = False) -> None:
        self.use("Sans", 9, "B")
        self.cell(38, 5, self.text_of(label))
        self.use("Mono" if mono else "Sans", 8.5 if mono else 9.5)
        self.multi_cell(0, 5, self.text_of(value), align="L", new_x=XPos.LMARGIN,
                        new_y=YPos.NEXT)  # fmt: skip

    def heading(self, text: str) -> None:
        self.ln(3)
        self.para(text, size=12.5, style="B", height=7)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(1.5)


def render_statement(statement: ContinuityStatement) -> bytes:
    """The statement as PDF bytes."""
    title = f"Continuity statement, case {statement.case_reference}"
    pdf = _Statement(title)
    pdf.set_title(title)
    pdf.set_creator("Exhibit")
    pdf.add_page()
    pdf.para(title, size=17, style="B", height=9)
    pdf.para(statement.case_title, size=11)
    pdf.ln(2)
    pdf.field("Prepared", statement.prepared_at)
    pdf.field("Prepared for", statement.prepared_by)
    pdf.field("Reason given", statement.reason or "(on the case team; none required)")
    pdf.field("Storage region", statement.region)
    pdf.ln(1)
    pdf.para(statement.focus, size=9.5)
    pdf.para(
        "Times are UK local time (GMT in winter, BST in summer). Hashes are SHA-256, written "
        "in hexadecimal.",
        size=9.5,
    )

    pdf.heading("Chain of custody: verification")
    for finding in statement.chain_findings:
        pdf.para(f"{pdf.bullet} {finding}", size=9.5)
    pdf.field("Checkpoint key", statement.key_id, mono=True)
    pdf.para(
        "Anyone can repeat these checks without Exhibit: see README.txt in this bundle "
        "(sha256sum -c manifest.sha256; python3 verify.py; openssl dgst -verify).",
        size=9,
    )

    for exhibit in statement.exhibits:
        _exhibit(pdf, exhibit)
    return bytes(pdf.output())


def _exhibit(pdf: _Statement, exhibit: ExhibitStatement) -> None:
    pdf.heading(f"Exhibit {exhibit.ref}: {exhibit.name}")
    pdf.field("Produced by", exhibit.producer)
    pdf.field("Received", exhibit.received_at)
    pdf.field("Received from", exhibit.received_from)
    pdf.field("Type, size", f"{exhibit.file_type}, {exhibit.size:,} bytes")
    pdf.field("SHA-256", exhibit.sha256, mono=True)
    pdf.field("Stored in region", exhibit.region)
    pdf.ln(1)
    pdf.para("Verification", size=10, style="B")
    for finding in exhibit.findings:
        pdf.para(f"{pdf.bullet} {finding}", size=9)
    pdf.ln(1)
    pdf.para("Custody events", size=10, style="B")
    pdf.use("Sans", 8.5)
    with pdf.table(
        col_widths=(10, 56, 38, 70),
        text_align=("RIGHT", "LEFT", "LEFT", "LEFT"),
        line_height=4.6,
        first_row_as_headings=True,
    ) as table:
        header = table.row()
        for text in ("No.", "When (UK time)", "Person", "Event"):
            header.cell(text)
        for event in exhibit.events:
            row = table.row()
            row.cell(str(event.sequence))
            row.cell(event.when)
            row.cell(pdf.text_of(event.person))
            row.cell(pdf.text_of(event.what))
