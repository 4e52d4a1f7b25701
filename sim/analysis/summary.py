"""Summaries of replications: per year and series, the share's quantiles and Monte Carlo error."""

from __future__ import annotations

import polars as pl

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def summary_frame(runs: pl.DataFrame) -> pl.DataFrame:
    """Per year and series: the share's mean, quantiles and Monte Carlo standard error."""
    q = [pl.col("share").quantile(p, interpolation="linear").alias(f"share_p{round(p * 100):02d}")
         for p in QUANTILES]
    return (runs.group_by("year", "series", "measure", maintain_order=True)
            .agg(pl.col("share").mean().alias("share_mean"), *q,
                 (pl.col("share").std() / pl.col("share").count().sqrt()).alias("share_se"),
                 pl.col("women").mean().alias("women_mean"),
                 pl.col("total").mean().alias("total_mean"),
                 pl.col("share").count().alias("n_replications"))
            .sort("series", "year"))


def summarize(results: pl.DataFrame) -> pl.DataFrame:
    """A sweep's results per point, year and series: the share's mean, quantiles and SE."""
    return pl.concat([summary_frame(part).select(
        pl.lit(point, dtype=pl.Int32).alias("point"), pl.all())
        for (point,), part in results.partition_by("point", as_dict=True,
                                                   maintain_order=True).items()])
