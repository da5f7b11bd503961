"""Pictures of capacity-planner results (``hspace --sweep ... --plot FILE.png``)."""

from __future__ import annotations

import pandas as pd

# one colour per limiting resource, the same in every picture
COLOURS = {"memory": "#1f77b4", "disk": "#ff7f0e", "vcpu": "#2ca02c", "N+1": "#d62728",
           "spindles": "#9467bd", "tags": "#8c564b", "migration": "#e377c2",
           "disk count": "#7f7f7f", "internal": "#bcbd22", "limit": "#17becf",
           "no nodes": "#000000"}
BAR_LIMIT = 60  # more scenarios than this: a sorted curve instead of labelled bars


def plot_sweep(table: pd.DataFrame, path: str) -> None:
    """Capacity per scenario, coloured and labelled by what ran out first.

    Up to BAR_LIMIT scenarios get one labelled bar each ("512 - memory"), so
    nothing needs a legend; larger sweeps become a sorted capacity curve with
    a legend that counts the scenarios per limiting resource.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(table)
    if n <= BAR_LIMIT:
        fig, ax = plt.subplots(figsize=(10, 1.2 + 0.35 * max(n, 1)))
        y = range(n)[::-1]
        colours = [COLOURS.get(lim, "#333333") for lim in table["limiting"]]
        ax.barh(list(y), table["instances"], color=colours)
        ax.set_yticks(list(y), labels=list(table["scenario"]))
        top = max(int(table["instances"].max()) if n else 0, 1)
        for yy, count, lim in zip(y, table["instances"], table["limiting"], strict=True):
            ax.text(count + top * 0.01, yy, f"{count} - {lim}", va="center", fontsize=8)
        ax.set_xlim(0, top * 1.25)
        ax.set_xlabel("new instances that fit")
    else:
        fig, ax = plt.subplots(figsize=(10, 6))
        ordered = table.sort_values("instances", kind="stable").reset_index(drop=True)
        for lim, part in ordered.groupby("limiting", sort=False):
            ax.scatter(part.index, part["instances"], s=6, color=COLOURS.get(lim, "#333333"),
                       label=f"{lim}: {len(part)} scenarios")
        ax.set_xlabel("scenarios, sorted by capacity")
        ax.set_ylabel("new instances that fit")
        ax.legend(title="limited by", loc="upper left")
    ax.set_title("Capacity per scenario and the resource that runs out first")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
