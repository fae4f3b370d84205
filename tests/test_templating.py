"""Message templates: the sandbox refuses escapes with a line, values are escaped per format, previews and the
problems listed before approval."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update

from comms_world import build_world
from launchdesk.comms.compose import cohort_problems, preview_message
from launchdesk.comms.templating import CompiledMessage, TemplateRefused, check_template, formats_for
from launchdesk.models import Account, Message
from launchdesk.planning.template import load_template

ROOT = Path(__file__).resolve().parents[1]


def variables(name: str = "Acme", **attributes: str) -> dict:
    return {
        "account": {"id": "acct-1", "name": name, "attributes": attributes},
        "contact": {"first_name": "Jo", "last_name": "Lee", "name": "Jo Lee", "email": "jo@acme.example"},
        "feature": {"name": "Smart inbox", "description": ""},
        "rollout": {"name": "Smart inbox", "owner": "Pat"},
        "phase": {"name": "Phase 2", "target_percentage": 10.0, "planned_start": None},
        "cohort": {"name": "Power users", "description": ""},
        "links": {"help": "https://help.example/smart inbox?from=mail&x=1"},
    }


def refusal(subject: str, body: str, values: dict | None = None) -> TemplateRefused:
    with pytest.raises(TemplateRefused) as caught:
        CompiledMessage(subject, body).render(values or variables())
    return caught.value


def test_every_default_message_renders_for_email_and_slack():
    template = load_template()
    messages = [m for phase in template["phases"] for m in phase.get("messages", [])]
    assert len(messages) == 5
    for message in messages:
        email = CompiledMessage(message["subject"], message["body"]).render(variables())
        assert "Smart inbox" in email.subject and "Hi Jo," in email.plain
        assert "<strong>Smart inbox</strong>" in email.html and "{{" not in email.html
        slack = CompiledMessage(message["subject"], message["body"], formats_for("slack")).render(variables())
        assert "*Smart inbox*" in slack.slack and "**" not in slack.slack and not slack.html


def test_html_in_an_account_name_arrives_escaped_in_html_and_as_is_in_plain_text():
    name = '<script>alert("x")</script> & [win](javascript:alert(1)) *Co*'
    rendered = CompiledMessage("About {{ account.name }}", "Hello **{{ account.name }}**!").render(variables(name))
    assert "<script>" not in rendered.html and "href" not in rendered.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; [win](javascript:alert(1)) *Co*" in rendered.html
    assert "<a " not in rendered.html and "<em>" not in rendered.html  # the name's Markdown stays text
    assert rendered.plain == f"Hello **{name}**!\n"
    assert rendered.subject == f"About {name}"


def test_slack_text_cannot_ping_the_channel_and_links_use_slack_markup():
    rendered = CompiledMessage("s", "Hi {{ account.name }}, see [the guide]({{ links.help }}).",
                               formats_for("slack")).render(variables("<!channel> A&B"))
    assert "<!channel>" not in rendered.slack
    assert "&lt;!channel&gt; A&amp;B" in rendered.slack
    assert "<https://help.example/smart%20inbox?from=mail&amp;x=1|the guide>" in rendered.slack


def test_a_value_used_as_a_link_is_normalised_and_a_script_link_refused():
    rendered = CompiledMessage("s", "[Help]({{ links.help }})").render(variables())
    assert '<a href="https://help.example/smart%20inbox?from=mail&amp;x=1">Help</a>' in rendered.html
    problem = refusal("s", "Line one\n\n[portal]({{ account.attributes.portal }})",
                      variables(portal="javascript:alert(document.cookie)")).problems[0]
    assert problem.line == 3 and "not allowed" in problem.message


def test_recipients_sharing_a_parsed_template_each_get_their_own_values():
    compiled = CompiledMessage("Hi {{ account.name }}", "{% if account.attributes.plan == 'pro' %}**Pro** "
                               "{% endif %}welcome, {{ account.name }}")
    first = compiled.render(variables("First & Co", plan="pro"))
    second = compiled.render(variables("Second", plan="pro"))
    third = compiled.render(variables("Third", plan="starter"))
    assert "First &amp; Co" in first.html and "First" not in second.html
    assert "<strong>Pro</strong> welcome, Second" in second.html
    assert "Pro" not in third.html and "welcome, Third" in third.html


@pytest.mark.parametrize("body, words", [
    ("{{ ''.__class__ }}", "__class__"),
    ("{{ ''|attr('__class__') }}", "__class__"),
    ("{{ account.name.__class__.__mro__[1].__subclasses__() }}", "__class__"),
    ("{{ '{0.__class__.__init__.__globals__}'.format(account) }}", "not allowed"),
    ("{{ account.attributes.update({'x': 1}) }}", "not allowed"),
    ("{{ 'x' * 100000000 }}", "longer than"),
    ("{{ 2 ** 100000 }}", "exponents"),
])
def test_hostile_templates_are_refused_with_a_clear_message_and_line(body, words):
    problem = refusal("Subject", f"Hello\n{body}").problems[0]
    assert problem.part == "body" and problem.line == 2
    assert words in problem.message
    assert "not allowed" in problem.message or "may not" in problem.message


def test_unknown_and_missing_variables_and_syntax_errors_are_listed_with_lines():
    problems = check_template("Hi {{ customer.name }}", "a\nb\n{{ lipsum() }}\n{% if %}")
    assert [(p.part, p.line) for p in problems] == [("subject", 1), ("body", 4)]
    assert "unknown variable 'customer'" in problems[0].message and "syntax error" in problems[1].message
    assert "unknown variable 'cycler'" in str(check_template("s", "x\n{{ cycler }}")[0])
    missing = refusal("s", "line\n\n{{ account.attributes.csm }}").problems[0]
    assert missing.line == 3 and "missing value" in missing.message and "csm" in missing.message


def test_a_line_break_in_a_subject_is_refused():
    assert "one line" in str(check_template("Hello\nBcc: victim@example.com", "body")[0])
    problem = refusal("Welcome {{ account.name }}", "body", variables("Acme\r\nBcc: victim@example.com")).problems[0]
    assert problem.part == "subject" and "line break" in problem.message


def test_templating_loads_jinja_and_markdown_only_when_used():
    code = ("import sys, launchdesk.comms.outbox, launchdesk.cli_comms; "
            "print(','.join(m for m in ('jinja2', 'markdown_it') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


# --- previews and problems over the cohort, on a real workspace ---------------------------------------------


@pytest.fixture
def world(tmp_path):
    w = build_world(tmp_path, accounts=40, approve=False, names={3: "<b>Bold</b> Ltd"})
    yield w
    w.workspace.close()


def test_preview_renders_for_one_account_as_it_will_arrive(world):
    with world.workspace.session() as s:
        message = world.message(s)
        preview = preview_message(s, message, "acct-00003")
        assert preview.problems == [] and preview.recipient == "ops3@company3.example"
        assert "&lt;b&gt;Bold&lt;/b&gt; Ltd" in preview.html and "<b>Bold</b> Ltd" in preview.plain
        assert preview.subject == "New in your account: Smart inbox" and preview.slack == ""
        unsaved = preview_message(s, message, "acct-00003", body="Hi {{ contact.first_name }}\n{{ oops }}")
        assert unsaved.html == "" and [(p.line, p.part) for p in unsaved.problems] == [(2, "body")]
        slack = preview_message(s, message, "acct-00003", channel="slack")
        assert "&lt;b&gt;Bold&lt;/b&gt; Ltd" in slack.slack and slack.html == ""
        assert preview_message(s, message, "nobody").problems[0].message == "no account 'nobody'"


def test_values_some_accounts_lack_are_listed_before_approval_with_counts(world):
    with world.workspace.transaction() as s:
        # Ten accounts have a customer-success manager; the other thirty have a blank cell.
        s.execute(update(Account).where(Account.account_key < "acct-00010")
                  .values(attributes={"plan": "pro", "csm": "Kim"}))
    with world.workspace.session() as s:
        message = world.message(s)
        body = "Hi {{ contact.first_name }},\n\nYour manager {{ account.attributes.csm }} will call."
        (problem,) = cohort_problems(s, message, body=body)
        assert problem.accounts == 30 and problem.problem.line == 3 and "csm" in problem.problem.message
        assert problem.example_account >= "acct-00010"
        fine = "Your manager {{ account.attributes.csm | default('your account team') }} will call."
        assert cohort_problems(s, message, body=fine) == []
        assert s.get(Message, world.message_id).body != body  # checking never saves the editor's text


@pytest.mark.parametrize("link", ["[{{ cohort.name }}](https://help.example/x)",  # values in text only
                                  "[{{ cohort.name }}](https://help.example/{{ account.id }})"])  # and in a link
def test_values_go_into_the_shared_rendering_exactly_where_markdown_would_put_them(link):
    from markdown_it import MarkdownIt

    body = ("# {{ feature.name }} for {{ account.name }}\n\n- *{{ contact.first_name }}*, see `{{ account.id }}`\n"
            f"- {link}\n\n> {{{{ phase.name }}}}\n\n```\n{{{{ account.name }}}}\n```\n")
    compiled = CompiledMessage("s", body)
    for name in ("Acme", "Globex", "Initech"):
        rendered = compiled.render(variables(name))
        expected = MarkdownIt("commonmark", {"html": False}).render(rendered.plain)
        assert rendered.html.split("<body>\n")[1].removesuffix("</body></html>\n") == expected
        assert f"<h1>Smart inbox for {name}</h1>" in rendered.html
