"""The outbox end to end against a real SMTP server on loopback: who receives what, exactly once, and what a
person sees when something went wrong."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from comms_world import account_emails, add_snapshot, build_world
from launchdesk import cli
from launchdesk.access.evaluate import account_context
from launchdesk.access.lookup import evaluator_for, lookup
from launchdesk.access.sync import rollout_snapshot
from launchdesk.comms.outbox import (
    SendBusy,
    SendRefused,
    delivery_counts,
    drop_uncertain,
    resend_uncertain,
    retry_failed,
    send_message,
    send_test,
)
from launchdesk.models import Account, Delivery, DeliveryState, JournalEntry, MessageState, PhaseStatus, utcnow
from smtp_sink import SmtpSink


@pytest.fixture
def sink():
    with SmtpSink() as server:
        yield server


@pytest.fixture
def world(tmp_path, sink):
    w = build_world(tmp_path, accounts=120, smtp_url=sink.url, names={1: "<b>Bold</b> & Sons"})
    yield w
    w.workspace.close()


def with_access(world) -> set[str]:
    """The contact e-mail of every account with access, from each account's own evaluation."""
    emails = account_emails(world.workspace)
    with world.workspace.session() as s:
        evaluator = evaluator_for(s, rollout_snapshot(s, world.message(s).phase.rollout))
        return {emails[a.account_key] for a in s.scalars(select(Account))
                if evaluator.explain(account_context(a)).enabled is True}


def rows(world) -> dict[str, Delivery]:
    with world.workspace.session() as s:
        return {d.recipient: d for d in s.scalars(select(Delivery).where(Delivery.message_id == world.message_id))}


def test_every_account_with_access_gets_one_email_and_nobody_else_gets_any(world, sink):
    expected = with_access(world)
    assert 30 < len(expected) < 90
    seen = []
    report = send_message(world.workspace, world.message_id, by="Pat", progress=seen.append)
    assert report.state is MessageState.SENT and report.sent == len(expected) == report.queued
    # Progress comes a few times a second and always at the end, not once per row.
    assert seen[-1].done == seen[-1].total == seen[-1].sent == len(expected) and len(seen) < len(expected) / 2
    assert set(sink.per_recipient) == expected and set(sink.per_recipient.values()) == {1}
    deliveries = rows(world)
    assert {d.state for d in deliveries.values()} == {DeliveryState.SENT}
    for received in sink.received:
        parsed = received.parsed()
        (to,) = received.recipients
        # The Message-ID was made before sending and stored with the row; the server saw that same one.
        assert parsed["Message-ID"] == deliveries[to].provider_message_id
        assert parsed["To"] == to and parsed["Subject"] == "New in your account: Smart inbox"
        assert received.mail_from == "launch@ourco.example"
    with world.workspace.session() as s:
        summaries = [e.summary for e in s.scalars(select(JournalEntry).where(JournalEntry.kind == "message_send"))]
        assert summaries[0].startswith(f"Sending 'Launch e-mail with help docs' to {len(expected)} recipients")
        assert f"{len(expected)} sent" in summaries[-1]
    with pytest.raises(SendRefused, match="Only an approved message can be sent"):
        send_message(world.workspace, world.message_id)
    assert sink.total == len(expected)


def test_the_lookup_of_an_account_shows_the_message_it_received(world, sink):
    send_message(world.workspace, world.message_id)
    (recipient,) = [r for r in rows(world)][:1]
    with world.workspace.session() as s:
        key = s.scalars(select(Account.account_key).join(Delivery, Delivery.account_id == Account.id)
                        .where(Delivery.recipient == recipient)).one()
        (answer,) = lookup(s, key)
    assert [(m.message, m.state, m.recipient) for m in answer.messages] == [
        ("Launch e-mail with help docs", "sent", recipient)]


