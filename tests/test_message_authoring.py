"""Writing messages on the Messages tab: a new message (or a copy) for a chosen phase, whom it goes to, and
deleting a draft, each an undo step with a journal line; the audience panel follows, an approval does not survive
a new audience, and a message being sent keeps its own. On the demo's "Workflow Automations", real SQLite, a real
SMTP server on loopback."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import func, select, text, update

from launchdesk.access.evaluate import account_context
from launchdesk.access.lookup import evaluator_for
from launchdesk.access.sync import rollout_snapshot
from launchdesk.comms import approval, guards
from launchdesk.comms.audience import ALL_CUSTOMERS, compute_audience
from launchdesk.connections import add_connection
from launchdesk.models import (
    Account,
    Channel,
    Cohort,
    Contact,
    FlagSnapshot,
    JournalEntry,
    Message,
    MessageState,
    Phase,
    Rollout,
    utcnow,
)
from launchdesk.planning.cohort_rules import matches
from launchdesk.views import messages_page
from launchdesk.views.message_commands import MessageAudience
from launchdesk.views.messages_page import MessageDialog
from smtp_sink import SmtpSink
from test_messages_page import LEFT, ROLLOUT, confirm, document, page, settle, stored  # noqa: F401 (fixtures)

pytestmark = pytest.mark.gui

LIVE_PHASE = "Phase 3: Engaged mid-market customers"  # live in the demo
LATER_PHASE = "Phase 5: Everyone"
SMALLER_PHASE = "Phase 2: Power users"


def phase_of(document, name: str) -> tuple[int, int]:
    with document.workspace.session() as s:
        phase = s.scalars(select(Phase).join(Phase.rollout).where(Rollout.name == ROLLOUT, Phase.name == name)).one()
        return phase.id, phase.cohort_id


def journal_lines(document, kind: str) -> list[str]:
    with document.workspace.session() as s:
        return list(s.scalars(select(JournalEntry.summary).where(JournalEntry.kind == kind).order_by(JournalEntry.id)))


def new_message_by_keyboard(qtbot, page, phase_name: str, name: str) -> MessageDialog:
    page.list.setFocus()
    qtbot.keyClick(page.list, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    dialog = page.dialog
    assert isinstance(dialog, MessageDialog) and dialog.windowTitle() == "New message"
    dialog.phase.setCurrentIndex(dialog.phase.findText(phase_name))
    dialog.name.setText(name)
    return dialog


def with_access_in_cohort(document, phase_name: str) -> set[str]:
    """Every contact e-mail of the accounts of the phase's cohort that the flag enables, account by account."""
    with document.workspace.session() as s:
        phase = s.scalars(select(Phase).join(Phase.rollout)
                          .where(Rollout.name == ROLLOUT, Phase.name == phase_name)).one()
        evaluator = evaluator_for(s, rollout_snapshot(s, phase.rollout))
        ids = [a.id for a in s.scalars(select(Account)) if matches(phase.cohort.rule, a.attributes)
               and evaluator.explain(account_context(a)).enabled is True]
        return set(s.scalars(select(Contact.email).where(Contact.account_id.in_(ids))))


def test_a_new_message_for_a_chosen_phase_previews_is_approved_and_reaches_that_cohorts_accounts_with_access(
        qtbot, page, document):
    assert page.current_row().phase == "Phase 4: Half of all accounts"  # another phase is selected
    with SmtpSink() as sink:
        with document.workspace.transaction() as s:
            s.execute(update(FlagSnapshot).values(fetched_at=utcnow()))
            add_connection(s, "mail", "smtp", url=sink.url, options={"from": "Launch Team <launch@ourco.example>"})
        document.changed.emit("flag_snapshot", 0)
        settle(qtbot, page)

        dialog = new_message_by_keyboard(qtbot, page, LIVE_PHASE, "Follow-up for mid-market")
        assert dialog.who.currentText() == "Cohort of the phase: Engaged mid-market customers"
        assert dialog.values()["channel"] is Channel.EMAIL
        dialog.offset.setValue(26)
        assert "Engaged mid-market customers" in dialog.summary.text()
        qtbot.mouseClick(dialog.ok_button, LEFT)

        mid = page.message_id
        message = stored(document, mid)
        assert message.name == "Follow-up for mid-market" and message.state is MessageState.DRAFT
        assert message.send_offset_minutes == 26 * 60 and "{{ feature.name }}" in message.body
        assert page.current_row().audience == "Engaged mid-market customers"
        assert any("New email message “Follow-up for mid-market” for Phase 3" in line
                   for line in journal_lines(document, "edit"))
        settle(qtbot, page)
        account = page.preview.preview_as.currentText().split(" (")[0]
        assert f"is now available for {account}" in page.preview.html.toPlainText()
        expected = with_access_in_cohort(document, LIVE_PHASE)
        assert 0 < len(expected) < 300
        assert page.audience.counts["reachable"] <= len(expected)

        for button in (page.review_button, page.approve_button):
            qtbot.waitUntil(button.isEnabled)
            qtbot.mouseClick(button, LEFT)
            qtbot.waitUntil(lambda: not page.approving)
        assert stored(document, mid).state is MessageState.APPROVED
        settle(qtbot, page)
        assert page.audience.blockers == [] and page.send_button.isEnabled(), page.blockers.text()
        confirm(qtbot, page)
        qtbot.waitUntil(lambda: not page.sending, timeout=30_000)
        assert set(sink.per_recipient) == expected and set(sink.per_recipient.values()) == {1}
    assert stored(document, mid).state is MessageState.SENT
    settle(qtbot, page)


