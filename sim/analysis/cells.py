"""One series in one year across the replications (a *cell*): what every target, headline
share and error line reads, split out of the runs in one pass.

Filtering every row of the runs once per cell is a full scan each, and at 400 replications a
report made hundreds of them (issue #18). :func:`split_cells` filters once and partitions.
Within a cell the rows keep the runs' order (``by_replication``: replication order), the order
a filter per cell gave, so means and variances add up in the same order and every figure stays
bit for bit what it was.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import polars as pl

Cell = tuple[str, int]       # (series, year)


def split_cells(runs: pl.DataFrame, cells: Iterable[Cell], columns: Sequence[str],
                by_replication: bool = False) -> dict[Cell, pl.DataFrame]:
    """The rows of each of ``cells`` (only ``columns``); a cell the runs lack is absent."""
    wanted = set(cells)
    if not wanted:
        return {}
    # Only the columns read are filtered: filtering every column of the runs first copied
    # the matching rows whole (1,000 replications: tens of MiB the parent did not need).
    keys = ("series", "year", *(["replication"] if by_replication else []))
    frame = runs.select(*dict.fromkeys((*keys, *columns))).filter(
        pl.col("series").is_in(sorted({s for s, _ in wanted}))
        & pl.col("year").is_in(sorted({y for _, y in wanted})))
    if by_replication:
        frame = frame.sort("series", "year", "replication", maintain_order=True)
    parts = frame.select("series", "year", *columns).partition_by(
        "series", "year", as_dict=True, maintain_order=True, include_key=False)
    out = {(str(s), int(y)): part for (s, y), part in parts.items()}
    return {cell: part for cell, part in out.items() if cell in wanted}
