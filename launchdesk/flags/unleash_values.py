"""How Unleash SDKs read numbers, dates, versions, IP addresses and regexes, reproduced exactly in Python.

Unleash SDKs evaluate with Yggdrasil, a Rust engine; its parsers are stricter or looser than Python's in
many small places (a Rust float accepts "5." but not " 5", a chrono date accepts "2024-1-01 10:00:00 UTC",
Rust regexes reject look-ahead and treat "$" as the very end). Every function here answers exactly what the
engine answers; where that is not possible (a few regex features), it says so instead of guessing.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# --- numbers -------------------------------------------------------------------------------------------

# Rust's f64::from_str: sign, digits with an optional point (either side may be empty, not both), optional
# exponent, or inf/infinity/nan in any case. No whitespace, no underscores, ASCII digits only.
_RUST_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:inf|infinity|nan))")

# The engine's rule grammar for a number written in a flag: int ("." digits*)? ("e" int)?
_GRAMMAR_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?")


def parse_rust_float(text: str) -> float | None:
    """The number Rust's `str::parse::<f64>()` reads from a context value, or None."""
    if _RUST_FLOAT.fullmatch(text) is None:
        return None
    return float(text)


# --- dates ---------------------------------------------------------------------------------------------

# chrono's relaxed RFC 3339 parser (`DateTime<Utc>::from_str`): whitespace may surround most parts, numbers
# need not be zero-padded, "T", "t" or a space separates date and time, the offset is Z, UTC or +hh[:]mm.
_CHRONO_DATE = re.compile(
    r"\s*(?:([+-])([0-9]+)|([0-9]{1,4}))\s*-\s*([0-9]{1,2})\s*-\s*([0-9]{1,2})"
    r"[Tt ]\s*([0-9]{1,2})\s*:\s*([0-9]{1,2})\s*:\s*([0-9]{1,2})(?:\.([0-9]+))?\s*"
    r"(?:([Uu][Tt][Cc])|([Zz])|([+\-\u2212])([0-9]{2})[:\s]*([0-9]{2}))\s*"
)
# The engine's rule grammar for a date written in a flag.
_GRAMMAR_DATE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_from_civil(year: int, month: int, day: int) -> int:
    # Howard Hinnant's algorithm: proleptic Gregorian calendar without Python's year 1..9999 limit.
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_chrono_datetime(text: str) -> tuple[int, int] | None:
    """(UTC seconds since the epoch, nanoseconds) as chrono reads `text`, or None if it cannot.

    A leap second (":60") keeps second 59 with nanoseconds past one billion, which is how chrono orders it.
    """
    m = _CHRONO_DATE.fullmatch(text)
    if m is None:
        return None
    sign, signed_year, year, month, day, hour, minute, second, fraction, utc, zulu, off_sign, off_h, off_m = (
        m.groups()
    )
    y = int(year) if year is not None else (-1 if sign == "-" else 1) * int(signed_year)
    mo, d, h, mi, s = int(month), int(day), int(hour), int(minute), int(second)
    if not 1 <= mo <= 12 or h > 23 or mi > 59 or s > 60:
        return None
    leap_year = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if not 1 <= d <= _DAYS_IN_MONTH[mo - 1] + (mo == 2 and leap_year):
        return None
    offset = 0
    if off_sign is not None:
        if int(off_m) > 59:
            return None
        offset = int(off_h) * 3600 + int(off_m) * 60
        if offset >= 86400:
            return None
        if off_sign != "+":
            offset = -offset
    nanos = int((fraction or "")[:9].ljust(9, "0"))
    if s == 60:
        s, nanos = 59, nanos + 1_000_000_000
    seconds = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
    return seconds, nanos


# --- semantic versions ---------------------------------------------------------------------------------