def test_new_and_delete_are_undo_steps_with_journal_lines(qtbot, page, document):
    before = len(page.messages.rows)
    dialog = new_message_by_keyboard(qtbot, page, LATER_PHASE, "Slack heads-up")
    dialog.channel.setCurrentIndex(dialog.channel.findData(Channel.SLACK))
    qtbot.mouseClick(dialog.ok_button, LEFT)
    mid = page.message_id
    assert len(page.messages.rows) == before + 1 and page.current_row().text.channel is Channel.SLACK
    assert "{{ feature.name }}" in stored(document, mid).body
    assert document.undo_stack.undoText() == "New message “Slack heads-up”"

    document.undo_stack.undo()
    assert len(page.messages.rows) == before and page.messages.row_of(mid) < 0
    with document.workspace.session() as s:
        assert s.get(Message, mid) is None
    document.undo_stack.redo()
    assert page.messages.row_of(mid) >= 0 and stored(document, mid).name == "Slack heads-up"

    page.select_message(mid)
    assert page.delete_action.isEnabled()
    assert page.delete_message()
    assert page.messages.row_of(mid) < 0
    document.undo_stack.undo()
    assert stored(document, mid).name == "Slack heads-up" and stored(document, mid).channel is Channel.SLACK
    edits = journal_lines(document, "edit")
    assert any(line.startswith("Undo: New slack message “Slack heads-up”") for line in edits)
    assert "Deleted the draft message “Slack heads-up”" in edits
    assert "Undo: Deleted the draft message “Slack heads-up”" in edits
    settle(qtbot, page)


def test_only_a_draft_can_be_deleted_and_a_copy_starts_as_a_draft(qtbot, page, document):
    approved = page.message_id
    assert stored(document, approved).state is MessageState.APPROVED
    assert not page.delete_action.isEnabled() and "Only a draft" in page.delete_action.toolTip()
    failures = []
    document.edit_failed.connect(failures.append)
    assert not page.delete_message()
    assert failures and "only a draft message can be deleted" in failures[-1]
    assert stored(document, approved).state is MessageState.APPROVED

    dialog = page.duplicate_message()
    assert dialog.name.text() == "Launch e-mail with help docs (copy)"
    qtbot.mouseClick(dialog.ok_button, LEFT)
    copy = stored(document, page.message_id)
    original = stored(document, approved)
    assert copy.id != approved and copy.state is MessageState.DRAFT
    assert (copy.body, copy.subject, copy.phase_id, copy.cohort_id) == (
        original.body, original.subject, original.phase_id, original.cohort_id)
    settle(qtbot, page)


