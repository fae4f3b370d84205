"""Message templates: Markdown with Jinja2 variables, rendered in a sandbox as HTML + plain text, or Slack text.

A template is a subject and a body. Both run in Jinja2's ``ImmutableSandboxedEnvironment`` with
``StrictUndefined``, so an attribute escape (``{{ ''.__class__ }}``, ``|attr('__class__')``, format-string
tricks), a mutation or a missing variable is an error with its line, never a crash and never an empty gap
in a customer's e-mail. The body is Markdown (CommonMark, raw HTML off) rendered by markdown-it-py:

- HTML part: every variable's value is text, never Markdown or HTML: it is HTML-escaped, so an account called
  ``<b>ACME</b>`` or ``[win](http://evil)`` arrives as exactly those characters; a value used as a link
  target is normalised and checked like any Markdown link (no ``javascript:``);
- plain-text part: the Markdown source with the variables as they are (no escaping at all);
- Slack text: Slack's own markup (``*bold*``, ``<url|text>``, bullets). Slack reads ``&``, ``<`` and ``>`` as
  control characters, so they are written as ``&amp;``, ``&lt;``, ``&gt;``, which Slack shows as the plain
  characters (an account name cannot ping ``<!channel>``). Nothing is HTML-escaped there.

How: the template is rendered with a marker in place of each value; the plain text is that with the values
put back. The Markdown of the marked text is parsed and rendered once (recipients whose template takes the
same branches share it), and each recipient's values then replace the markers, escaped for HTML or Slack as
the renderer escapes text; a value used as a link target goes through the parsed tokens instead, so it is
normalised and checked per recipient. Markdown costs ten times the Jinja render, so a send to thousands of
recipients parses and renders it a handful of times, not thousands.

Jinja2 and markdown-it are imported when a template is first compiled, never at application start-up.
"""

from __future__ import annotations

import copy
import re
import secrets
import string
import traceback
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The variables a template may use; comms.compose builds them for each recipient.
KNOWN_VARIABLES = ("account", "contact", "feature", "rollout", "phase", "cohort", "links")
TEMPLATE_NAME = "<template>"
MAX_REPEAT = 100_000  # the longest string or list a template may build with *
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x85\x0b\x0c]")
_PARSED_SHAPES = 64  # distinct marked bodies kept parsed per message


@dataclass(frozen=True)
class Problem:
    """Something wrong with a template: which part (``subject`` or ``body``), which line (1-based), what."""

    part: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.part}, line {self.line}" if self.line else self.part
        return f"{where}: {self.message}"


class TemplateRefused(Exception):
    """A template cannot be compiled or rendered; ``problems`` says where and why (str() lists them)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Rendered:
    """One recipient's message. ``html`` and ``plain`` are the e-mail parts; ``slack`` the Slack/in-app text."""

    subject: str
    plain: str
    html: str = ""
    slack: str = ""


def formats_for(channel: str) -> frozenset[str]:
    """What a channel sends: e-mail has an HTML and a plain part; Slack and webhooks carry Slack text and plain."""
    return frozenset({"html", "plain"}) if str(channel) == "email" else frozenset({"slack", "plain"})


@dataclass
class _Shape:
    """One marked body (one path through the template's branches), parsed once.

    ``html`` and ``slack`` are rendered with the markers in them, ready for the values, unless a marker sits
    in a link target: a link made from a value is normalised and checked per recipient from the tokens.
    """

    tokens: list[Any]
    marked: set[int]  # ids of the tokens that hold a marker, or whose children do
    html: str | None
    slack: str | None


