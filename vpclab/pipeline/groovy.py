"""A reader for the Groovy that a declarative Jenkinsfile is made of: blocks, calls and literal
arguments. It knows no Jenkins meaning (vpclab.pipeline.jenkinsfile gives it); it only turns
text into nodes that keep their line numbers, so every later error can name its line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from vpclab.errors import VpclabError


class JenkinsfileError(VpclabError):
    """The Jenkinsfile cannot be read or uses what the local runner does not support."""

    def __init__(self, line: int, problem: str, fix: str | None = None) -> None:
        super().__init__(
            f"Jenkinsfile line {line}: {problem}",
            fix or "use the supported subset (see 'vpclab pipeline --help')",
        )
        self.line = line


@dataclass(frozen=True)
class Call:
    """`name(args)` used as a value, e.g. string(credentialsId: 'x', variable: 'Y')."""

    name: str
    args: Args
    line: int


@dataclass(frozen=True)
class Args:
    positional: list[Any] = field(default_factory=list)
    named: dict[str, Any] = field(default_factory=dict)

    def first(self) -> Any:
        return self.positional[0] if self.positional else None


@dataclass(frozen=True)
class Node:
    """One statement: `name args`, `name(args)`, `name(args) { body }` or `NAME = value`."""

    name: str
    args: Args
    body: list[Node] | None
    line: int
    assign: Any = None  # the value of `NAME = value`


@dataclass(frozen=True)
class Token:
    kind: str  # name, str, gstr, num, op, nl
    text: str
    line: int


_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r]+|\\\n)
      | (?P<comment>//[^\n]*|/\*.*?\*/)
      | (?P<nl>\n|;)
      | (?P<tstr>'''.*?'''|\"\"\".*?\"\"\")
      | (?P<str>'(?:[^'\\\n]|\\.)*')
      | (?P<gstr>"(?:[^"\\\n]|\\.)*")
      | (?P<num>\d+(?:\.\d+)?)
      | (?P<name>[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)
      | (?P<op>[{}()\[\],:=])""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"', "$": "$"}


def _unquote(text: str) -> str:
    quote = 3 if text[:3] in ("'''", '"""') else 1
    body = text[quote:-quote]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], "\\" + m[1]), body)


def tokenize(text: str) -> list[Token]:
    tokens, pos, line = [], 0, 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise JenkinsfileError(line, f"cannot read {text[pos : pos + 20].split()[0]!r}")
        kind, raw = match.lastgroup or "", match[0]
        if kind in ("tstr", "str"):
            tokens.append(Token("gstr" if raw.startswith('"') else "str", _unquote(raw), line))
        elif kind == "gstr":
            tokens.append(Token("gstr", _unquote(raw), line))
        elif kind == "nl":
            tokens.append(Token("nl", raw, line))
        elif kind in ("num", "name", "op"):
            tokens.append(Token(kind, raw, line))
        line += raw.count("\n")
        pos = match.end()
    tokens.append(Token("eof", "", line))
    return tokens


@dataclass
class GString:
    """A double-quoted Groovy string: `${...}` in it is interpolated when it is used."""

    text: str


class _Reader:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens, self.i = tokens, 0

    def peek(self, skip_nl: bool = False) -> Token:
        j = self.i
        while skip_nl and self.tokens[j].kind == "nl":
            j += 1
        return self.tokens[j]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def skip_nl(self) -> None:
        while self.peek().kind == "nl":
            self.i += 1

    def expect(self, text: str) -> Token:
        self.skip_nl()
        tok = self.take()
        if tok.text != text or tok.kind not in ("op",):
            raise JenkinsfileError(tok.line, f"expected {text!r}, found {tok.text or 'the end'!r}")
        return tok

    def statements(self, until: str) -> list[Node]:
        nodes = []
        while True:
            self.skip_nl()
            tok = self.peek()
            if (until == "}" and tok.text == "}" and tok.kind == "op") or (
                until == "eof" and tok.kind == "eof"
            ):
                return nodes
            if tok.kind == "eof":
                raise JenkinsfileError(tok.line, "a '{' is never closed")
            nodes.append(self.statement())

    def statement(self) -> Node:
        tok = self.take()
        if tok.kind != "name":
            raise JenkinsfileError(tok.line, f"unexpected {tok.text!r}")
        nxt = self.peek()
        if nxt.kind == "op" and nxt.text == "=":
            self.take()
            return Node(tok.text, Args(), None, tok.line, assign=self.value())
        args = Args()
        if nxt.kind == "op" and nxt.text == "(":
            self.take()
            args = self.arguments(")")
        elif nxt.kind not in ("nl", "eof") and not (nxt.kind == "op" and nxt.text in "{}"):
            args = self.arguments(None)
        body = None
        if self.peek().kind == "op" and self.peek().text == "{":
            self.take()
            body = self.statements("}")
            self.expect("}")
        return Node(tok.text, args, body, tok.line)

    def arguments(self, close: str | None) -> Args:
        positional: list[Any] = []
        named: dict[str, Any] = {}
        while True:
            if close:
                self.skip_nl()
            tok = self.peek()
            if close and tok.kind == "op" and tok.text == close:
                self.take()
                return Args(positional, named)
            if not close and (tok.kind in ("nl", "eof") or tok.text in ("{", "}")):
                return Args(positional, named)
            after = self.tokens[self.i + 1]
            if tok.kind in ("name", "str") and after.kind == "op" and after.text == ":":
                self.take()
                self.take()
                named[tok.text] = self.value()
            else:
                positional.append(self.value())
            if close:
                self.skip_nl()
            if self.peek().kind == "op" and self.peek().text == ",":
                self.take()
                self.skip_nl()  # a call's arguments may go on after a comma
            elif close and not (self.peek().kind == "op" and self.peek().text == close):
                bad = self.peek()
                raise JenkinsfileError(bad.line, f"expected ',' or {close!r}, found {bad.text!r}")

    def value(self) -> Any:
        tok = self.take()
        if tok.kind == "str":
            return tok.text
        if tok.kind == "gstr":
            return GString(tok.text) if "$" in tok.text else tok.text
        if tok.kind == "num":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "op" and tok.text == "[":
            items = self.arguments("]")
            return items.named if items.named else items.positional
        if tok.kind == "name":
            if tok.text in ("true", "false"):
                return tok.text == "true"
            if self.peek().kind == "op" and self.peek().text == "(":
                self.take()
                return Call(tok.text, self.arguments(")"), tok.line)
            return Call(tok.text, Args(), tok.line)  # a bare name (any, none, ...)
        raise JenkinsfileError(tok.line, f"unexpected {tok.text or 'end of file'!r}")


def parse(text: str) -> list[Node]:
    """The top-level statements of a Groovy file (a declarative Jenkinsfile)."""
    reader = _Reader(tokenize(text))
    return reader.statements("eof")