def test_an_account_name_with_html_arrives_escaped_in_the_html_part(tmp_path, sink):
    world = build_world(tmp_path, accounts=40, percentage=100, smtp_url=sink.url,
                        names={5: '<script>alert("hi")</script> & Co'})
    send_message(world.workspace, world.message_id)
    (received,) = [r for r in sink.received if r.recipients == ["ops5@company5.example"]]
    parsed = received.parsed()
    html = parsed.get_body(("html",)).get_content()
    plain = parsed.get_body(("plain",)).get_content()
    assert "&lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt; &amp; Co" in html and "<script>" not in html
    assert '<script>alert("hi")</script> & Co' in plain
    world.workspace.close()


def test_cancel_then_resume_sends_the_rest_once(world, sink):
    expected = with_access(world)
    handled = []
    report = send_message(world.workspace, world.message_id, progress=handled.append,
                          cancelled=lambda: sink.total >= 10)
    assert report.stopped == "cancelled" and report.sent == 10 and report.state is MessageState.SENDING
    assert report.pending == len(expected) - 10 and sink.total == 10
    assert handled[0].total == len(expected) and handled[-1].sent <= 10  # progress is reported, not per row
    again = send_message(world.workspace, world.message_id)
    assert again.queued == 0 and again.sent == len(expected) - 10 and again.state is MessageState.SENT
    assert set(sink.per_recipient) == expected and max(sink.per_recipient.values()) == 1


def test_access_is_checked_again_for_every_row_at_send_time(world, sink):
    send_message(world.workspace, world.message_id, cancelled=lambda: sink.total >= 5)
    add_snapshot(world.workspace, 20)  # engineering narrowed the rollout meanwhile
    still = with_access(world)
    report = send_message(world.workspace, world.message_id)
    deliveries = rows(world)
    late = {r for r, d in deliveries.items() if d.state is DeliveryState.SENT and d.id > sorted(
        x.id for x in deliveries.values())[4]}
    assert late and late <= still  # everything sent after the change went to accounts that still have access
    lost = {r for r, d in deliveries.items() if d.state is DeliveryState.FAILED}
    assert lost and not lost & still and all("no access" in deliveries[r].last_error for r in lost)
    assert not lost & set(sink.per_recipient)
    assert report.state is MessageState.PARTLY_FAILED


def test_a_row_left_sending_becomes_uncertain_and_is_resent_only_when_a_person_says_so(world, sink):
    send_message(world.workspace, world.message_id, cancelled=lambda: sink.total >= 3)
    with world.workspace.transaction() as s:  # as a killed sender leaves it: claimed, never settled
        victim = s.scalars(select(Delivery).where(Delivery.state == DeliveryState.PENDING)
                           .order_by(Delivery.id)).first()
        victim.state, victim.attempts = DeliveryState.SENDING, 1
        recipient = victim.recipient
    report = send_message(world.workspace, world.message_id)
    assert report.recovered == 1 and report.state is MessageState.PARTLY_FAILED
    assert rows(world)[recipient].state is DeliveryState.UNCERTAIN and sink.count_for(recipient) == 0
    with world.workspace.session() as s:
        assert delivery_counts(s, world.message_id)["uncertain"] == 1

    with world.workspace.transaction() as s:
        assert resend_uncertain(s, world.message(s), by="Pat") == 1
        assert world.message(s).state is MessageState.SENDING
    again = send_message(world.workspace, world.message_id)
    assert again.sent == 1 and again.state is MessageState.SENT and sink.count_for(recipient) == 1
    assert max(sink.per_recipient.values()) == 1


def test_dropping_an_uncertain_row_fails_it_without_sending(world, sink):
    send_message(world.workspace, world.message_id)
    with world.workspace.transaction() as s:
        s.execute(text("UPDATE delivery SET state = 'uncertain' WHERE id = (SELECT min(id) FROM delivery)"))
        assert drop_uncertain(s, world.message(s), by="Pat") == 1
        assert world.message(s).state is MessageState.PARTLY_FAILED
    failed = [d for d in rows(world).values() if d.state is DeliveryState.FAILED]
    assert len(failed) == 1 and "Dropped by Pat" in failed[0].last_error


