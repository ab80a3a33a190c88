"""Figures without a display: a matplotlib figure on the Agg canvas, saved atomically."""

from pathlib import Path

from mlip_gnn.utils.files import atomic_write

__all__ = ["new_figure", "save_png"]


def new_figure(width: float = 5.5, height: float = 4.0, dpi: int = 110):
    """A matplotlib ``Figure`` (inches) drawn by Agg: no GUI backend, no global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path: Path) -> Path:
    """Lay ``fig`` out and write it to ``path`` as PNG, atomically; returns ``path``."""
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png")
    return path