@dataclass
class CompiledMessage:
    """A message's subject and body compiled once, then rendered for each recipient.

    ``formats`` names what ``render`` produces (see ``formats_for``). Compiling raises TemplateRefused for a
    syntax error or a variable no recipient has (one not in KNOWN_VARIABLES). Not thread-safe: use one per
    sending thread.
    """

    subject_source: str
    body_source: str
    formats: frozenset[str] = frozenset({"html", "plain"})
    _subject: Any = field(default=None, repr=False)
    _marked: Any = field(default=None, repr=False)
    _marker: re.Pattern[str] = field(default=re.compile("$^"), repr=False)
    _shapes: OrderedDict[str, _Shape] = field(default_factory=OrderedDict, repr=False)

    def __post_init__(self) -> None:
        problems = check_template(self.subject_source, self.body_source)
        if problems:
            raise TemplateRefused(problems)
        self._subject = _environment().from_string(self.subject_source)
        # Letters and digits only, so Markdown leaves the marker alone in text and link targets alike.
        nonce = "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))
        self._marker = re.compile(rf"ldv{nonce}(\d+)x")
        self._marked = _marking_environment().from_string(self.body_source)
        self._marked.globals = {**self._marked.globals, "_ld_nonce": f"ldv{nonce}"}

    def render(self, variables: Mapping[str, Any]) -> Rendered:
        """Render for one recipient; TemplateRefused (with the line) on a sandbox violation or a missing value."""
        subject = _run(self._subject, variables, "subject").strip()
        if _LINE_BREAKS.search(subject):
            raise TemplateRefused([Problem("subject", None, "the subject would contain a line break, which is "
                                           "not allowed in an e-mail header")])
        values: list[str] = []
        source = _run(self._marked, {**variables, "_ld_values": values}, "body")
        marker = self._marker
        plain = marker.sub(lambda m: values[int(m[1])], source).strip() + "\n"
        html = slack = ""
        shape = self._shape(source)
        if shape.html is None or shape.slack is None:
            tokens = self._fill(shape.tokens, shape.marked, values)
            md = _markdown()
            body_html = md.renderer.render(tokens, md.options, {}) if "html" in self.formats else ""
            slack = _slack_text(tokens) if "slack" in self.formats else ""
        else:
            from markdown_it.common.utils import escapeHtml

            body_html = marker.sub(lambda m: escapeHtml(values[int(m[1])]), shape.html)
            slack = marker.sub(lambda m: _slack_escape(values[int(m[1])]), shape.slack)
        if "html" in self.formats:
            html = _html_document(subject, body_html)
        return Rendered(subject=subject, plain=plain, html=html, slack=slack)

    def _shape(self, source: str) -> _Shape:
        shape = self._shapes.get(source)
        if shape is None:
            tokens = _markdown().parse(source)
            marked = self._marked_ids(tokens)
            html = slack = None
            if not self._marker_in_link(tokens):
                md = _markdown()
                html = md.renderer.render(tokens, md.options, {}) if "html" in self.formats else ""
                slack = _slack_text(tokens) if "slack" in self.formats else ""
            shape = self._shapes[source] = _Shape(tokens, marked, html, slack)
            if len(self._shapes) > _PARSED_SHAPES:
                self._shapes.popitem(last=False)
        return shape

    def _marked_ids(self, tokens: list[Any]) -> set[int]:
        found: set[int] = set()
        for token in tokens:
            inner = self._marked_ids(token.children) if token.children else set()
            texts = [token.content, *(v for v in (token.attrs or {}).values() if isinstance(v, str))]
            if inner or any(self._marker.search(t) for t in texts):
                found |= inner | {id(token)}
        return found

    def _marker_in_link(self, tokens: list[Any]) -> bool:
        """Whether a value would end up where it is more than text: a link target, or a code block's language."""
        for token in tokens:
            places = [token.info, *(str(token.attrs.get(k, "")) for k in ("href", "src") if token.attrs)]
            if any(self._marker.search(p) for p in places):
                return True
            if token.children and self._marker_in_link(token.children):
                return True
        return False

    def _fill(self, tokens: list[Any], marked: set[int], values: list[str], line: int | None = None) -> list[Any]:
        """Copies of the marked tokens with each marker replaced by its value (the shared parse is untouched)."""
        def put(text: str) -> str:
            return self._marker.sub(lambda m: values[int(m[1])], text)

        filled = []
        for token in tokens:
            if id(token) not in marked:
                filled.append(token)
                continue
            token = copy.copy(token)
            line = token.map[0] + 1 if token.map else line  # inline tokens only know their block's line
            if token.children:
                token.children = self._fill(token.children, marked, values, line)
            token.content = put(token.content)
            token.info = put(token.info)
            if token.attrs:
                attrs = {k: put(v) if isinstance(v, str) else v for k, v in token.attrs.items()}
                for key in ("href", "src"):
                    if key in attrs and attrs[key] != token.attrs[key]:
                        attrs[key] = _checked_link(attrs[key], line)
                token.attrs = attrs
            filled.append(token)
        return filled


