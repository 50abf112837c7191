"""Every figure of the paper, one module per family, drawn in the one style of :mod:`cgexplain.figures.style`."""