def test_a_new_audience_takes_the_approval_away_updates_the_panel_and_undoes(qtbot, page, document):
    mid = page.message_id
    assert stored(document, mid).state is MessageState.APPROVED
    old_counts = dict(page.audience.counts)
    later_phase, later_cohort = phase_of(document, SMALLER_PHASE)

    dialog = page.change_audience()
    assert isinstance(dialog, MessageDialog) and "back to draft" in dialog.summary.text()
    dialog.phase.setCurrentIndex(dialog.phase.findText(SMALLER_PHASE))
    assert dialog.who.currentText() == "Cohort of the phase: Power users"
    qtbot.mouseClick(dialog.ok_button, LEFT)

    message = stored(document, mid)
    assert (message.phase_id, message.cohort_id) == (later_phase, later_cohort)
    assert message.state is MessageState.DRAFT and message.approved_by is None
    assert page.current_row().audience == "Power users" and page.current_row().phase == SMALLER_PHASE
    assert any("edited after approval; back to draft" in line for line in journal_lines(document, "message_draft"))
    assert any(line.startswith("Audience of message “Launch e-mail with help docs”: Phase 4") for line in
               journal_lines(document, "edit"))
    settle(qtbot, page)
    counts = page.audience.counts  # Phase 4's cohort is every account; "Power users" are fewer
    assert counts["in_cohort"] < old_counts["in_cohort"] and counts != old_counts
    assert f"<b>{counts['in_cohort']}</b> accounts in the cohort Power users" in page.counts.text()
    assert len(page.people.rows) == min(counts["in_cohort"], 3 * messages_page.LISTED)
    assert "Draft" in page.state_label.text()

    document.undo_stack.undo()  # the audience comes back; the approval does not (it needs a new review)
    message = stored(document, mid)
    assert message.phase_id != later_phase and message.state is MessageState.DRAFT
    settle(qtbot, page)
    assert page.audience.counts == old_counts
    document.undo_stack.redo()
    assert stored(document, mid).phase_id == later_phase

    # All customers: the audience the model knows besides a cohort; the send guard refuses it below 100%.
    assert page.set_audience(mid, MessageAudience(later_phase, later_cohort, ALL_CUSTOMERS))
    assert stored(document, mid).audience == ALL_CUSTOMERS and page.current_row().audience == "All customers"
    settle(qtbot, page)
    with document.workspace.session() as s:
        every_account = s.scalar(select(func.count()).select_from(Account))
    assert page.audience.counts["in_cohort"] == every_account
    assert f"<b>{every_account}</b> accounts in all customers" in page.counts.text()
    assert "cohort" not in page.counts.text() and "cohort" not in page.preview.preview_as.toolTip()


def test_a_message_being_sent_keeps_its_audience_and_says_why(qtbot, page, document):
    mid = page.message_id
    with document.workspace.transaction() as s:
        s.get(Message, mid).state = MessageState.SENDING
    document.changed.emit("message", mid)
    settle(qtbot, page)
    assert not page.audience_action.isEnabled()
    assert "sending: its audience cannot change" in page.audience_action.toolTip()
    assert not page.action_buttons[page.audience_action].isEnabled()
    assert page.change_audience() is None
    assert page.approval_note.isVisible() and "cannot change" in page.approval_note.text()
    failures = []
    document.edit_failed.connect(failures.append)
    later_phase, later_cohort = phase_of(document, LATER_PHASE)
    assert not page.set_audience(mid, MessageAudience(later_phase, later_cohort))
    assert failures and "its audience cannot change" in failures[-1]
    assert stored(document, mid).phase_id != later_phase and document.undo_stack.count() == 0
    settle(qtbot, page)


def test_the_approval_fingerprint_covers_the_phase_and_the_cohort_it_resolves_to(document):
    """Behind the ORM's back (the listener cannot see it), the send guard still notices a new audience."""
    later_phase, _cohort = phase_of(document, LATER_PHASE)
    with document.workspace.transaction() as s:
        mid, phase_id = s.execute(select(Message.id, Message.phase_id).join(Message.phase)
                                  .where(Phase.name == "Phase 4: Half of all accounts")
                                  .join(Phase.rollout).where(Rollout.name == ROLLOUT)).one()
        # No cohort of its own: it goes to its phase's.
        s.execute(text("UPDATE message SET cohort_id = NULL WHERE id = :id"), {"id": mid})
    with document.workspace.transaction() as s:
        message = s.get(Message, mid)
        approval.return_to_draft(s, message, by="Sam")
        approval.submit_for_review(s, message, by="Sam")
        approval.approve(s, message, by="Pat")

    def edited() -> bool:
        with document.workspace.session() as s:
            message = s.get(Message, mid)
            return "edited" in {b.code for b in guards.send_blockers(s, message, compute_audience(s, message))}

    assert not edited()
    with document.workspace.transaction() as s:
        s.execute(text("UPDATE message SET phase_id = :p WHERE id = :id"), {"p": later_phase, "id": mid})
    assert edited()
    with document.workspace.transaction() as s:
        s.execute(text("UPDATE message SET phase_id = :p WHERE id = :id"), {"p": phase_id, "id": mid})
    assert not edited()
    with document.workspace.transaction() as s:  # the phase's cohort changed: so did the message's audience
        other = s.scalars(select(Cohort.id).where(Cohort.name == "Everyone")).first()
        s.execute(update(Phase).where(Phase.id == phase_id).values(cohort_id=other))
    assert edited()


def test_an_approval_recorded_before_the_phase_was_covered_still_holds(document):
    with document.workspace.transaction() as s:
        message = s.scalars(select(Message).where(Message.state == MessageState.APPROVED)).first()
        entry = JournalEntry(at=utcnow(), rollout_id=message.phase.rollout_id, actor="Pat",
                             kind=approval.APPROVED_KIND, summary="approved",
                             details={"message": message.id, "content": approval.content_fingerprint(message, version=1)})
        s.add(entry)
        s.flush()
        assert approval.approval_holds(s, message)
        message.body += " (changed)"
        assert not approval.approval_holds(s, message)
