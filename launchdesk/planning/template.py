"""Rollout templates: load and check a template (JSON data), build a rollout from it, save a rollout as one.

A template is a JSON object (``resources/templates/default.json`` is the built-in one)::

    launchdesk_template  1 (the format version)
    name, description    what the template is called and is for
    cohorts    [{name, description, rule, target_percentage, comms_style}]   rule: see cohort_rules
    phases     in plan order, each either
               {kind: "preparation", name, start_offset_days, duration_days, notes, checklist}
                   placed relative to the launch (the start of the first rollout phase), e.g. -28 for week -4
               {kind: "rollout", name, cohort, target_percentage, duration_days, gap_after_days, notes,
                checklist, messages}
                   placed back to back from the launch, each ``gap_after_days`` after the end of the one before
    gates      [{name, metric, query, comparison (<, <=, >, >=), threshold, unit, baseline_kind
                 (none | fixed | window), baseline_value, baseline_offset_hours, window_hours, min_samples,
                 failure_limit}]
    checklist  [{role, offset_hours, title, notes}]: every rollout phase's checklist unless the phase has its own;
               offset_hours is from the phase start (-48, -24, 0, 24 for 48 h before ... 24 h after)

A message is ``{name, channel, audience, subject, body, send_offset_hours, cohort}``; ``cohort`` defaults to
its phase's cohort and the body is Markdown with Jinja2 variables ({{ account.name }}, {{ contact.first_name }},
{{ feature.name }}, {{ phase.name }}, {{ cohort.name }}). Times are kept to the minute.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from launchdesk import journal
from launchdesk.models import (
    Channel,
    ChecklistItem,
    Cohort,
    Gate,
    Message,
    Phase,
    PhaseKind,
    Role,
    Rollout,
)
from launchdesk.planning.cohort_rules import MATCH_ALL_ACCOUNTS, CohortRuleError, validate_rule

FORMAT_VERSION = 1
DEFAULT_TEMPLATE = "default"
COMPARISONS = ("<", "<=", ">", ">=")
BASELINE_KINDS = ("none", "fixed", "window")
AUDIENCES = ("cohort", "all_customers")
_MINUTES_PER_DAY = 24 * 60


class TemplateError(ValueError):
    """A template that cannot be read or used; the message says which file and which part."""


class RolloutNameError(ValueError):
    """A rollout name that is empty or already taken in the workspace."""


# --- reading and checking ---------------------------------------------------------------------------------------


def builtin_templates() -> list[str]:
    """Names of the templates shipped with LaunchDesk (``default`` first)."""
    folder = _builtin_folder()
    names = sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))
    return sorted(names, key=lambda n: n != DEFAULT_TEMPLATE)


def load_template(name_or_path: str | Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """Read a built-in template by name, or a template file by path, and check its structure."""
    text_source = str(name_or_path)
    is_name = not isinstance(name_or_path, Path) and "/" not in text_source and "\\" not in text_source \
        and not text_source.endswith(".json")
    if is_name:
        resource = _builtin_folder() / f"{text_source}.json"
        if not resource.is_file():
            raise TemplateError(
                f"There is no built-in template named '{text_source}' "
                f"(built-in: {', '.join(builtin_templates())}); give a path to a .json file instead."
            )
        text, source = resource.read_text(encoding="utf-8"), f"template '{text_source}'"
    else:
        path = Path(name_or_path).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TemplateError(f"There is no template file at {path}.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"Cannot read the template {path}: {exc}.") from None
        source = str(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from None
    validate_template(data, source=source)
    return data


def validate_template(data: Any, *, source: str = "template") -> None:
    """Raise TemplateError naming the first problem, so a hand-edited template is easy to fix."""

    def fail(where: str, problem: str) -> None:
        raise TemplateError(f"{source}: {where}: {problem}." if where else f"{source}: {problem}.")

    if not isinstance(data, Mapping):
        fail("", "a template must be a JSON object")
    if data.get("launchdesk_template") != FORMAT_VERSION:
        fail("", f"not a LaunchDesk template of format {FORMAT_VERSION} "
                 f"('launchdesk_template' is {data.get('launchdesk_template')!r})")
    _require_text(data, "name", "", fail)

    cohort_names: set[str] = set()
    for i, cohort in enumerate(_require_list(data, "cohorts", "", fail)):
        where = f"cohorts[{i}]"
        if not isinstance(cohort, Mapping):
            fail(where, "must be an object")
        name = _require_text(cohort, "name", where, fail)
        if name in cohort_names:
            fail(where, f"the cohort name '{name}' is used twice")
        cohort_names.add(name)
        try:
            validate_rule(cohort.get("rule", MATCH_ALL_ACCOUNTS))
        except CohortRuleError as exc:
            fail(f"{where} ({name}) rule", str(exc))
        _require_percentage(cohort, where, fail)

    phases = _require_list(data, "phases", "", fail)
    if not any(isinstance(p, Mapping) and p.get("kind") == PhaseKind.ROLLOUT.value for p in phases):
        fail("phases", "a template needs at least one phase of kind 'rollout'")
    for i, phase in enumerate(phases):
        where = f"phases[{i}]"
        if not isinstance(phase, Mapping):
            fail(where, "must be an object")
        name = _require_text(phase, "name", where, fail)
        where = f"{where} ({name})"
        kind = phase.get("kind")
        if kind == PhaseKind.PREPARATION.value:
            _require_number(phase, "start_offset_days", where, fail)
        elif kind == PhaseKind.ROLLOUT.value:
            _require_percentage(phase, where, fail)
            _optional_number(phase, "gap_after_days", where, fail)
            if phase.get("cohort") is not None and phase["cohort"] not in cohort_names:
                fail(where, f"the cohort '{phase['cohort']}' is not among the template's cohorts")
            for j, message in enumerate(_optional_list(phase, "messages", where, fail)):
                _check_message(message, f"{where} messages[{j}]", cohort_names, fail)
        else:
            fail(where, f"'kind' must be 'preparation' or 'rollout', not {kind!r}")
        if _require_number(phase, "duration_days", where, fail) <= 0:
            fail(where, "'duration_days' must be more than 0")
        if "checklist" in phase:
            _check_checklist(phase["checklist"], f"{where} checklist", fail)

    for i, gate in enumerate(_require_list(data, "gates", "", fail)):
        where = f"gates[{i}]"
        if not isinstance(gate, Mapping):
            fail(where, "must be an object")
        where = f"{where} ({_require_text(gate, 'name', where, fail)})"
        if gate.get("comparison") not in COMPARISONS:
            fail(where, f"'comparison' must be one of {' '.join(COMPARISONS)}")
        _require_number(gate, "threshold", where, fail)
        baseline_kind = gate.get("baseline_kind", "none")
        if baseline_kind not in BASELINE_KINDS:
            fail(where, f"'baseline_kind' must be one of {', '.join(BASELINE_KINDS)}")
        if baseline_kind == "fixed":
            _require_number(gate, "baseline_value", where, fail)
        if baseline_kind == "window":
            _require_number(gate, "baseline_offset_hours", where, fail)
        if _optional_number(gate, "window_hours", where, fail) is not None and gate["window_hours"] <= 0:
            fail(where, "'window_hours' must be more than 0")
        for key in ("min_samples", "failure_limit"):
            if key in gate and (not isinstance(gate[key], int) or isinstance(gate[key], bool) or gate[key] < 1):
                fail(where, f"'{key}' must be a whole number of at least 1")

    _check_checklist(data.get("checklist", []), "checklist", fail)


def _check_checklist(items: Any, where: str, fail: Any) -> None:
    if not isinstance(items, list):
        fail(where, "must be a list")
    roles = [r.value for r in Role]
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            fail(at, "must be an object")
        if item.get("role") not in roles:
            fail(at, f"'role' must be one of {', '.join(roles)}, not {item.get('role')!r}")
        _require_number(item, "offset_hours", at, fail)
        _require_text(item, "title", at, fail)


def _check_message(message: Any, where: str, cohort_names: set[str], fail: Any) -> None:
    if not isinstance(message, Mapping):
        fail(where, "must be an object")
    _require_text(message, "name", where, fail)
    channels = [c.value for c in Channel]
    if message.get("channel", Channel.EMAIL.value) not in channels:
        fail(where, f"'channel' must be one of {', '.join(channels)}")
    if message.get("audience", "cohort") not in AUDIENCES:
        fail(where, f"'audience' must be one of {', '.join(AUDIENCES)}")
    for key in ("subject", "body"):
        if not isinstance(message.get(key, ""), str):
            fail(where, f"'{key}' must be text")
    _optional_number(message, "send_offset_hours", where, fail)
    cohort = message.get("cohort")
    if cohort is not None and cohort not in cohort_names:
        fail(where, f"the cohort '{cohort}' is not among the template's cohorts")


def _require_text(obj: Mapping[str, Any], key: str, where: str, fail: Any) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        fail(where, f"'{key}' is missing or empty")
    return value  # type: ignore[return-value]


def _require_list(obj: Mapping[str, Any], key: str, where: str, fail: Any) -> list[Any]:
    value = obj.get(key)
    if not isinstance(value, list):
        fail(where, f"'{key}' must be a list")
    return value  # type: ignore[return-value]


def _optional_list(obj: Mapping[str, Any], key: str, where: str, fail: Any) -> list[Any]:
    return _require_list(obj, key, where, fail) if key in obj else []


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _require_number(obj: Mapping[str, Any], key: str, where: str, fail: Any) -> float:
    value = obj.get(key)
    if not _is_number(value):
        fail(where, f"'{key}' must be a number")
    return value  # type: ignore[return-value]


def _optional_number(obj: Mapping[str, Any], key: str, where: str, fail: Any) -> float | None:
    return _require_number(obj, key, where, fail) if obj.get(key) is not None else None


def _require_percentage(obj: Mapping[str, Any], where: str, fail: Any) -> None:
    value = _require_number(obj, "target_percentage", where, fail)
    if not 0 <= value <= 100:
        fail(where, "'target_percentage' must be between 0 and 100")


def _builtin_folder() -> Any:
    from importlib.resources import files

    return files("launchdesk.resources") / "templates"


# --- template -> rollout ----------------------------------------------------------------------------------------


def create_rollout_from_template(
    session: Session,
    template: Mapping[str, Any],
    *,
    name: str,
    feature_name: str,
    launch_start: dt.datetime,
    owner: str = "",
) -> Rollout:
    """Add a new rollout planned from ``template``, with phase 1 starting at ``launch_start``, and journal it."""
    validate_template(template, source=f"template '{template.get('name', '?')}'")
    if launch_start.tzinfo is None:
        raise ValueError("launch_start must be timezone-aware")
    name, feature_name = name.strip(), feature_name.strip()
    if not name:
        raise RolloutNameError("A rollout needs a name.")
    if session.scalar(select(Rollout.id).where(Rollout.name == name)) is not None:
        raise RolloutNameError(f"A rollout named '{name}' already exists in this workspace.")

    rollout = Rollout(
        name=name,
        feature_name=feature_name or name,
        description=template.get("description", ""),
        owner=owner,
        template_name=template["name"],
    )
    cohorts: dict[str, Cohort] = {}
    for position, spec in enumerate(template["cohorts"]):
        cohorts[spec["name"]] = Cohort(
            position=position,
            name=spec["name"],
            description=spec.get("description", ""),
            rule=copy.deepcopy(spec.get("rule", MATCH_ALL_ACCOUNTS)),  # the template's own dict stays untouched
            target_percentage=float(spec["target_percentage"]),
            comms_style=spec.get("comms_style", ""),
        )
    rollout.cohorts = list(cohorts.values())

    default_checklist = template.get("checklist", [])
    next_rollout_start = launch_start
    for position, spec in enumerate(template["phases"]):
        duration = _days(spec["duration_days"])
        if spec["kind"] == PhaseKind.PREPARATION.value:
            start = launch_start + _days(spec["start_offset_days"])
            phase = Phase(kind=PhaseKind.PREPARATION, target_percentage=None)
            checklist = spec.get("checklist", [])
        else:
            start = next_rollout_start
            next_rollout_start = start + duration + _days(spec.get("gap_after_days", 0))
            cohort = cohorts.get(spec.get("cohort"))  # type: ignore[arg-type]
            phase = Phase(kind=PhaseKind.ROLLOUT, cohort=cohort, target_percentage=float(spec["target_percentage"]))
            checklist = spec.get("checklist", default_checklist)
            for message in spec.get("messages", []):
                message_cohort = cohorts.get(message["cohort"]) if "cohort" in message else cohort
                phase.messages.append(Message(
                    name=message["name"],
                    cohort=message_cohort,
                    channel=Channel(message.get("channel", Channel.EMAIL.value)),
                    audience=message.get("audience", "cohort"),
                    subject=message.get("subject", ""),
                    body=message.get("body", ""),
                    send_offset_minutes=_minutes(message.get("send_offset_hours", 0) * 60),
                ))
        phase.position = position
        phase.name = spec["name"]
        phase.notes = spec.get("notes", "")
        phase.planned_start = start
        phase.planned_end = start + duration
        phase.checklist = [
            ChecklistItem(
                role=Role(item["role"]),
                offset_minutes=_minutes(item["offset_hours"] * 60),
                position=i,
                title=item["title"],
                notes=item.get("notes", ""),
            )
            for i, item in enumerate(checklist)
        ]
        rollout.phases.append(phase)

    for position, spec in enumerate(template["gates"]):
        rollout.gates.append(Gate(
            position=position,
            name=spec["name"],
            metric=spec.get("metric", "custom"),
            query=spec.get("query", ""),
            comparison=spec["comparison"],
            threshold=float(spec["threshold"]),
            unit=spec.get("unit", ""),
            baseline_kind=spec.get("baseline_kind", "none"),
            baseline_value=spec.get("baseline_value"),
            baseline_offset_s=_seconds(spec.get("baseline_offset_hours")),
            window_s=_seconds(spec.get("window_hours")) or 3600,
            min_samples=spec.get("min_samples", 1),
            failure_limit=spec.get("failure_limit", 1),
        ))

    session.add(rollout)
    session.flush()
    journal.record(
        session,
        "rollout.created",
        f"Created the rollout '{rollout.name}' from the template '{template['name']}'; "
        f"launch {launch_start.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        rollout=rollout,
        details={"template": template["name"], "launch_start": launch_start.isoformat(),
                 "phases": len(rollout.phases), "owner": owner},
    )
    return rollout


def _days(days: float) -> dt.timedelta:
    return dt.timedelta(minutes=_minutes(days * _MINUTES_PER_DAY))


def _minutes(minutes: float) -> int:
    return int(round(minutes))


def _seconds(hours: float | None) -> int | None:
    return None if hours is None else _minutes(hours * 60) * 60


# --- rollout -> template ----------------------------------------------------------------------------------------


def save_rollout_as_template(
    rollout: Rollout, *, name: str | None = None, description: str | None = None
) -> dict[str, Any]:
    """The template that would plan ``rollout`` again: its cohorts, phase timing, gates, checklists and messages.

    Offsets are taken from the planned dates relative to the first rollout phase; connections, flag links,
    statuses and anything done are left out.
    """
    phases = sorted(rollout.phases, key=lambda p: p.position)
    rollout_phases = [p for p in phases if p.kind == PhaseKind.ROLLOUT]
    if not rollout_phases:
        raise TemplateError(f"The rollout '{rollout.name}' has no rollout phase to make a template from.")
    launch = rollout_phases[0].planned_start

    checklists = {_key(p): _checklist_data(p) for p in phases}
    rollout_checklists = [checklists[_key(p)] for p in rollout_phases]
    shared = rollout_checklists[0] if all(c == rollout_checklists[0] for c in rollout_checklists) else None

    phase_data: list[dict[str, Any]] = []
    for phase in phases:
        entry: dict[str, Any] = {"kind": phase.kind.value, "name": phase.name}
        if phase.kind == PhaseKind.PREPARATION:
            entry["start_offset_days"] = _number(_in_days(phase.planned_start - launch))
        else:
            cohort_name = phase.cohort.name if phase.cohort else None
            entry["cohort"] = cohort_name
            entry["target_percentage"] = _number(phase.target_percentage or 0.0)
        entry["duration_days"] = _number(_in_days(phase.planned_end - phase.planned_start))
        if phase.kind == PhaseKind.ROLLOUT:
            later = rollout_phases[rollout_phases.index(phase) + 1:]
            gap = later[0].planned_start - phase.planned_end if later else dt.timedelta(0)
            entry["gap_after_days"] = _number(_in_days(gap))
            entry["messages"] = [_message_data(m, cohort_name) for m in sorted(phase.messages, key=_message_order)]
        if phase.notes:
            entry["notes"] = phase.notes
        if phase.kind == PhaseKind.PREPARATION or shared is None:
            entry["checklist"] = checklists[_key(phase)]
        phase_data.append(entry)

    return {
        "launchdesk_template": FORMAT_VERSION,
        "name": name or rollout.template_name or rollout.name,
        "description": rollout.description if description is None else description,
        "cohorts": [
            {
                "name": c.name,
                "description": c.description,
                "rule": c.rule,
                "target_percentage": _number(c.target_percentage),
                "comms_style": c.comms_style,
            }
            for c in sorted(rollout.cohorts, key=lambda c: c.position)
        ],
        "phases": phase_data,
        "gates": [_gate_data(g) for g in sorted(rollout.gates, key=lambda g: g.position)],
        "checklist": shared or [],
    }


def write_template(template: Mapping[str, Any], path: str | Path) -> Path:
    """Check a template and write it as readable JSON (UTF-8, indented), e.g. after save_rollout_as_template."""
    path = Path(path)
    validate_template(template, source=str(path))
    path.write_text(json.dumps(template, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _key(phase: Phase) -> int:
    """A phase's identity, also before it was flushed."""
    return phase.id if phase.id is not None else id(phase)


