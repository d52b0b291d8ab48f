"""Model plots as markdown with an embedded PNG, the form the Dagster UI shows as asset
metadata (``MetadataValue.md``)."""

from __future__ import annotations

import base64
import io

import numpy as np


def _markdown_png(fig) -> str:  # type: ignore[no-untyped-def]
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return f"![plot](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


def importance_plot(importance: dict[str, float], top: int = 15) -> str:
    """Horizontal bars of the largest ``top`` gain shares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted(importance.items(), key=lambda kv: kv[1])[-top:]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(items) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set_xlabel("share of total gain")
    ax.set_title("feature importance")
    return _markdown_png(fig)


def predicted_vs_realized_plot(pred: np.ndarray, realized: np.ndarray, max_points: int = 5000) -> str:
    """Scatter of predicted against realized returns on the holdout (a random subsample)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = np.isfinite(pred) & np.isfinite(realized)
    p, r = pred[ok], realized[ok]
    if p.size > max_points:
        pick = np.random.default_rng(0).choice(p.size, max_points, replace=False)
        p, r = p[pick], r[pick]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(p * 1e4, r * 1e4, s=3, alpha=0.3)
    ax.axhline(0, lw=0.5, color="grey")
    ax.axvline(0, lw=0.5, color="grey")
    ax.set_xlabel("predicted return (bp)")
    ax.set_ylabel("realized return (bp)")
    ax.set_title("holdout: predicted vs realized")
    return _markdown_png(fig)
