"""The seeds' alert emails and digest as a real browser (Debian's chromium) draws them: the
screenshots are made again into a temporary folder and must show a page, not a blank."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from tests.alerts_on_seeds import browser, pages, screenshot, window_of, write_screenshots

DOCS = Path(__file__).resolve().parents[3] / "docs" / "alerts"


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        chunk = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unexpected PNG layout"
    step = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * step
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - step] if x >= step else 0
            up = previous[x]
            corner = previous[x - step] if x >= step else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                near = min((abs(guess - v), i) for i, v in enumerate((left, up, corner)))[1]
                line[x] = (line[x] + (left, up, corner)[near]) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def inked_share(rows: list[bytes]) -> float:
    """The share of bytes (colour channels) that are not white."""
    total = sum(len(row) for row in rows)
    return sum(sum(1 for value in row if value < 200) for row in rows) / total


def test_the_check_tells_a_blank_page_from_a_drawn_one(tmp_path: Path) -> None:
    if browser() is None:
        pytest.fail("chromium is not installed: bash deploy/local.sh test installs it")
    blank = tmp_path / "blank.png"
    screenshot("<!DOCTYPE html><html><body></body></html>", blank, window=(300, 200))
    width, height, rows = png_pixels(blank.read_bytes())
    assert (width, height) == (300, 200)
    assert inked_share(rows) == 0


def test_the_seed_alerts_are_drawn_right_to_left_with_text(tmp_path: Path) -> None:
    if browser() is None:
        pytest.fail("chromium is not installed: bash deploy/local.sh test installs it")
    written = write_screenshots(tmp_path)
    assert sorted(p.stem for p in written) == sorted(pages())
    for path in written:
        width, height, rows = png_pixels(path.read_bytes())
        assert (width, height) == window_of(path.stem), path.name
        share = inked_share(rows)
        assert 0.005 < share < 0.5, f"{path.name}: {share:.3f} of the page inked"
        # Right to left: the text's right edge is near the page's right, its left ragged.
        right = [max((i for i, v in enumerate(row) if v < 200), default=-1) for row in rows]
        assert max(right) > 0.8 * width * (len(rows[0]) // width)


def test_the_screenshots_in_the_docs_are_the_seed_alerts() -> None:
    """``python -m tests.alerts_on_seeds docs/alerts`` refreshes them."""
    assert sorted(p.stem for p in DOCS.glob("*.png")) == sorted(pages())