def _checked_link(url: str, line: int | None) -> str:
    """A link target built from a value, normalised and checked as Markdown checks the links it reads."""
    md = _markdown()
    normalized = md.normalizeLink(url)
    if not md.validateLink(normalized):
        raise TemplateRefused([Problem("body", line, f"the link {url!r} is not allowed in a message")])
    return normalized


def check_template(subject: str, body: str) -> list[Problem]:
    """Problems found without rendering: syntax errors and variables no recipient has (with their lines)."""
    from jinja2 import TemplateSyntaxError, meta

    env = _environment()
    problems: list[Problem] = []
    if _LINE_BREAKS.search(subject):
        problems.append(Problem("subject", None, "a subject is one line; remove the line break"))
    for part, source in (("subject", subject), ("body", body)):
        try:
            parsed = env.parse(source)
        except TemplateSyntaxError as err:
            problems.append(Problem(part, err.lineno, f"syntax error: {err.message}"))
            continue
        for name in sorted(meta.find_undeclared_variables(parsed) - set(KNOWN_VARIABLES)):
            problems.append(Problem(part, _line_of(source, name),
                                    f"unknown variable '{name}' (known: {', '.join(KNOWN_VARIABLES)})"))
    return problems


def _line_of(source: str, name: str) -> int | None:
    match = re.search(rf"\b{re.escape(name)}\b", source)
    return source.count("\n", 0, match.start()) + 1 if match else None


def _run(template: Any, variables: Mapping[str, Any], part: str) -> str:
    from jinja2 import TemplateError, UndefinedError
    from jinja2.sandbox import SecurityError

    try:
        return template.render(variables)
    except SecurityError as err:
        raise TemplateRefused([Problem(part, _template_line(err), f"not allowed in a template: {err}")]) from None
    except UndefinedError as err:
        raise TemplateRefused([Problem(part, _template_line(err), f"missing value: {err.message}")]) from None
    except TemplateError as err:
        raise TemplateRefused([Problem(part, _template_line(err), str(err.message or err))]) from None
    except (ArithmeticError, ValueError, TypeError, LookupError) as err:
        raise TemplateRefused([Problem(part, _template_line(err), f"{type(err).__name__}: {err}")]) from None


def _template_line(err: BaseException) -> int | None:
    """The template line an error happened on: Jinja rewrites tracebacks so template frames carry it."""
    lines = [f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == TEMPLATE_NAME]
    return lines[-1] if lines else getattr(err, "lineno", None)


# --- environments ----------------------------------------------------------------------------------------------

_CACHE: dict[str, Any] = {}


def _environment() -> Any:
    """The sandbox for subjects and plain text: values as they are."""
    if "plain" not in _CACHE:
        _CACHE["plain"] = _sandbox(finalize=None)
    return _CACHE["plain"]


def _marking_environment() -> Any:
    """The sandbox for Markdown that becomes HTML or Slack text: each value is set aside and a marker written."""
    if "marking" not in _CACHE:
        from jinja2 import pass_context

        @pass_context
        def mark(context: Any, value: Any) -> str:
            values = context["_ld_values"]
            values.append(str(value))
            return f"{context['_ld_nonce']}{len(values) - 1}x"

        _CACHE["marking"] = _sandbox(finalize=mark)
    return _CACHE["marking"]


