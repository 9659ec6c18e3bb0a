"""The endpoint benchmark's figures as a PNG: create and delete cost per endpoint against N, one line
per approach; log scales, as the approaches differ by orders of magnitude.

    python benchmarks/plot.py [JSON [PNG]]    (default benchmarks/output/endpoints.json and .png)

endpoints.py calls plot() after each N; this command redraws the PNG from the JSON it wrote.
"""

from __future__ import annotations

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display: render to a file
import matplotlib.pyplot as plt  # noqa: E402 pylint: disable=wrong-import-position

OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")


def plot(runs, path):
    """runs: [{"count": N, "approaches": {label: {"create_ms": ..., "delete_ms": ...}}}, ...]."""
    labels = list(dict.fromkeys(label for run in runs for label in run["approaches"]))
    figure, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, key, title in ((axes[0], "create_ms", "create"), (axes[1], "delete_ms", "delete")):
        for label in labels:
            points = [(run["count"], run["approaches"][label][key]) for run in runs if label in run["approaches"]]
            ax.plot([count for count, unused_ms in points], [ms for unused_count, ms in points], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks([run["count"] for run in runs], [str(run["count"]) for run in runs])
        ax.set_xlabel("N (endpoints)")
        ax.set_ylabel("ms per endpoint")
        ax.set_title("%s, ms per endpoint (wall clock)" % title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else os.path.join(OUTPUT, "endpoints.json")
    target = sys.argv[2] if len(sys.argv) > 2 else os.path.splitext(source)[0] + ".png"
    with open(source, encoding="utf-8") as data:
        plot(json.load(data)["runs"], target)
    print(target)


if __name__ == "__main__":
    main()
