"""The PDF's text sections as HTML: Jinja2 templates from ``resources/export`` with autoescaping, so a rollout or
account name holding markup prints as the text it is."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

from launchdesk.export.plan import PlanExport
from launchdesk.planning.gates import format_duration
from launchdesk.planning.time_axis import SHORT_MONTHS, WEEKDAYS



def day_text(day: dt.date) -> str:
    """A date with its weekday and year, the same in every locale: "Tue 12 Jan 2027"."""
    return f"{WEEKDAYS[day.weekday()]} {day.day} {SHORT_MONTHS[day.month - 1]} {day.year}"


def when_text(moment: dt.datetime, zone: ZoneInfo) -> str:
    """A moment on the team's clock with the year, since a printed plan outlives the week: "Tue 12 Jan 2027 09:00"."""
    local = moment.astimezone(zone)
    return f"{day_text(local.date())} {local:%H:%M}"


def span_text(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> str:
    """Two days on the team's clock, the year said once when they share it: "Wed 14 Oct – Mon 19 Oct 2026"."""
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    head = day_text(first)
    return f"{head[:-5] if first.year == last.year else head} – {day_text(last)}"


def percent_text(value: float | None) -> str:
    return "—" if value is None else f"{value:g}%"


def render_section(section: str, plan: PlanExport) -> str:
    """One section's HTML body (not the timeline, which is drawn, not written)."""
    return _environment().get_template(f"{section}.html.j2").render(plan=plan)


def stylesheet() -> str:
    return (files("launchdesk.resources") / "export" / "plan.css").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    @jinja2.pass_context
    def when(context: Any, moment: dt.datetime) -> str:
        return when_text(moment, context["plan"].hours.zone)

    @jinja2.pass_context
    def span(context: Any, start: dt.datetime, end: dt.datetime) -> str:
        return span_text(start, end, context["plan"].hours.zone)

    def age(moment: dt.datetime, now: dt.datetime) -> str:
        return format_duration(max(0.0, (now - moment).total_seconds()))

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("launchdesk.resources", "export"),
        autoescape=True,  # every value is text; markup in a name must never become markup in the PDF
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update({"when": when, "span": span, "day": day_text, "pct": percent_text, "age": age,
                        "count": lambda n: f"{n:,}"})
    return env