def _sandbox(*, finalize: Any) -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

    class MessageSandbox(ImmutableSandboxedEnvironment):
        # Strings and lists multiplied into gigabytes are the sandbox's remaining way to hurt the sender.
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and isinstance(right, int | float) and abs(right) > 100:
                raise SecurityError("exponents above 100 are not allowed in a template")
            if operator == "*":
                for a, b in ((left, right), (right, left)):
                    if isinstance(a, str | list | tuple) and isinstance(b, int) and len(a) * b > MAX_REPEAT:
                        raise SecurityError(f"a template may not build text longer than {MAX_REPEAT} characters")
            return super().call_binop(context, operator, left, right)

    env = MessageSandbox(undefined=StrictUndefined, finalize=finalize, keep_trailing_newline=True)
    # Only what a message needs: no lipsum, cycler, joiner or namespace objects to poke at.
    env.globals = {"range": env.globals["range"]}
    return env


def _markdown() -> Any:
    if "markdown" not in _CACHE:
        from markdown_it import MarkdownIt

        # CommonMark with raw HTML off: a template writes Markdown, and any "<tag>" in it is shown as text.
        _CACHE["markdown"] = MarkdownIt("commonmark", {"html": False})
    return _CACHE["markdown"]


def _html_document(subject: str, body_html: str) -> str:
    from markupsafe import escape

    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head>\n<body>\n{body_html}</body></html>\n"
    )


# --- Slack markup ------------------------------------------------------------------------------------------------


def _slack_text(tokens: list[Any]) -> str:
    """Parsed Markdown as Slack's markup: *bold*, _italic_, `code`, <url|text> links, bullets, bold headings."""
    out: list[str] = []
    lists: list[list[int]] = []  # per open list: [is_ordered, next number]
    quote = 0
    for token in tokens:
        kind = token.type
        if kind == "inline":
            text = _slack_inline(token.children or [])
            if quote:
                text = "\n".join("> " * quote + line for line in text.split("\n"))
            out.append(text)
        elif kind == "heading_open":
            out.append("*")
        elif kind == "heading_close":
            out.append("*\n\n")
        elif kind == "paragraph_close":
            out.append("\n" if lists and token.hidden else "\n\n")
        elif kind == "bullet_list_open":
            lists.append([0, 0])
        elif kind == "ordered_list_open":
            lists.append([1, int(token.attrGet("start") or 1)])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                out.append("\n")
        elif kind == "list_item_open":
            ordered, number = lists[-1]
            indent = "    " * (len(lists) - 1)
            if ordered:
                out.append(f"{indent}{number}. ")
                lists[-1][1] += 1
            else:
                out.append(f"{indent}• ")
        elif kind in ("fence", "code_block"):
            out.append(f"```\n{_slack_escape(token.content)}```\n\n")
        elif kind == "blockquote_open":
            quote += 1
        elif kind == "blockquote_close":
            quote -= 1
        elif kind == "hr":
            out.append("———\n\n")
    return re.sub(r"\n{3,}", "\n\n", "".join(out)).strip() + "\n"


def _slack_inline(children: list[Any]) -> str:
    out: list[str] = []
    links: list[tuple[str, int]] = []  # (href, where its text starts in out)
    for child in children:
        kind = child.type
        if kind == "text":
            out.append(_slack_escape(child.content))
        elif kind in ("strong_open", "strong_close"):
            out.append("*")
        elif kind in ("em_open", "em_close"):
            out.append("_")
        elif kind == "code_inline":
            out.append(f"`{_slack_escape(child.content)}`")
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "link_open":
            links.append((str(child.attrGet("href") or ""), len(out)))
        elif kind == "link_close" and links:
            href, start = links.pop()
            label = "".join(out[start:])
            del out[start:]
            target = _slack_escape(href).replace("|", "%7C")
            out.append(f"<{target}|{label}>" if label and label != target else f"<{target}>")
        elif kind == "image":
            out.append(f"<{_slack_escape(str(child.attrGet('src') or ''))}>")
    return "".join(out)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
