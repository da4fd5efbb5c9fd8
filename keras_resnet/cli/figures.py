"""The commands' figures: matplotlib (imported only when a figure is drawn), off screen, written as PNG."""

import contextlib

from keras_resnet.cli.files import atomic


@contextlib.contextmanager
def figure(path, columns, size, dpi=100, legend_size=None, title=None):
    """Yields `columns` axes side by side (`with figure("curves.png", 2, (10, 4)) as (loss_ax, error_ax):`);
    on leaving, gives each a grid and a legend (where something is labelled), sets the figure's `title`,
    and writes it to `path` atomically."""
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
