"""The source task of the transfer lesson: printed characters, made from the fonts matplotlib ships.

Lesson 04 needs a network that learned something *general* on a task richer than its target.
The target is scikit-learn's handwritten digits (8x8 pixels, values 0-16); the source task is
this one: 62 characters (``0-9``, ``A-Z``, ``a-z``) rendered in the 16 text fonts that come
with matplotlib (DejaVu Sans, Sans Mono and Serif, STIX General, each regular, bold, italic and
bold italic), under random rotations, shears, scalings, shifts, stroke widths and noise, and
then reduced exactly the way the digits were made: a 32x32 black-and-white bitmap whose 4x4
blocks are counted, giving 8x8 pictures with values 0-16. Nothing is downloaded: the fonts are
files inside the matplotlib package, and every picture is drawn here, from a seed.
"""

from __future__ import annotations

import math
import string
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

#: The 62 classes of the source task, in label order.
CHARACTERS = string.digits + string.ascii_uppercase + string.ascii_lowercase

#: The text fonts shipped in ``matplotlib/mpl-data/fonts/ttf`` (the symbol and TeX fonts are left
#: out: they draw no Latin letters, or draw them with a TeX encoding).
FONT_FILES = tuple(
    f"{family}{style}.ttf"
    for family, styles in (
        ("DejaVuSans", ("", "-Bold", "-Oblique", "-BoldOblique")),
        ("DejaVuSansMono", ("", "-Bold", "-Oblique", "-BoldOblique")),
        ("DejaVuSerif", ("", "-Bold", "-Italic", "-BoldItalic")),
        ("STIXGeneral", ("", "Bol", "Italic", "BolIta")),
    )
    for style in styles
)

BITMAP_SIZE = 32  # the digits were drawn on 32x32 bitmaps ...
BLOCK = 4  # ... and reduced by counting the black pixels of each 4x4 block: 8x8, values 0-16


def font_paths() -> list[Path]:
    """The font files, inside the installed matplotlib package."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [folder / name for name in FONT_FILES]


def _render(font_path: Path, character: str, size: int = BITMAP_SIZE) -> np.ndarray:
    """One character, anti-aliased, scaled so that its longer side fills ``size`` pixels (as
    the digits were size-normalised), centred on a ``size`` x ``size`` canvas, ink = 1."""
    from matplotlib.ft2font import FT2Font

    font = FT2Font(str(font_path))
    font.set_size(4 * size, 72)
    font.set_text(character)
    font.draw_glyphs_to_bitmap(antialiased=True)
    image = torch.tensor(np.asarray(font.get_image()), dtype=torch.float32) / 255.0
    rows = torch.nonzero(image.amax(dim=1) > 0.5).flatten()
    columns = torch.nonzero(image.amax(dim=0) > 0.5).flatten()
    image = image[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    height, width = image.shape
    scale = size / max(height, width)
    new_height, new_width = max(1, round(height * scale)), max(1, round(width * scale))
    resized = nn.functional.interpolate(
        image[None, None], size=(new_height, new_width), mode="bilinear", antialias=True, align_corners=False
    )[0, 0]
    canvas = torch.zeros(size, size)
    top, left = (size - new_height) // 2, (size - new_width) // 2
    canvas[top : top + new_height, left : left + new_width] = resized
    return canvas.numpy()


@cache
def _glyph(font: int, character: int) -> torch.Tensor:
    return torch.tensor(_render(font_paths()[font], CHARACTERS[character]))


def glyph_bank() -> torch.Tensor:
    """Every character in every font, undistorted: ``(fonts, 62, 32, 32)``, ink in [0, 1].

    Each glyph is drawn once per process (about a millisecond each) and kept.
    """
    return torch.stack([torch.stack([_glyph(f, c) for c in range(len(CHARACTERS))]) for f in range(len(FONT_FILES))])


def distort(bitmaps: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random rotation (up to 15 degrees), shear, scaling, shift, stroke width and noise.

    ``bitmaps`` is ``(N, 1, 32, 32)`` with ink in [0, 1]; the result has the same shape and is
    black and white (0 or 1), like the bitmaps the digits were counted from.
    """
    count = bitmaps.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(count, generator=generator)

    angle = uniform(-15, 15) * math.pi / 180
    shear = uniform(-0.3, 0.3)
    scale_x, scale_y = uniform(0.8, 1.15), uniform(0.85, 1.15)
    shift_x, shift_y = uniform(-0.12, 0.12), uniform(-0.12, 0.12)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Output coordinates -> input coordinates: inverse scaling, shear and rotation, then a shift.
    theta = torch.zeros(count, 2, 3)
    theta[:, 0, 0] = cos / scale_x
    theta[:, 0, 1] = (-sin + shear * cos) / scale_x
    theta[:, 1, 0] = sin / scale_y
    theta[:, 1, 1] = (cos + shear * sin) / scale_y
    theta[:, 0, 2], theta[:, 1, 2] = shift_x, shift_y
    grid = nn.functional.affine_grid(theta, list(bitmaps.shape), align_corners=False)
    warped = nn.functional.grid_sample(bitmaps, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # Stroke width: a random threshold thins or thickens; a max-pool (dilation) thickens more,
    # since handwritten strokes are often wider than printed ones.
    threshold = uniform(0.35, 0.7).view(-1, 1, 1, 1)
    ink = (warped > threshold).float()
    thick = nn.functional.max_pool2d(ink, kernel_size=3, stride=1, padding=1)
    thicker = nn.functional.max_pool2d(thick, kernel_size=3, stride=1, padding=1)
    width = torch.bucketize(torch.rand(count, 1, 1, 1, generator=generator), torch.tensor([0.5, 0.9]))
    ink = torch.where(width == 0, ink, torch.where(width == 1, thick, thicker))
    # Noise: a few pixels flipped.
    flips = torch.rand(ink.shape, generator=generator) < 0.02
    return torch.where(flips, 1 - ink, ink)


def count_blocks(bitmaps: torch.Tensor) -> torch.Tensor:
    """``(N, 1, 32, 32)`` black-and-white bitmaps -> ``(N, 1, 8, 8)`` counts of black pixels in
    each 4x4 block (0-16), the reduction that made scikit-learn's digits."""
    return nn.functional.avg_pool2d(bitmaps, kernel_size=BLOCK) * BLOCK * BLOCK


def make_glyphs(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` random source-task pictures and their labels (0-61, see :data:`CHARACTERS`).

    Pictures are ``(count, 1, 8, 8)`` with values 0-16, like ``load_digits().images``. The same
    ``seed`` gives the same pictures.
    """
    generator = torch.Generator().manual_seed(seed)
    fonts = torch.randint(0, len(FONT_FILES), (count,), generator=generator)
    labels = torch.randint(0, len(CHARACTERS), (count,), generator=generator)
    # Only the glyphs that are needed are drawn: a dozen pictures cost a dozen renderings.
    bitmaps = torch.stack([_glyph(f, c) for f, c in zip(fonts.tolist(), labels.tolist(), strict=True)]).unsqueeze(1)
    return count_blocks(distort(bitmaps, generator)), labels
