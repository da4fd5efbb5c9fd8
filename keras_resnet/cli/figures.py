"""The commands' figures: matplotlib, drawn off screen and written as PNG files.

matplotlib is imported when a figure is drawn, never when this module is imported.
"""

import contextlib

from keras_resnet.cli.files import atomic


@contextlib.contextmanager
def figure(path, columns, size, dpi=100, legend_size=None, title=None):
    """Yields `columns` axes side by side; on leaving, gives each a grid and a legend
    (where something is labelled), sets the figure's `title`, and writes the figure to
    `path` (atomically: a kill mid-write keeps the previous one).

    Example:
        >>> with figure("curves.png", 2, (10, 4)) as (loss_ax, error_ax):
        ...     loss_ax.plot(epochs, losses, label="training")
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    fig, axes = pyplot.subplots(1, columns, figsize=size, squeeze=False)
    try:
        yield tuple(axes[0])
        for ax in axes[0]:
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=legend_size)
            ax.grid(alpha=0.3)
        if title:
            fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        with atomic(path) as partial:
            fig.savefig(partial, dpi=dpi, format="png")
    finally:
        pyplot.close(fig)
