"""Undoable plan edits beyond single fields: a cohort's rule, adding and deleting cohorts, the team settings,
and a new rollout from a template. Each is a ``WriteCommand``: one transaction, a journal line, a signal."""

from __future__ import annotations

import copy
import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

from PySide6.QtGui import QUndoCommand
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from launchdesk.models import (
    ChecklistItem,
    Cohort,
    Gate,
    Message,
    Phase,
    Role,
    Rollout,
    Setting,
    TeamMember,
)
from launchdesk.planning.business_hours import HOURS_SETTING, TIMEZONE_SETTING
from launchdesk.planning.checklists import ROLE_LABELS
from launchdesk.planning.cohort_rules import MATCH_ALL_ACCOUNTS
from launchdesk.planning.cohorts import describe_rule
from launchdesk.planning.template import create_rollout_from_template
from launchdesk.views.commands import MERGE_WINDOW_S, RowGone, WriteCommand
from launchdesk.views.document import WorkspaceDocument

# --- cohorts -------------------------------------------------------------------------------------------------


class EditCohortRule(WriteCommand):
    """Set a cohort's rule; edits of the same rule within a few seconds merge into one undo step."""

    kind = "cohort"
    clock = staticmethod(time.monotonic)

    def __init__(self, document: WorkspaceDocument, cohort_id: int, rule: Mapping[str, Any]) -> None:
        super().__init__(document, "")
        assert document.workspace is not None, "edits need an open workspace"
        with document.workspace.session() as session:
            cohort = session.get(Cohort, cohort_id)
            if cohort is None:
                raise RowGone("This cohort no longer exists.")
            self.old, self.name, self.rollout_id = copy.deepcopy(cohort.rule), cohort.name, cohort.rollout_id
        self.row_id = cohort_id
        self.new = copy.deepcopy(dict(rule))
        self.at = self.clock()
        self.setText(f"Edit the rule of cohort “{self.name}”")
        self._describe()

    def _describe(self) -> None:
        self.summary = f"Rule of cohort “{self.name}”: {describe_rule(self.old)} → {describe_rule(self.new)}"

    def apply(self, session: Session, forward: bool) -> None:
        cohort = session.get(Cohort, self.row_id)
        if cohort is None:
            raise RowGone(f"The cohort “{self.name}” no longer exists.")
        cohort.rule = copy.deepcopy(self.new if forward else self.old)

    def details(self) -> dict[str, Any]:
        return {**super().details(), "field": "rule", "from": self.old, "to": self.new}

    def id(self) -> int:
        return 201

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, EditCohortRule) and other.row_id == self.row_id
                and other.at - self.at <= MERGE_WINDOW_S):
            return False
        self.new, self.at = other.new, other.at
        self._describe()
        self.setObsolete(self.new == self.old)
        return True


class AddCohort(WriteCommand):
    """A new cohort at the end of the rollout's list, matching every account until its rule is written."""

    kind = "cohort"

    def __init__(self, document: WorkspaceDocument, rollout_id: int, name: str) -> None:
        super().__init__(document, f"Add cohort “{name}”")
        assert document.workspace is not None, "edits need an open workspace"
        with document.workspace.session() as session:
            last = session.scalar(select(func.max(Cohort.position)).where(Cohort.rollout_id == rollout_id))
        self.rollout_id = rollout_id
        self.values = {"rollout_id": rollout_id, "name": name, "position": (last or 0) + 1,
                       "rule": copy.deepcopy(MATCH_ALL_ACCOUNTS)}
        self.summary = f"Added the cohort “{name}”"

    def apply(self, session: Session, forward: bool) -> None:
        if forward:
            self.add_row(session, Cohort, self.values)
        else:
            cohort = session.get(Cohort, self.row_id)
            if cohort is None:
                raise RowGone("This cohort no longer exists.")
            session.delete(cohort)