def test_a_refused_recipient_fails_alone_and_the_message_is_partly_failed(tmp_path):
    with SmtpSink(refuse={"ops7@company7.example"}) as sink:
        world = build_world(tmp_path, accounts=30, percentage=100, smtp_url=sink.url)
        report = send_message(world.workspace, world.message_id)
        assert report.failed == 1 and report.sent == 29 and report.state is MessageState.PARTLY_FAILED
        refused = rows(world)["ops7@company7.example"]
        assert refused.state is DeliveryState.FAILED and "550" in refused.last_error
        assert sink.total == 29
        world.workspace.close()


def test_an_unreachable_server_leaves_every_row_pending_and_a_later_send_delivers(tmp_path):
    sink = SmtpSink()
    world = build_world(tmp_path, accounts=30, percentage=100, smtp_url=sink.url)
    report = send_message(world.workspace, world.message_id)
    assert report.sent == 0 and report.pending == 30 and "connection refused" in report.stopped
    with world.workspace.session() as s:
        assert s.scalar(select(func.max(Delivery.attempts))) == 0
    with sink:
        again = send_message(world.workspace, world.message_id)
        assert again.sent == 30 and again.state is MessageState.SENT and sink.total == 30
    world.workspace.close()


def test_a_line_break_smuggled_into_the_subject_fails_that_row_only(tmp_path, sink):
    world = build_world(tmp_path, accounts=10, percentage=100, smtp_url=sink.url, approve=False,
                        names={2: "Evil\r\nBcc: victim@example.com"})
    with world.workspace.transaction() as s:
        from launchdesk.comms import approval

        message = world.message(s)
        message.subject = "News for {{ account.name }}"
        approval.submit_for_review(s, message, by="Sam")
        approval.approve(s, message, by="Pat")
    report = send_message(world.workspace, world.message_id)
    assert report.failed == 1 and report.sent == 9
    assert "line break" in rows(world)["ops2@company2.example"].last_error
    assert sink.count_for("victim@example.com") == 0
    assert all("Bcc" not in r.parsed() for r in sink.received)
    world.workspace.close()


def test_list_unsubscribe_headers_when_an_unsubscribe_url_is_configured(tmp_path, sink):
    world = build_world(tmp_path, accounts=8, percentage=100, smtp_url=sink.url,
                        smtp_options={"unsubscribe_url": "https://ourco.example/unsub?e={email}",
                                      "unsubscribe_mailto": "unsub@ourco.example"})
    send_message(world.workspace, world.message_id)
    parsed = sink.received[0].parsed()
    to = sink.received[0].recipients[0]
    assert parsed["List-Unsubscribe"] == f"<https://ourco.example/unsub?e={to}>, <mailto:unsub@ourco.example>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    world.workspace.close()


def test_a_test_send_goes_to_the_given_address_only(world, sink):
    attempt = send_test(world.workspace, world.message_id, "acct-00001", "me@ourco.example", by="Pat")
    assert attempt.outcome == "sent" and sink.total == 1 and sink.received[0].recipients == ["me@ourco.example"]
    parsed = sink.received[0].parsed()
    assert parsed["Subject"] == "[Test] New in your account: Smart inbox"
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Sons" in parsed.get_body(("html",)).get_content()
    with pytest.raises(SendRefused, match="customer account acct-00003"):
        send_test(world.workspace, world.message_id, "acct-00001", "OPS3@company3.example")
    assert sink.total == 1 and rows(world) == {}


