"""Identicons: a small symmetric SVG pattern derived from a username.

Generated here rather than fetched from a third-party avatar service: the app server sits in
a private subnet without Internet access, and visitors' browsers should not leak to others.
"""

from __future__ import annotations

import hashlib

GRID = 5
CELL = 10


def identicon_svg(seed: str) -> str:
    """Return an SVG document for ``seed``; the same seed always gives the same picture."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    hue = int.from_bytes(digest[:2], "big") % 360
    colour = f"hsl({hue}, 55%, 45%)"
    background = f"hsl({hue}, 40%, 92%)"
    half = (GRID + 1) // 2
    cells = []
    bit = 16  # skip the bits already used for the hue
    for row in range(GRID):
        for col in range(half):
            on = digest[bit // 8] >> (bit % 8) & 1
            bit += 1
            if not on:
                continue
            # Mirror left to right so the pattern reads as a face-like figure.
            for x in sorted({col, GRID - 1 - col}):
                cells.append(
                    f'<rect x="{x * CELL}" y="{row * CELL}" width="{CELL}" height="{CELL}"/>'
                )
    size = GRID * CELL
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="-5 -5 {size + 10} {size + 10}" '
        f'width="{size + 10}" height="{size + 10}" role="img">'
        f'<rect x="-5" y="-5" width="{size + 10}" height="{size + 10}" fill="{background}"/>'
        f'<g fill="{colour}">{"".join(cells)}</g></svg>'
    )
