"""The commands' figures: matplotlib, drawn off screen and written as PNG files.

matplotlib is imported when a figure is drawn, never when this module is imported.
"""

import contextlib

from keras_resnet.training.run_folder import atomic_write


@contextlib.contextmanager
def figure(path, columns, size, dpi=100, legend_size=None):
    """Yields `columns` axes side by side; on leaving, gives each a grid and a legend
    and writes the figure to `path` (atomically: a kill mid-write keeps the previous one).

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
            ax.legend(fontsize=legend_size)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        atomic_write(path, lambda f: fig.savefig(f, dpi=dpi, format="png"), binary=True)
    finally:
        pyplot.close(fig)
