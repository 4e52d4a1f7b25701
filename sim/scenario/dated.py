"""Dated values: every policy lever can change value at a date.

A scenario states a lever either as a plain value (constant over the whole run) or as a list
of changes, each ``[date, value]`` ("from this date on") or ``[date, value, "linear"]`` ("from
this date, moving linearly to the next point's value"). ``{ linear = [[d1, v1], [d2, v2]] }``
is shorthand for a linear ramp through the points. Dates are TOML dates (``2025-07-01``),
ISO strings, or whole years (``2025`` meaning 1 January).

Before its first date a lever keeps the value it had in the layer beneath (the parent scenario,
the fitted calibration, or the schema default): :func:`layer` merges a child's changes on top of
a parent's, so a scenario that ``extends`` the baseline states only what differs.

Time inside the model is the absolute month number ``year * 12 + (month - 1)``, so dates that
fall on the first of a month compare exactly with the simulation clock.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from pydantic_core import core_schema

OFF = "off"
EPOCH = dt.date(1900, 1, 1)


def month_number(day: dt.date) -> float:
    """Absolute month number of a date; the day adds a fraction of its month."""
    days = calendar.monthrange(day.year, day.month)[1]
    return day.year * 12 + (day.month - 1) + (day.day - 1) / days


def date_of_month(month: float) -> dt.date:
    """The first day of an absolute month number (fractions are dropped)."""
    year, m = divmod(int(month), 12)
    return dt.date(year, m + 1, 1)


def date_of(month: float) -> dt.date:
    """The date whose month number is ``month``: the exact inverse of :func:`month_number`,
    so a dumped change (``extends`` layering, resolved scenarios) keeps its day."""
    first = date_of_month(month)
    days = calendar.monthrange(first.year, first.month)[1]
    return first.replace(day=1 + round((month - int(month)) * days))


def parse_date(raw: Any) -> dt.date:
    """A TOML date, an ISO string or a whole year; anything else is a clear error."""
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a date")
    if isinstance(raw, int):
        if not 1900 <= raw <= 2200:
            raise ValueError(f"year {raw} is outside 1900-2200")
        return dt.date(raw, 1, 1)
    if isinstance(raw, str):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a valid date (use YYYY-MM-DD)") from None
    raise ValueError(f"{raw!r} is not a date")


@dataclass(frozen=True)
class Point:
    """One change: from ``month`` on the value is ``value`` (``None`` = lever off)."""

    month: float
    value: float | None
    linear: bool = False


@dataclass(frozen=True)
class Dated:
    """A value that changes at dates. Immutable; evaluate with :meth:`at`."""

    points: tuple[Point, ...]

    @classmethod
    def constant(cls, value: float | None) -> "Dated":
        return cls((Point(float("-inf"), value),))

    @property
    def is_constant(self) -> bool:
        return len(self.points) == 1

    def at(self, month: float) -> float | None:
        """The value in force at an absolute month number."""
        pts = self.points
        if len(pts) == 1 or month < pts[0].month:
            return pts[0].value
        i = len(pts) - 1
        while pts[i].month > month:
            i -= 1
        p = pts[i]
        if p.linear and i + 1 < len(pts):
            q = pts[i + 1]
            if p.value is not None and q.value is not None:
                frac = (month - p.month) / (q.month - p.month)
                return p.value + frac * (q.value - p.value)
        return p.value

    def values(self) -> list[float | None]:
        return [p.value for p in self.points]

    def first_change(self) -> float:
        """The month of the first dated change (``inf`` for a constant)."""
        return self.points[1].month if len(self.points) > 1 else float("inf")

    # -- parsing and dumping -------------------------------------------------------------

    @classmethod
    def parse(cls, raw: Any) -> "Dated":
        if isinstance(raw, Dated):
            return raw
        if isinstance(raw, dict):
            return cls._parse_table(raw)
        if isinstance(raw, list):
            return cls._parse_list(raw)
        return cls.constant(_scalar(raw))

    @classmethod
    def _parse_table(cls, raw: dict) -> "Dated":
        if set(raw) != {"linear"} or not isinstance(raw["linear"], list):
            raise ValueError("a dated table must be { linear = [[date, value], ...] }")
        items = raw["linear"]
        if len(items) < 2:
            raise ValueError("a linear ramp needs at least two [date, value] points")
        pts = cls._parse_list(items).points
        return cls(tuple(Point(p.month, p.value, i < len(pts) - 1) for i, p in enumerate(pts)))

    @classmethod
    def _parse_list(cls, items: list) -> "Dated":
        if not items:
            raise ValueError("an empty list of changes; give a value or [[date, value], ...]")
        pts: list[Point] = []
        for n, item in enumerate(items, start=1):
            if not isinstance(item, list) or len(item) not in (2, 3):
                raise ValueError(f"change {n}: expected [date, value] or [date, value, \"linear\"]")
            try:
                day = parse_date(item[0])
                value = _scalar(item[1])
            except ValueError as err:
                raise ValueError(f"change {n}: {err}") from None
            if len(item) == 3 and item[2] != "linear":
                raise ValueError(f"change {n}: the third element may only be \"linear\"")
            # EPOCH is how a dump writes "from the beginning of time": read it back as such.
            month = float("-inf") if day <= EPOCH else month_number(day)
            pts.append(Point(month, value, len(item) == 3))
        for a, b in zip(pts, pts[1:]):
            if b.month <= a.month:
                raise ValueError("the dates of the changes must increase")
        return cls(tuple(pts))

    def dump(self) -> Any:
        """The TOML form: a plain value, or the list of changes."""
        if self.is_constant:
            return OFF if self.points[0].value is None else self.points[0].value
        out = []
        for p in self.points:
            # A value that holds from the beginning of time is written as from 1900.
            day = date_of(p.month) if p.month != float("-inf") else EPOCH
            value = OFF if p.value is None else p.value
            item: list[Any] = [day, value]
            if p.linear:
                item.append("linear")
            out.append(item)
        return out

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda d: d.dump()),
        )


def _scalar(raw: Any) -> float | None:
    if raw == OFF:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ValueError(f"{raw!r} is not a number (or \"off\")")
    value = float(raw)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def layer(base: Dated, top: Dated) -> Dated:
    """``top``'s changes over ``base``: base holds until top's first date."""
    if top.points[0].month == float("-inf"):
        return top
    start = top.points[0].month
    kept = [p for p in base.points if p.month < start]
    if not kept and base.points[0].value != top.points[0].value:
        # Before its first point a lever holds its first value, so that is what the base
        # holds until top's first date even when all of the base's own changes come later.
        kept = [Point(float("-inf"), base.points[0].value)]
    if kept and kept[-1].linear:
        # The base was ramping when top takes over: keep the ramp up to the last whole month
        # before, so every whole month the model evaluates sees the base's own values.
        last = kept[-1]
        cut = math.ceil(start) - 1
        if cut > last.month:
            kept.append(Point(cut, base.at(cut)))
        else:
            kept[-1] = Point(last.month, last.value, False)
    return Dated(tuple(kept) + top.points)
