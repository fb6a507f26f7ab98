"""Tests for freezelab.glyphs: the source task drawn from matplotlib's fonts."""

from __future__ import annotations

import torch

from freezelab.glyphs import CHARACTERS, FONT_FILES, count_blocks, font_paths, glyph_bank, make_glyphs


def test_every_font_ships_inside_matplotlib():
    """Are all 16 fonts files of the installed matplotlib package, so that nothing is downloaded?"""
    import matplotlib

    paths = font_paths()
    assert len(paths) == len(FONT_FILES) == 16
    assert all(path.is_file() and str(path).startswith(matplotlib.get_data_path()) for path in paths)


def test_glyph_bank_holds_every_character_in_every_font_size_normalised():
    """Is every glyph drawn (some ink) and scaled so that its longer side fills the 32-pixel box?"""
    bank = glyph_bank()
    assert bank.shape == (16, len(CHARACTERS), 32, 32) and len(CHARACTERS) == 62
    ink = bank > 0.5
    assert ink.flatten(2).any(dim=2).all()
    positions = torch.arange(32)

    def extent(occupied: torch.Tensor) -> torch.Tensor:  # from the first to the last inked row (or column)
        first = torch.where(occupied, positions, 32).amin(dim=2)
        last = torch.where(occupied, positions, -1).amax(dim=2)
        return last - first + 1

    assert (torch.maximum(extent(ink.any(dim=3)), extent(ink.any(dim=2))) >= 30).all()


def test_count_blocks_counts_the_black_pixels_of_each_4x4_block():
    """Is an 8x8 picture the count (0-16) of black pixels of each 4x4 block, as for sklearn's digits?"""
    bitmap = torch.zeros(1, 1, 32, 32)
    bitmap[0, 0, :4, :4] = 1
    bitmap[0, 0, 4, 4] = 1
    counts = count_blocks(bitmap)
    assert counts.shape == (1, 1, 8, 8)
    assert counts[0, 0, 0, 0] == 16 and counts[0, 0, 1, 1] == 1 and counts.sum() == 17


def test_make_glyphs_gives_digit_like_pictures_reproducibly():
    """Are the pictures 8x8 whole numbers 0-16 with labels 0-61, the same for a seed and not for another?"""
    images, labels = make_glyphs(500, seed=3)
    assert images.shape == (500, 1, 8, 8) and labels.shape == (500,)
    assert images.min() >= 0 and images.max() <= 16 and torch.equal(images, images.round())
    assert labels.min() >= 0 and labels.max() < 62
    again, again_labels = make_glyphs(500, seed=3)
    assert torch.equal(images, again) and torch.equal(labels, again_labels)
    assert not torch.equal(images, make_glyphs(500, seed=4)[0])


def test_distortions_make_two_pictures_of_one_glyph_differ():
    """Do the random distortions change the picture, so that the source task is more than 992 glyphs?"""
    images, labels = make_glyphs(3000, seed=0)
    distinct = {tuple(image.flatten().tolist()) for image in images}
    assert len(distinct) > 2900