class DeleteCohort(WriteCommand):
    """Delete a cohort; its phases and messages lose it, and undo gives it back to them."""

    kind = "cohort"

    def __init__(self, document: WorkspaceDocument, cohort_id: int) -> None:
        super().__init__(document, "")
        table = Cohort.__table__
        assert document.workspace is not None, "edits need an open workspace"
        with document.workspace.engine.connect() as conn:
            self.row = self.stored_row(conn, table, cohort_id, "This cohort no longer exists.")
            self.phase_ids = list(conn.scalars(select(Phase.id).where(Phase.cohort_id == cohort_id)))
            self.message_ids = list(conn.scalars(select(Message.id).where(Message.cohort_id == cohort_id)))
            phases = list(conn.scalars(select(Phase.name).where(Phase.cohort_id == cohort_id).order_by(Phase.position)))
        self.row_id, self.rollout_id = cohort_id, self.row["rollout_id"]
        self.setText(f"Delete cohort “{self.row['name']}”")
        used = f"; {', '.join(phases)} no longer {'have' if len(phases) > 1 else 'has'} a cohort" if phases else ""
        self.summary = f"Deleted the cohort “{self.row['name']}”{used}"

    def apply(self, session: Session, forward: bool) -> None:
        table = Cohort.__table__
        if forward:
            if session.get(Cohort, self.row_id) is None:
                raise RowGone(f"The cohort “{self.row['name']}” no longer exists.")
            # Said here, not left to ON DELETE SET NULL, so it holds on any database the workspace is on.
            session.execute(update(Phase.__table__).where(Phase.cohort_id == self.row_id).values(cohort_id=None))
            session.execute(update(Message.__table__).where(Message.cohort_id == self.row_id).values(cohort_id=None))
            session.execute(delete(table).where(table.c.id == self.row_id))
        else:
            session.execute(insert(table).values(**self.row))
            if self.phase_ids:
                session.execute(update(Phase.__table__).where(Phase.id.in_(self.phase_ids))
                                .values(cohort_id=self.row_id))
            if self.message_ids:
                session.execute(update(Message.__table__).where(Message.id.in_(self.message_ids))
                                .values(cohort_id=self.row_id))


# --- team settings -------------------------------------------------------------------------------------------


def read_team(session: Session) -> tuple[Any, Any, list[dict[str, Any]]]:
    """The time zone and business hours settings (None when unset) and the people, as the dialog edits them."""
    zone = session.get(Setting, TIMEZONE_SETTING)
    hours = session.get(Setting, HOURS_SETTING)
    people = [{"id": m.id, "name": m.name, "email": m.email, "role": m.role}
              for m in session.scalars(select(TeamMember).order_by(TeamMember.name))]
    return (zone.value if zone else None), (copy.deepcopy(hours.value) if hours else None), people


class EditTeamSettings(WriteCommand):
    """The team's time zone, business hours and people, written together as one undo step."""

    kind = "setting"

    def __init__(self, document: WorkspaceDocument, timezone: str, hours: dict[str, Any],
                 people: list[dict[str, Any]]) -> None:
        super().__init__(document, "Edit the team settings")
        assert document.workspace is not None, "edits need an open workspace"
        with document.workspace.session() as session:
            self.old = read_team(session)
        self.new = (timezone, copy.deepcopy(hours), [dict(p) for p in people])
        self.summary = "Team settings: " + _team_changes(self.old, self.new)

    def apply(self, session: Session, forward: bool) -> None:
        timezone, hours, people = self.new if forward else self.old
        for key, value in ((TIMEZONE_SETTING, timezone), (HOURS_SETTING, hours)):
            setting = session.get(Setting, key)
            if value is None:
                if setting is not None:
                    session.delete(setting)
            elif setting is None:
                session.add(Setting(key=key, value=value))
            else:
                setting.value = value
        keep = {p["id"] for p in people if p.get("id")}
        session.execute(delete(TeamMember.__table__).where(TeamMember.id.not_in(keep)))
        session.flush()
        for person in people:
            member = session.get(TeamMember, person["id"]) if person.get("id") else None
            if member is None:
                member = TeamMember(id=person.get("id"))
                session.add(member)
            member.name, member.email, member.role = person["name"], person["email"], Role(person["role"])
            session.flush()
            person["id"] = member.id  # a redo gives a new person the same row again

    def details(self) -> dict[str, Any]:
        timezone, hours, people = self.new
        return {"table": "setting", "timezone": timezone, "business_hours": hours,
                "people": [{"name": p["name"], "role": Role(p["role"]).value} for p in people]}