def _checklist_data(phase: Phase) -> list[dict[str, Any]]:
    items = sorted(phase.checklist, key=lambda i: (i.position, i.offset_minutes))
    data = []
    for item in items:
        entry: dict[str, Any] = {"role": item.role.value, "offset_hours": _number(item.offset_minutes / 60),
                                 "title": item.title}
        if item.notes:
            entry["notes"] = item.notes
        data.append(entry)
    return data


def _message_order(message: Message) -> tuple[int, int]:
    return (message.send_offset_minutes, message.id or 0)


def _message_data(message: Message, phase_cohort: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": message.name,
        "channel": message.channel.value,
        "audience": message.audience,
        "send_offset_hours": _number(message.send_offset_minutes / 60),
        "subject": message.subject,
        "body": message.body,
    }
    cohort_name = message.cohort.name if message.cohort else None
    if cohort_name != phase_cohort:
        entry["cohort"] = cohort_name
    return entry


def _gate_data(gate: Gate) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": gate.name,
        "metric": gate.metric,
        "query": gate.query,
        "comparison": gate.comparison,
        "threshold": _number(gate.threshold),
        "unit": gate.unit,
        "baseline_kind": gate.baseline_kind,
        "window_hours": _number(gate.window_s / 3600),
        "min_samples": gate.min_samples,
        "failure_limit": gate.failure_limit,
    }
    if gate.baseline_value is not None:
        entry["baseline_value"] = _number(gate.baseline_value)
    if gate.baseline_offset_s is not None:
        entry["baseline_offset_hours"] = _number(gate.baseline_offset_s / 3600)
    return entry


def _in_days(delta: dt.timedelta) -> float:
    return delta.total_seconds() / 86400


def _number(value: float) -> int | float:
    """Whole numbers as ints, so a saved template reads like a hand-written one."""
    rounded = round(value, 6)
    return int(rounded) if rounded == int(rounded) else rounded
