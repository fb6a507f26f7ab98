"""Several models side by side: one figure, one panel per model, one shared legend.

Written for lesson 03, which compares the parameter split of four torchvision models after the
same freezing recipe; any notebook that compares models can use it.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from torch import nn

from freezelab.params import block_summary
from freezelab.plots import FROZEN_COLOUR, TRAINABLE_COLOUR, plot_parameter_split


def plot_parameter_split_grid(models: Mapping[str, nn.Module],
                              depths: Mapping[str, int] | None = None, log: bool = True,
                              ncols: int = 2, subtitle: str = "") -> Figure:
    """One :func:`~freezelab.plots.plot_parameter_split` panel per named model, in a grid.

    ``depths`` gives the :func:`~freezelab.params.block_summary` depth per model name (1 when
    missing), so that each panel shows blocks of a sensible size. With ``log=True`` each panel
    gets some room to the right of its longest bar (a log axis otherwise ends exactly at it),
    and the per-panel legends are replaced by one legend for the whole figure.
    """
    depths = depths or {}
    names = list(models)
    nrows = -(-len(names) // ncols)
    summaries = {name: block_summary(models[name], depth=depths.get(name, 1)) for name in names}
    heights = [max(len([row for row in summaries[name] if row.counts.total]) for name in
                   names[r * ncols:(r + 1) * ncols]) for r in range(nrows)]
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.5 * ncols, 0.3 * sum(heights) + 1.6 * nrows),
                             layout="constrained", squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, name in zip(axes.flat, names, strict=False):
        title = f"{name}: {subtitle}" if subtitle else name
        plot_parameter_split(summaries[name], title=title, log=log, ax=ax)
        ax.get_legend().remove()
        if log:
            largest = max(row.counts.total for row in summaries[name])
            ax.set_xlim(1, largest * 3)
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour)
               for colour in (FROZEN_COLOUR, TRAINABLE_COLOUR)]
    fig.legend(handles, ["frozen", "trainable"], loc="outside upper center", ncol=2, frameon=False)
    return fig