def _team_changes(old: tuple[Any, Any, list[dict[str, Any]]], new: tuple[Any, Any, list[dict[str, Any]]]) -> str:
    changes = []
    if old[0] != new[0]:
        changes.append(f"time zone {old[0] or 'UTC'} → {new[0]}")
    if old[1] != new[1]:
        changes.append("business hours changed")
    before = {p["name"]: Role(p["role"]) for p in old[2]}
    after = {p["name"]: Role(p["role"]) for p in new[2]}
    changes += [f"added {n} ({ROLE_LABELS[r]})" for n, r in after.items() if n not in before]
    changes += [f"removed {n}" for n in before if n not in after]
    changes += [f"{n} is now {ROLE_LABELS[r]}" for n, r in after.items() if n in before and before[n] != r]
    return "; ".join(changes) or "no change"


# --- a rollout from a template -------------------------------------------------------------------------------

# The tables a new rollout fills, parents first, and how their rows are found.
_PLAN_TABLES = (Rollout, Cohort, Phase, Gate, Message, ChecklistItem)


class CreateRolloutFromTemplate(WriteCommand):
    """Plan a new rollout from a template. Undo deletes it; redo puts back the very same rows (same ids), so
    later edits on the undo stack still find them."""

    kind = "rollout"

    def __init__(self, document: WorkspaceDocument, template: Mapping[str, Any], *, name: str, feature_name: str,
                 launch_start: dt.datetime, owner: str) -> None:
        super().__init__(document, f"New rollout “{name}” from a template")
        self.template = template
        self.arguments = {"name": name, "feature_name": feature_name, "launch_start": launch_start, "owner": owner}
        self.rows: dict[str, list[dict[str, Any]]] | None = None  # the rows written by the first redo
        self._journaled = False
        self.name = name
        self.summary = f"Created the rollout “{name}” from the template “{template.get('name', '?')}” again"

    def apply(self, session: Session, forward: bool) -> None:
        if not forward:
            if session.get(Rollout, self.row_id) is None:
                raise RowGone(f"The rollout “{self.name}” no longer exists.")
            session.execute(delete(Rollout.__table__).where(Rollout.id == self.row_id))
            self.rollout_id = None  # its journal goes with it; the undo line is the workspace's
            self.summary = f"Removed the rollout “{self.name}” created from a template"
            return
        if self.rows is None:
            rollout = create_rollout_from_template(session, self.template, **self.arguments)
            self.row_id = rollout.id
            self.rows = _plan_rows(session, rollout.id)
            self._journaled = True
        else:
            for entity in _PLAN_TABLES:
                rows = self.rows[entity.__tablename__]
                if rows:
                    session.execute(insert(entity.__table__), rows)
        self.rollout_id = self.row_id
        self.summary = f"Created the rollout “{self.name}” from the template “{self.template.get('name', '?')}”"

    def journal(self, session: Session, forward: bool) -> None:
        if self._journaled:  # the first creation was journaled by create_rollout_from_template itself
            self._journaled = False
            return
        super().journal(session, forward)


def _plan_rows(session: Session, rollout_id: int) -> dict[str, list[dict[str, Any]]]:
    phase_ids = select(Phase.id).where(Phase.rollout_id == rollout_id).scalar_subquery()
    where = {
        Rollout: Rollout.id == rollout_id,
        Cohort: Cohort.rollout_id == rollout_id,
        Phase: Phase.rollout_id == rollout_id,
        Gate: Gate.rollout_id == rollout_id,
        Message: Message.phase_id.in_(phase_ids),
        ChecklistItem: ChecklistItem.phase_id.in_(phase_ids),
    }
    session.flush()
    return {entity.__tablename__: [dict(r._mapping) for r in session.execute(select(entity.__table__)
                                                                               .where(where[entity]))]
            for entity in _PLAN_TABLES}
