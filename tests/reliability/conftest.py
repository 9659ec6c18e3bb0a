"""The reliability suite (concurrency, crashes, drift, reboot, bad input, safety) against the real
kernel, each test in a private network namespace of its own.

Tests record their figures with the `figures` fixture; the suite ends with a table of every
figure beside its goal (also written to tests/output/reliability/figures.json).
"""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

import pynet_testing  # noqa: E402  (makes the collection importable)

FIGURES_PATH = os.path.join(pynet_testing.REPO, "tests", "output", "reliability", "figures.json")
_RECORDED = []


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="the reliability suite needs root")
        for item in items:
            item.add_marker(skip)


class Figures:
    def record(self, part, figure, value, goal, met):
        """One row of the summary table; the test asserts the goal itself."""
        _RECORDED.append({"part": part, "figure": figure, "value": value, "goal": goal, "met": bool(met)})
        return met


@pytest.fixture
def figures():
    return Figures()


@pytest.fixture
def host(tmp_path):
    """The test's private 'host' namespace (lo up) and paths for its state and sandboxes."""
    with pynet_testing.private_host(tmp_path) as paths:
        yield paths


def pytest_terminal_summary(terminalreporter):
    if not _RECORDED:
        return
    os.makedirs(os.path.dirname(FIGURES_PATH), exist_ok=True)
    with open(FIGURES_PATH, "w") as handle:
        json.dump(_RECORDED, handle, indent=1)
    rows = [("part", "figure", "value", "goal", "met")] + [
        (row["part"], row["figure"], str(row["value"]), str(row["goal"]), "yes" if row["met"] else "NO")
        for row in _RECORDED]
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    terminalreporter.section("reliability figures")
    for number, row in enumerate(rows):
        terminalreporter.write_line("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |")
        if number == 0:
            terminalreporter.write_line("|" + "|".join("-" * (width + 2) for width in widths) + "|")