def test_the_cli_sends_with_a_summary_and_refuses_with_the_reason(world, sink, capsys):
    assert cli.main(["send", str(world.path), str(world.message_id), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("'Launch e-mail with help docs' is sent:") and f"{sink.total} sent" in out
    assert cli.main(["send", str(world.path), str(world.message_id)]) == 1
    assert "Only an approved message can be sent" in capsys.readouterr().err
    assert cli.main(["deliveries", str(world.path), str(world.message_id), "--json"]) == 0
    assert '"state": "sent"' in capsys.readouterr().out


def test_the_cli_lists_messages_with_their_audience(world, capsys):
    assert cli.main(["messages", str(world.path), "Smart inbox", "--json"]) == 0
    import json

    listed = {m["id"]: m for m in json.loads(capsys.readouterr().out)}
    message = listed[world.message_id]
    assert message["state"] == "approved" and message["approved_by"] == "Pat"
    assert message["audience"]["with_access"] == len(with_access(world))
    assert message["audience"]["with_access"] + message["audience"]["without_access"] == 120


def test_received_messages_parse_cleanly_with_the_standard_library(world, sink):
    send_message(world.workspace, world.message_id)
    for received in sink.received[:5]:
        parsed = received.parsed()
        assert parsed.is_multipart() and parsed.get_content_type() == "multipart/alternative"
        assert all(not part.defects for part in parsed.walk())


def test_connection_add_keeps_the_smtp_settings_in_the_connections_options(world):
    assert cli.main(["connection", "add", str(world.path), "relay", "--kind", "smtp", "--url",
                     "smtp://mail.ourco.example:587", "--starttls", "--from", "Launch <launch@ourco.example>",
                     "--rate", "5", "--unsubscribe-url", "https://ourco.example/u?e={email}", "--no-secret"]) == 0
    from launchdesk.connections import get_connection

    with world.workspace.session() as s:
        options = get_connection(s, "relay").options
    assert {k: v for k, v in options.items() if k != "secret_id"} == {
        "security": "starttls", "from": "Launch <launch@ourco.example>", "rate_per_second": 5.0,
        "unsubscribe_url": "https://ourco.example/u?e={email}"}
    assert cli.main(["connection", "add", str(world.path), "bare", "--kind", "smtp", "--url", "smtp://x:25",
                     "--no-secret"]) == 1


# --- retrying failed rows ------------------------------------------------------------------------------------


def test_failed_rows_can_be_retried_once_the_server_takes_them_and_each_arrives_once(tmp_path):
    refused = {"ops7@company7.example", "ops8@company8.example"}
    with SmtpSink(refuse=refused) as sink:
        world = build_world(tmp_path, accounts=30, percentage=100, smtp_url=sink.url)
        first = send_message(world.workspace, world.message_id, by="Pat")
        assert first.failed == 2 and first.state is MessageState.PARTLY_FAILED
        refused.clear()  # the mailboxes were fixed
        seen = []
        report = retry_failed(world.workspace, world.message_id, by="Sam", progress=seen.append)
        assert report.sent == 2 and report.failed == 0 and report.queued == 0
        assert report.state is MessageState.SENT and seen[-1].done == seen[-1].total == 2
        deliveries = rows(world)
        assert {d.state for d in deliveries.values()} == {DeliveryState.SENT}
        assert deliveries["ops7@company7.example"].attempts == 2
        assert set(sink.per_recipient.values()) == {1} and sink.total == 30
        with world.workspace.session() as s:
            summaries = [e.summary for e in s.scalars(select(JournalEntry).where(JournalEntry.kind == "message_send"))]
            actors = [e.actor for e in s.scalars(select(JournalEntry).where(JournalEntry.kind == "message_send"))]
        assert "Sam asked to retry 2 failed deliveries of 'Launch e-mail with help docs'" in summaries
        assert actors[-1] == "Sam" and "2 sent" in summaries[-1]
        with pytest.raises(SendRefused, match="no failed deliveries to retry"):
            retry_failed(world.workspace, world.message_id, by="Sam")
        world.workspace.close()


def test_the_cli_retries_failed_deliveries(tmp_path, capsys):
    refused = {"ops3@company3.example"}
    with SmtpSink(refuse=refused) as sink:
        world = build_world(tmp_path, accounts=6, percentage=100, smtp_url=sink.url)
        world.workspace.close()
        assert cli.main(["send", str(world.path), str(world.message_id), "--quiet"]) == 1
        assert "is partly failed: 5 sent, 1 failed" in capsys.readouterr().out
        refused.clear()
        assert cli.main(["send", str(world.path), str(world.message_id), "--retry-failed", "--quiet"]) == 0
        assert "is sent: 1 sent, 0 failed" in capsys.readouterr().out
        assert cli.main(["send", str(world.path), str(world.message_id), "--retry-failed"]) == 1
        assert "no failed deliveries to retry" in capsys.readouterr().err
        assert sink.count_for("ops3@company3.example") == 1 and sink.total == 6


def test_a_retry_can_name_the_rows_and_a_row_still_refused_fails_again(tmp_path):
    refused = {"ops3@company3.example", "ops4@company4.example"}
    with SmtpSink(refuse=refused) as sink:
        world = build_world(tmp_path, accounts=10, percentage=100, smtp_url=sink.url)
        send_message(world.workspace, world.message_id)
        deliveries = rows(world)
        refused.discard("ops3@company3.example")
        report = retry_failed(world.workspace, world.message_id, [deliveries["ops4@company4.example"].id])
        assert report.failed == 1 and report.sent == 0 and report.state is MessageState.PARTLY_FAILED
        after = rows(world)
        assert after["ops4@company4.example"].attempts == 2 and "550" in after["ops4@company4.example"].last_error
        assert after["ops3@company3.example"].attempts == 1  # not named: left alone
        assert sink.count_for("ops3@company3.example") == 0
        world.workspace.close()


def test_a_retry_is_guarded_like_a_send_and_never_resends_a_dropped_row(tmp_path):
    refused = {"ops5@company5.example"}
    with SmtpSink(refuse=refused) as sink:
        world = build_world(tmp_path, accounts=10, percentage=100, smtp_url=sink.url)
        send_message(world.workspace, world.message_id)
        with world.workspace.transaction() as s:  # a row caught mid-transmission, which a person dropped
            s.execute(text("UPDATE delivery SET state = 'uncertain' WHERE recipient = 'ops6@company6.example'"))
            assert drop_uncertain(s, world.message(s), by="Pat") == 1
        refused.clear()
        with world.workspace.transaction() as s:
            world.message(s).phase.status = PhaseStatus.PAUSED
        with pytest.raises(SendRefused, match="not live"):
            retry_failed(world.workspace, world.message_id)
        with world.workspace.transaction() as s:
            world.message(s).phase.status = PhaseStatus.LIVE
        add_snapshot(world.workspace, 100, enabled=False)  # the flag was turned off
        with pytest.raises(SendRefused, match="is off"):
            retry_failed(world.workspace, world.message_id)
        add_snapshot(world.workspace, 100)
        with world.workspace.transaction() as s:  # someone else's send holds the message
            message = world.message(s)
            message.send_lease_token, message.send_lease_by, message.send_lease_host = "t", "Kim", "kims-laptop"
            message.send_lease_expires = utcnow() + dt.timedelta(seconds=20)
        with pytest.raises(SendBusy, match="being sent by Kim on kims-laptop"):
            retry_failed(world.workspace, world.message_id)
        assert rows(world)["ops5@company5.example"].state is DeliveryState.FAILED  # untouched by the refusals
        with world.workspace.transaction() as s:
            world.message(s).send_lease_expires = utcnow() - dt.timedelta(seconds=1)  # it ran out
        report = retry_failed(world.workspace, world.message_id)
        assert report.sent == 1 and sink.count_for("ops5@company5.example") == 1
        assert sink.count_for("ops6@company6.example") == 1  # the one it got the first time, never again
        after = rows(world)
        assert after["ops6@company6.example"].state is DeliveryState.FAILED
        assert after["ops6@company6.example"].dropped_by == "Pat"
        assert report.state is MessageState.PARTLY_FAILED
        world.workspace.close()


def test_a_retry_rechecks_each_rows_access(tmp_path):
    refused = {f"ops{i}@company{i}.example" for i in range(40)}
    with SmtpSink(refuse=refused) as sink:
        world = build_world(tmp_path, accounts=40, percentage=100, smtp_url=sink.url)
        send_message(world.workspace, world.message_id)
        refused.clear()
        add_snapshot(world.workspace, 30)  # engineering narrowed the rollout
        still = with_access(world)
        report = retry_failed(world.workspace, world.message_id)
        assert 0 < report.sent == len(still) < 40 and set(sink.per_recipient) == still
        lost = [d for d in rows(world).values() if d.recipient not in still]
        assert lost and all("no access" in d.last_error for d in lost)
        world.workspace.close()
