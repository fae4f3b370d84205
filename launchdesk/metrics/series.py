"""Time series as metric sources return them, and how one becomes a gate's measurement."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from launchdesk.flags.http import PlatformError

UTC = dt.timezone.utc


class QueryError(PlatformError):
    """The source answered but could not run the query (a syntax error, an unknown function, several series)."""


@dataclass(frozen=True)
class Point:
    at: dt.datetime
    value: float  # may be NaN or ±Inf, as the source said


@dataclass(frozen=True)
class Series:
    """One labelled series: Prometheus labels or Datadog tags, and its points, oldest first."""

    labels: Mapping[str, str] = field(default_factory=dict)
    points: Sequence[Point] = ()

    def usable(self) -> list[Point]:
        """The points a gate can judge: NaN (no data, 0/0) left out; ±Inf kept."""
        return [p for p in self.points if not math.isnan(p.value)]


def single_series(series: Sequence[Series], source: str, query: str) -> Series | None:
    """The one series a gate query must give; None for no data; QueryError for several."""
    if not series:
        return None
    if len(series) > 1:
        shown = ", ".join(_label_text(s.labels) for s in series[:3]) + (", ..." if len(series) > 3 else "")
        raise QueryError(
            f"The {source} query '{_short(query)}' gave {len(series)} series ({shown}); "
            "a gate needs one number: aggregate them (sum, max or avg)."
        )
    return series[0]


def from_epoch(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, UTC)


def _label_text(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"


def _short(query: str, limit: int = 80) -> str:
    query = " ".join(query.split())
    return query if len(query) <= limit else query[: limit - 1] + "…"