_RUST_SEMVER = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
# The engine's rule grammar for a version written in a flag (looser than the semver crate that reads it).
_GRAMMAR_SEMVER = re.compile(
    r"[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_U64_MAX = 2**64 - 1


@dataclass(frozen=True, order=False)
class Version:
    """A semantic version ordered by precedence: build metadata is ignored, as the engine ignores it."""

    release: tuple[int, int, int]
    prerelease: tuple[tuple[int, int | str], ...]  # (0, number) sorts before (1, text), as semver says

    def key(self) -> tuple:
        # A release sorts after all of its pre-releases.
        return (self.release, 0 if self.prerelease else 1, self.prerelease)


def parse_rust_semver(text: str) -> Version | None:
    """The version the Rust `semver` crate reads from `text` (strict: no "v", no spaces), or None."""
    m = _RUST_SEMVER.fullmatch(text)
    if m is None:
        return None
    release = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if max(release) > _U64_MAX:
        return None
    pre = tuple((0, int(p)) if p.isdigit() else (1, p) for p in m.group(4).split(".")) if m.group(4) else ()
    return Version(release, pre)


# --- IP addresses --------------------------------------------------------------------------------------

_IP_CHARS = re.compile(r"[0-9A-Fa-f:.]+")


def parse_rust_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address Rust's `IpAddr::from_str` reads (no leading zeros, no zone index, no brackets), or None."""
    if _IP_CHARS.fullmatch(text) is None:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Network:
    """An IPv4 or IPv6 network; host bits in the written address are allowed and ignored."""

    version: int
    prefix: int
    masked: int

    def contains(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if address.version != self.version:
            return False
        shift = (32 if self.version == 4 else 128) - self.prefix
        return int(address) >> shift == self.masked


def parse_network(text: str) -> Network | None:
    """An "address" or "address/prefix" as the engine reads IN_CIDR values and remoteAddress IPs, or None."""
    address_text, slash, prefix_text = text.partition("/")
    address = parse_rust_ip(address_text)
    if address is None:
        return None
    width = 32 if address.version == 4 else 128
    if slash:
        # Rust's u8::from_str: an optional "+", ASCII digits, at most 255.
        if re.fullmatch(r"\+?[0-9]+", prefix_text) is None or int(prefix_text) > width:
            return None
        prefix = int(prefix_text)
    else:
        prefix = width
    return Network(address.version, prefix, int(address) >> (width - prefix))


# --- values written in a flag definition ---------------------------------------------------------------


class CompileError(ValueError):
    """The engine cannot compile the flag: Unleash SDKs then treat the whole flag as off for everyone."""


def typed_value(text: str) -> tuple[str, object]:
    """Read an ordinal constraint value the way the engine's grammar does: date, then semver, then number.

    The operator does not decide the type: NUM_EQ "1.2.3" compares versions, DATE_AFTER "12" compares numbers.
    Raises CompileError when the value is none of them (the whole flag then never enables).
    """
    value = text.strip(" \t")
    for kind, grammar in (("date", _GRAMMAR_DATE), ("semver", _GRAMMAR_SEMVER), ("number", _GRAMMAR_NUMBER)):
        m = grammar.match(value)
        if m is None:
            continue
        if m.end() != len(value):
            raise CompileError(f"{text!r} is not a number, a date or a version")
        if kind == "date":
            parsed = parse_chrono_datetime(value)
        elif kind == "semver":
            parsed = parse_rust_semver(value)
        else:
            parsed = float(value)
        if parsed is None:
            raise CompileError(f"{text!r} is not a valid {kind}")
        return kind, parsed
    raise CompileError(f"{text!r} is not a number, a date or a version")


def grammar_string(text: str, *, quotes_escaped: bool) -> str:
    """The string the engine's rule grammar reads back from `text` written between double quotes.

    The engine writes constraint values with their quotes escaped, but user ids, IPs, group ids and context
    names as they are. The grammar takes backslash-quote as an escaped quote and ends the string at the
    first other quote: a bare quote or a trailing backslash breaks the rule (CompileError).
    """
    raw = text.replace('"', '\\"') if quotes_escaped else text
    written = raw + '"'
    i = 0
    while written[i] != '"':
        i += 2 if written.startswith('\\"', i) else 1
        if i >= len(written):
            raise CompileError(f"{text!r} ends with a backslash the rule grammar cannot read")
    if i != len(written) - 1:
        raise CompileError(f"{text!r} contains a quote the rule grammar cannot read")
    return raw.replace('\\"', '"')


# --- regular expressions -------------------------------------------------------------------------------


class RegexInvalid(ValueError):
    """The Rust regex engine rejects the pattern: the constraint never matches (inversion still applies)."""


class RegexUnsupported(ValueError):
    """The pattern uses a Rust regex feature Python's `re` cannot reproduce exactly."""


_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_SIMPLE_ESCAPES = {"n": "\\n", "t": "\\t", "r": "\\r", "f": "\\f", "v": "\\v", "a": "\\a"}
_CLASS_SHORTHANDS = set("dDwWsS")
_MAX_REPEAT = 1000  # larger counts can exceed the Rust engine's size limit; not worth guessing


def _escape_literal(ch: str) -> str:
    return ch if ch.isalnum() or ch == "_" else "\\" + ch if ch.isascii() else ch


def compile_rust_regex(pattern: str, *, case_insensitive: bool) -> re.Pattern[str]:
    """Translate a Rust `regex` crate pattern into an equivalent Python pattern.

    Raises RegexInvalid where Rust rejects the pattern and RegexUnsupported where Python cannot match what
    Rust matches (Unicode classes \\p{..}, nested or set-operation character classes, swap-greed flags ...).
    """
    out = _RustRegexTranslator(pattern).translate()
    try:
        return re.compile(out, re.IGNORECASE if case_insensitive else 0)
    except re.error as exc:  # the translation only emits what Rust accepts, so this is a Rust error too
        raise RegexInvalid(str(exc)) from exc


class _RustRegexTranslator:
    """One pass over a Rust pattern; inline flags become scoped groups, "$" and "\\z" become "\\Z"."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.out: list[str] = []
        # One frame per open group: its flags (multiline?) and how many scoped-flag groups we opened in it.
        self.frames: list[dict] = [{"multiline": False, "scoped": []}]
        self.can_repeat = False  # is there an atom a quantifier could apply to
        self.last_was_quantifier = False

    def translate(self) -> str:
        while self.i < len(self.p):
            self.step()
        if len(self.frames) != 1:
            raise RegexInvalid("unclosed group")
        self.close_scoped(self.frames[0])
        return "".join(self.out)

    def peek(self, n: int = 1) -> str:
        return self.p[self.i : self.i + n]

    def emit_atom(self, text: str) -> None:
        self.out.append(text)
        self.can_repeat = True
        self.last_was_quantifier = False

    def emit_assertion(self, text: str) -> None:
        self.out.append(text)
        self.can_repeat = True  # Rust allows repeating an assertion; so does Python for these
        self.last_was_quantifier = False

    def close_scoped(self, frame: dict) -> None:
        self.out.append(")" * len(frame["scoped"]))

    def step(self) -> None:
        ch = self.p[self.i]
        if ch == "\\":
            self.escape()
        elif ch == "[":
            self.i += 1
            self.emit_atom(self.char_class())
        elif ch == "(":
            self.open_group()
        elif ch == ")":
            self.i += 1
            if len(self.frames) == 1:
                raise RegexInvalid("unopened group")
            frame = self.frames.pop()
            self.close_scoped(frame)
            self.emit_atom(")")
        elif ch == "|":
            self.i += 1
            frame = self.frames[-1]
            self.close_scoped(frame)
            self.out.append("|")
            self.out.extend(f"(?{flags}:" for flags in frame["scoped"])
            self.can_repeat = False
            self.last_was_quantifier = False
        elif ch in "*+?{":
            self.quantifier()
        elif ch == "$":
            self.i += 1
            self.emit_assertion("$" if self.frames[-1]["multiline"] else "\\Z")
        elif ch in "^.":
            self.i += 1
            self.emit_atom(ch)
        else:
            self.i += 1
            self.emit_atom(_escape_literal(ch))

    def quantifier(self) -> None:
        ch = self.p[self.i]
        if not self.can_repeat:
            raise RegexInvalid("repetition operator missing expression")
        if self.last_was_quantifier:
            raise RegexUnsupported("stacked repetition operators")
        if ch == "{":
            m = re.compile(r"\{([0-9]+)(,([0-9]*))?\}").match(self.p, self.i)
            if m is None:
                raise RegexInvalid("invalid counted repetition")
            low = int(m.group(1))
            high = int(m.group(3)) if m.group(3) else None
            if high is not None and high < low:
                raise RegexInvalid("invalid repetition range")
            if max(low, high or 0) > _MAX_REPEAT:
                raise RegexUnsupported("very large repetition count")
            text = m.group(0)
            self.i = m.end()
        else:
            text = ch
            self.i += 1
        if self.peek() == "?":
            text += "?"
            self.i += 1
        self.out.append(text)
        self.last_was_quantifier = True

    def open_group(self) -> None:
        parent = self.frames[-1]
        if self.peek(2) != "(?":
            self.i += 1
            self.push_frame("(", parent["multiline"])
            return
        m = re.compile(r"\(\?(?:P?<([^>]*)>|([A-Za-z-]*)(:|\)))").match(self.p, self.i)
        if m is None:
            # Look-around, atomic groups, comments, recursion: the Rust engine has none of them.
            raise RegexInvalid("unsupported group syntax")
        if m.group(1) is not None:
            name = m.group(1)
            if not name.isidentifier() or not name.isascii():
                raise RegexUnsupported("group name Python cannot use")
            self.i = m.end()
            self.push_frame(f"(?P<{name}>", parent["multiline"])
            return
        flags, terminator = m.group(2), m.group(3)
        on, _, off = flags.partition("-")
        letters = flags.replace("-", "")
        if not letters or flags.count("-") > 1 or flags.endswith("-") or len(set(letters)) != len(letters):
            raise RegexInvalid("invalid flag group")
        if set(flags) - set("imsUuxR-"):
            raise RegexInvalid("unknown flag")
        if set(flags) & set("UxR") or "u" in off:
            raise RegexUnsupported(f"flag group (?{flags}) has no exact Python equivalent")
        py_on = "".join(f for f in on if f in "ims")
        py_off = "".join(f for f in off if f in "ims")
        multiline = parent["multiline"]
        if "m" in on:
            multiline = True
        if "m" in off:
            multiline = False
        py_flags = py_on + ("-" + py_off if py_off else "")
        self.i = m.end()
        if terminator == ":":
            self.push_frame(f"(?{py_flags}:" if py_flags else "(?:", multiline)
            return
        # "(?i)" in the middle of a group: Rust applies it to the rest of the group, across "|" too.
        parent["multiline"] = multiline
        if py_flags:
            parent["scoped"].append(py_flags)
            self.out.append(f"(?{py_flags}:")
        self.can_repeat = False
        self.last_was_quantifier = False

    def push_frame(self, opener: str, multiline: bool) -> None:
        self.frames.append({"multiline": multiline, "scoped": []})
        self.out.append(opener)
        self.can_repeat = False
        self.last_was_quantifier = False

    def read_hex_escape(self, letter: str) -> str:
        """\\xHH, \\x{H..}, \\uHHHH, \\u{H..}, \\UHHHHHHHH, \\U{H..} after the letter; returns the code point."""
        if self.peek() == "{":
            end = self.p.find("}", self.i)
            digits = self.p[self.i + 1 : end] if end != -1 else ""
            self.i = end + 1 if end != -1 else len(self.p)
        else:
            width = {"x": 2, "u": 4, "U": 8}[letter]
            digits = self.peek(width)
            if len(digits) != width:
                raise RegexInvalid("short hex escape")
            self.i += width
        if not digits or re.fullmatch(r"[0-9A-Fa-f]{1,8}", digits) is None:
            raise RegexInvalid("invalid hex escape")
        code = int(digits, 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise RegexInvalid("invalid code point")
        return f"\\U{code:08x}"

    def escape(self) -> None:
        self.i += 1
        if self.i >= len(self.p):
            raise RegexInvalid("trailing backslash")
        ch = self.p[self.i]
        self.i += 1
        if ch in _CLASS_SHORTHANDS:
            self.emit_atom("\\" + ch)
        elif ch in "bB":
            if self.peek() == "{":
                raise RegexUnsupported("\\b{...} word boundaries")
            self.emit_assertion("\\" + ch)
        elif ch == "A":
            self.emit_assertion("\\A")
        elif ch == "z":
            self.emit_assertion("\\Z")
        elif ch in "<>":
            raise RegexUnsupported("\\< and \\> word boundaries")
        elif ch in "pP":
            raise RegexUnsupported("Unicode classes \\p{..}")
        elif ch in "xuU":
            self.emit_atom(self.read_hex_escape(ch))
        elif ch in _SIMPLE_ESCAPES:
            self.emit_atom(_SIMPLE_ESCAPES[ch])
        elif ch.isascii() and ch.isalnum():
            raise RegexInvalid(f"unknown escape \\{ch}")  # includes back-references \1 .. \9
        elif not ch.isascii():
            raise RegexUnsupported("escaped non-ASCII character")
        else:
            self.emit_atom("\\" + ch)

    def char_class(self) -> str:
        """Parse after "["; return an equivalent Python class."""
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        items: list[str] = []
        first = True
        while True:
            if self.i >= len(self.p):
                raise RegexInvalid("unclosed character class")
            ch = self.p[self.i]
            if ch == "]" and not first:
                self.i += 1
                break
            first = False
            if ch == "[":
                m = re.compile(r"\[:(\^?)([a-z]+):\]").match(self.p, self.i)
                if m is None:
                    raise RegexUnsupported("nested character classes")
                if m.group(2) not in _POSIX_CLASSES:
                    raise RegexInvalid("unknown POSIX class")
                if m.group(1):
                    raise RegexUnsupported("negated POSIX class inside a class")
                items.append(_POSIX_CLASSES[m.group(2)])
                self.i = m.end()
                continue
            if self.p.startswith(("&&", "--", "~~"), self.i):
                raise RegexUnsupported("character class set operations")
            text, char = self.class_atom()
            starts_range = self.peek() == "-" and self.p[self.i + 1 : self.i + 2] not in ("", "]")
            if char is None:  # a shorthand such as \d cannot start a range
                if starts_range:
                    raise RegexInvalid("invalid range in character class")
                items.append(text)
                continue
            if starts_range:
                self.i += 1
                end_text, end_char = self.class_atom()
                if end_char is None:
                    raise RegexInvalid("invalid range in character class")
                if ord(end_char) < ord(char):
                    raise RegexInvalid("reversed range in character class")
                items.append(f"{text}-{end_text}")
            else:
                items.append(text)
        return "[" + ("^" if negated else "") + "".join(items) + "]"

    def class_atom(self) -> tuple[str, str | None]:
        """One class member: (python text, the character), or (text, None) for a shorthand such as "\\d"."""
        ch = self.p[self.i]
        self.i += 1
        if ch != "\\":
            return _escape_literal(ch), ch
        if self.i >= len(self.p):
            raise RegexInvalid("trailing backslash")
        ch = self.p[self.i]
        self.i += 1
        if ch in _CLASS_SHORTHANDS:
            return "\\" + ch, None
        if ch in "pP":
            raise RegexUnsupported("Unicode classes \\p{..}")
        if ch in "xuU":
            text = self.read_hex_escape(ch)
            return text, chr(int(text[2:], 16))
        if ch in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[ch], _SIMPLE_ESCAPES[ch].encode().decode("unicode_escape")
        if ch.isascii() and ch.isalnum():
            raise RegexInvalid(f"unknown escape \\{ch} in character class")
        if not ch.isascii():
            raise RegexUnsupported("escaped non-ASCII character")
        return "\\" + ch, ch
