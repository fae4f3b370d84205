"""What the message composer needs: the variables a template sees, a preview for one account, and the problems
the template would have across the cohort (listed before approval).

The variables, for each recipient::

    account   id, name, attributes (the imported attributes that have a value; a blank cell is missing)
    contact   first_name, last_name, name, email (the recipient; for Slack and webhooks the account's first contact)
    feature   name, description            rollout  name, owner
    phase     name, target_percentage, planned_start
    cohort    name, description            links    the workspace's links (Setting "comms.links", e.g. help)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from launchdesk.access.evaluate import iter_account_chunks
from launchdesk.comms.audience import ALL_CUSTOMERS, message_cohort
from launchdesk.comms.templating import CompiledMessage, Problem, TemplateRefused, formats_for
from launchdesk.models import Account, Contact, Message, Setting
from launchdesk.planning.cohort_rules import MATCH_ALL_ACCOUNTS, matches

LINKS_SETTING = "comms.links"
NO_CONTACT: dict[str, str] = {"first_name": "", "last_name": "", "name": "", "email": ""}


def message_variables(session: Session, message: Message) -> dict[str, Any]:
    """The variables every recipient of the message shares (everything but ``account`` and ``contact``)."""
    phase = message.phase
    rollout = phase.rollout
    cohort = message_cohort(message)
    links = session.get(Setting, LINKS_SETTING)
    return {
        "feature": {"name": rollout.feature_name, "description": rollout.description},
        "rollout": {"name": rollout.name, "owner": rollout.owner},
        "phase": {"name": phase.name, "target_percentage": phase.target_percentage,
                  "planned_start": phase.planned_start},
        "cohort": {"name": cohort.name, "description": cohort.description} if cohort else {"name": "", "description": ""},
        "links": dict(links.value) if links is not None and isinstance(links.value, dict) else {},
    }


def recipient_variables(shared: Mapping[str, Any], *, account_id: str, account_name: str,
                        attributes: Mapping[str, Any], contact: Mapping[str, str] | None) -> dict[str, Any]:
    """One recipient's variables: the shared ones plus ``account`` and ``contact``."""
    person = dict(contact) if contact else dict(NO_CONTACT)
    person["name"] = " ".join(p for p in (person.get("first_name", ""), person.get("last_name", "")) if p)
    return {
        **shared,
        "account": {"id": account_id, "name": account_name,
                    "attributes": {k: v for k, v in attributes.items() if v not in (None, "")}},
        "contact": person,
    }


def compile_message(message: Message, *, subject: str | None = None, body: str | None = None,
                    channel: str | None = None) -> CompiledMessage:
    """The message's template compiled (the editor's unsaved text when given); TemplateRefused if it cannot be."""
    return CompiledMessage(message.subject if subject is None else subject,
                           message.body if body is None else body,
                           formats_for(str(channel or message.channel)))


@dataclass
class Preview:
    """A message as one recipient will see it, or the problems that stop it from rendering.

    ``html`` and ``plain`` are filled for e-mail, ``slack`` for Slack and webhook messages; all are empty when
    ``problems`` is not.
    """

    account_id: str
    account_name: str
    recipient: str  # the contact e-mail it would go to, "" when the account has none
    subject: str = ""
    html: str = ""
    plain: str = ""
    slack: str = ""
    problems: list[Problem] = field(default_factory=list)


def preview_message(
    session: Session,
    message: Message,
    account_id: str,
    *,
    subject: str | None = None,
    body: str | None = None,
    channel: str | None = None,
    contact_email: str | None = None,
) -> Preview:
    """Render the message for one account ("preview as …"), with the editor's unsaved text when given.

    ``account_id`` is the customer's account id; ``contact_email`` picks one of its contacts (default the
    first). Template problems come back in ``problems`` with their lines; nothing raises for a bad template.
    """
    account = session.scalars(
        select(Account).where(Account.account_key == account_id).options(selectinload(Account.contacts))
    ).first()
    if account is None:
        return Preview(account_id, "", "", problems=[Problem("account", None, f"no account {account_id!r}")])
    contact = next((c for c in account.contacts if c.email == (contact_email or "").lower()), None)
    contact = contact or (account.contacts[0] if account.contacts else None)
    preview = Preview(account.account_key, account.name, contact.email if contact else "")
    try:
        compiled = compile_message(message, subject=subject, body=body, channel=channel)
        rendered = compiled.render(recipient_variables(
            message_variables(session, message), account_id=account.account_key, account_name=account.name,
            attributes=account.attributes or {}, contact=_contact_fields(contact),
        ))
    except TemplateRefused as refused:
        preview.problems = refused.problems
        return preview
    preview.subject, preview.html, preview.plain, preview.slack = (
        rendered.subject, rendered.html, rendered.plain, rendered.slack)
    return preview


def _contact_fields(contact: Contact | None) -> dict[str, str] | None:
    if contact is None:
        return None
    return {"first_name": contact.first_name, "last_name": contact.last_name, "email": contact.email}


@dataclass(frozen=True)
class CohortProblem:
    """A template problem and how many of the audience's accounts have it (with one of them as an example)."""

    problem: Problem
    accounts: int
    example_account: str

    def __str__(self) -> str:
        return f"{self.problem} ({self.accounts} accounts, e.g. {self.example_account})"


def cohort_problems(session: Session, message: Message, *, subject: str | None = None,
                    body: str | None = None, channel: str | None = None) -> list[CohortProblem]:
    """What would go wrong rendering the message for its cohort's accounts, before anyone approves it.

    Syntax errors and unknown variables come first. Then the template is rendered once per *shape* of
    account (which attributes it has a value for): a value missing for some
    accounts (``{{ account.attributes.csm }}`` where the cell is blank) is listed with how many accounts lack
    it. Rendering once per shape keeps this fast on a million accounts.
    """
    try:
        compiled = compile_message(message, subject=subject, body=body, channel=channel)
    except TemplateRefused as refused:
        return [CohortProblem(p, 0, "") for p in refused.problems]
    cohort = message_cohort(message)
    if message.audience == ALL_CUSTOMERS or cohort is None:
        rule: dict[str, Any] = MATCH_ALL_ACCOUNTS
    else:
        rule = cohort.rule or MATCH_ALL_ACCOUNTS
    shared = message_variables(session, message)
    shapes: dict[frozenset[str], Problem | None] = {}
    found: dict[Problem, list[Any]] = {}  # problem -> [count, example]
    sample_contact = {"first_name": "A", "last_name": "B", "email": "a@example.com"}
    for rows in iter_account_chunks(session):
        for row in rows:
            if not matches(rule, row.attributes):
                continue
            shape = frozenset(k for k, v in row.attributes.items() if v not in (None, ""))
            if shape not in shapes:
                try:
                    compiled.render(recipient_variables(shared, account_id=row.account_key, account_name="",
                                                        attributes=row.attributes, contact=sample_contact))
                    shapes[shape] = None
                except TemplateRefused as refused:
                    shapes[shape] = refused.problems[0]
            problem = shapes[shape]
            if problem is not None:
                found.setdefault(problem, [0, row.account_key])[0] += 1
    return [CohortProblem(p, count, example) for p, (count, example) in found.items()]
