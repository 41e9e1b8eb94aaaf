"""DynamoDB native export lines in ION format: :func:`ion_line_to_item`.

A small recursive-descent reader for the part of Ion text an item can hold: strings, symbols,
decimals, ints, floats read as exact decimals, blobs, lists, structs, bools, nulls and the
``$dynamodb_SS/NS/BS`` set annotations. Whatever else Ion has, DynamoDB's exports never contain,
and it is refused with a message. :mod:`.ion_writer` writes the same lines back.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional

from ddbpipe.errors import ExportFormatError
from ddbpipe.formats.values import (
    MAX_DIGITS,
    MAX_EXP,
    MIN_EXP,
    AttributeValue,
    BadValue,
    Item,
    decode_base64,
    format_error,
    short_repr,
)

_FIX_ION = (
    'DynamoDB ION export lines look like $ion_1_0 {Item:{Id:1.,Name:"x"}}; check that the '
    "file comes from the export's data/ folder and was not truncated or edited."
)

_ION_WS = " \t\n\r\v\f"
_ION_PLAIN_START = frozenset('"{[(-+0123456789')
_ION_QUOTED_SPECIAL = {q: re.compile("[" + q + "\\\\\n\r]") for q in "\"'"}
_ION_LONG_SPECIAL = re.compile(r"'''|[\\\r]")
_ION_TOKEN_RE = re.compile(r"[^{}\[\](),\"' \t\n\r\v\f]*")
_ION_IDENT_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_ION_SHORT_STR_RE = re.compile(r'"([^"\\\n\r]*)"')
_ION_INT_RE = re.compile(r"(-?)(0|[1-9](?:_?[0-9])*)")
_ION_RADIX_RE = re.compile(r"-?0(?:[xX][0-9a-fA-F](?:_?[0-9a-fA-F])*|[bB][01](?:_?[01])*)")
_ION_REAL_RE = re.compile(
    r"(-?)(0|[1-9](?:_?[0-9])*)(?:\.([0-9](?:_?[0-9])*)?)?"
    r"(?:([dDeE])([+-]?[0-9](?:_?[0-9])*))?"
)
_ION_TIMESTAMP_RE = re.compile(r"[0-9]{4}(?:T|-[0-9])")
_ION_NULL_TYPES = frozenset(
    {
        *("null", "bool", "int", "float", "decimal", "timestamp", "string"),
        *("symbol", "blob", "clob", "struct", "list", "sexp"),
    }
)
_ION_SIMPLE_ESCAPES = {
    "0": "\x00",
    "a": "\x07",
    "b": "\x08",
    "t": "\t",
    "n": "\n",
    "f": "\x0c",
    "r": "\r",
    "v": "\x0b",
    '"': '"',
    "'": "'",
    "?": "?",
    "\\": "\\",
    "/": "/",
}
_HEX = frozenset("0123456789abcdefABCDEF")
_ION_SET_ANNOTATIONS = {"$dynamodb_SS": "SS", "$dynamodb_NS": "NS", "$dynamodb_BS": "BS"}
_ION_MAX_DEPTH = 64  # DynamoDB allows 32 levels; deeper input is rejected, not recursed into


def _ion_decimal_text(negative: bool, int_part: str, frac_part: str, exponent: int) -> str:
    """Plain DynamoDB number text of an Ion decimal, keeping its trailing fractional zeros."""
    digits = (int_part + frac_part).lstrip("0")
    if not digits:
        return "0"
    scale = exponent - len(frac_part)  # value = digits x 10**scale
    lead = scale + len(digits) - 1
    sig = digits.rstrip("0")
    if len(sig) > MAX_DIGITS:
        raise BadValue(f"number has {len(sig)} significant digits, DynamoDB allows 38")
    if lead > MAX_EXP:
        raise BadValue("number is larger than DynamoDB's 9.99...E+125")
    if lead < MIN_EXP:
        raise BadValue("number is smaller than DynamoDB's 1E-130")
    if scale >= 0:
        text = digits + "0" * scale
    elif len(digits) > -scale:
        text = digits[:scale] + "." + digits[scale:]
    else:
        text = "0." + "0" * (-scale - len(digits)) + digits
    return "-" + text if negative else text


class _IonReader:
    """A recursive-descent reader for the part of Ion text that can hold a DynamoDB item."""

    __slots__ = ("i", "n", "s")

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.n = len(text)

    # -- lexical helpers ------------------------------------------------------------------------

    def fail(self, message: str) -> BadValue:
        return BadValue(f"{message} at column {self.i + 1}")

    def skip_ws(self) -> None:
        s, n, i = self.s, self.n, self.i
        while i < n:
            c = s[i]
            if c in _ION_WS:
                i += 1
            elif c == "/" and i + 1 < n and s[i + 1] == "/":
                end = s.find("\n", i)
                i = n if end < 0 else end + 1
            elif c == "/" and i + 1 < n and s[i + 1] == "*":
                end = s.find("*/", i + 2)
                if end < 0:
                    self.i = i
                    raise self.fail("unterminated /* comment")
                i = end + 2
            else:
                break
        self.i = i

    def peek(self) -> str:
        return self.s[self.i] if self.i < self.n else ""

    def expect(self, char: str) -> None:
        self.skip_ws()
        if self.peek() != char:
            got = repr(self.peek()) if self.i < self.n else "the end of the line"
            raise self.fail(f"expected {char!r}, found {got}")
        self.i += 1

    def read_escape(self, out: List[str]) -> None:
        """Read the escape after a backslash at ``self.i`` (already past the backslash)."""
        s, i = self.s, self.i
        if i >= self.n:
            raise self.fail("unterminated escape")
        c = s[i]
        simple = _ION_SIMPLE_ESCAPES.get(c)
        if simple is not None:
            out.append(simple)
            self.i = i + 1
            return
        if c == "\n":  # escaped newline: nothing
            self.i = i + 1
            return
        if c == "\r":
            self.i = i + 2 if s.startswith("\n", i + 1) else i + 1
            return
        width = {"x": 2, "u": 4, "U": 8}.get(c)
        if width is None:
            raise self.fail(f"invalid escape \\{c}")
        hex_text = s[i + 1 : i + 1 + width]
        if len(hex_text) != width or not all(h in _HEX for h in hex_text):
            raise self.fail(f"invalid escape \\{c}{hex_text}")
        code = int(hex_text, 16)
        self.i = i + 1 + width
        if 0xDC00 <= code <= 0xDFFF:
            raise self.fail("lone low surrogate in escape")
        if 0xD800 <= code <= 0xDBFF:
            # A UTF-16 pair written as two \u escapes; anything else is not Unicode text.
            low = s[self.i : self.i + 6]
            if len(low) == 6 and low.startswith("\\u") and all(h in _HEX for h in low[2:]):
                low_code = int(low[2:], 16)
                if 0xDC00 <= low_code <= 0xDFFF:
                    self.i += 6
                    out.append(chr(0x10000 + ((code - 0xD800) << 10) + (low_code - 0xDC00)))
                    return
            raise self.fail("lone high surrogate in escape")
        if code > 0x10FFFF:
            raise self.fail(f"escape \\{c}{hex_text} is not a Unicode code point")
        out.append(chr(code))

    def read_quoted(self, quote: str) -> str:
        """Read a short string or quoted symbol body; ``self.i`` is just past the opening quote."""
        s = self.s
        special = _ION_QUOTED_SPECIAL[quote]
        out: List[str] = []
        start = self.i
        while True:
            m = special.search(s, start)
            if m is None:
                self.i = self.n
                raise self.fail("unterminated string")
            i = m.start()
            out.append(s[start:i])
            c = s[i]
            if c == quote:
                self.i = i + 1
                return "".join(out)
            if c == "\\":
                self.i = i + 1
                self.read_escape(out)
                start = self.i
                continue
            self.i = i
            raise self.fail("unescaped newline in a quoted string")

    def read_long_strings(self) -> str:
        """Read one or more adjacent ``'''...'''`` strings (concatenated); at the first ``'''``."""
        s, n = self.s, self.n
        parts: List[str] = []
        while True:
            start = self.i + 3
            while True:
                m = _ION_LONG_SPECIAL.search(s, start)
                if m is None:
                    self.i = n
                    raise self.fail("unterminated ''' string")
                i = m.start()
                parts.append(s[start:i])
                c = s[i]
                if c == "'":  # the closing '''
                    self.i = i + 3
                    break
                if c == "\\":
                    self.i = i + 1
                    self.read_escape(parts)
                    start = self.i
                    continue
                # A raw CR or CRLF inside a long string reads as LF.
                parts.append("\n")
                start = i + 2 if s.startswith("\n", i + 1) else i + 1
            save = self.i
            self.skip_ws()
            if not self.s.startswith("'''", self.i):
                self.i = save
                return "".join(parts)

    def read_symbol_token(self) -> Optional[str]:
        """Read an identifier or a quoted symbol; return None if there is none here."""
        c = self.peek()
        if c == "'":
            if self.s.startswith("'''", self.i):
                return None
            self.i += 1
            return self.read_quoted("'")
        m = _ION_IDENT_RE.match(self.s, self.i)
        if m is None:
            return None
        self.i = m.end()
        return m.group()

    # -- values -----------------------------------------------------------------------------

    def read_field_name(self) -> str:
        self.skip_ws()
        c = self.peek()
        if c == '"':
            self.i += 1
            return self.read_quoted('"')
        if c == "'" and self.s.startswith("'''", self.i):
            return self.read_long_strings()
        start = self.i
        name = self.read_symbol_token()
        if name is None:
            raise self.fail(f"expected a field name, found {c!r}" if c else "unexpected end")
        if c != "'" and name[0] == "$" and name[1:].isdigit():
            self.i = start
            raise self.fail(f"symbol ID {name} needs a symbol table, which is not supported")
        return name

    def read_value(self, depth: int) -> AttributeValue:
        self.skip_ws()
        if depth > _ION_MAX_DEPTH:
            raise self.fail("value is nested too deeply")
        if self.i < self.n and self.s[self.i] in _ION_PLAIN_START:
            return self.read_plain_value(depth)  # cannot be annotated: no symbol token here
        annotation = None
        # Annotations: symbol tokens followed by '::'.
        while True:
            c = self.peek()
            if c != "'" and _ION_IDENT_RE.match(self.s, self.i) is None:
                break
            save = self.i
            token = self.read_symbol_token()
            if token is None:
                break
            self.skip_ws()
            if self.s.startswith("::", self.i):
                if annotation is not None:
                    self.i = save
                    raise self.fail("more than one annotation on a value")
                annotation = token
                if annotation not in _ION_SET_ANNOTATIONS:
                    self.i = save
                    raise self.fail(
                        f"unsupported annotation {annotation!r} (only $dynamodb_SS, "
                        "$dynamodb_NS and $dynamodb_BS are known)"
                    )
                self.i += 2
                self.skip_ws()
                continue
            self.i = save
            break
        if annotation is not None:
            if self.peek() != "[":
                raise self.fail(f"{annotation} must annotate a list")
            return self.read_set(_ION_SET_ANNOTATIONS[annotation], depth)
        return self.read_plain_value(depth)

    def read_plain_value(self, depth: int) -> AttributeValue:
        s, i = self.s, self.i
        c = self.peek()
        if c == "{":
            if s.startswith("{{", i):
                return {"B": self.read_blob()}
            return {"M": self.read_struct(depth)}
        if c == "[":
            return {"L": self.read_list(depth)}
        if c == '"':
            m = _ION_SHORT_STR_RE.match(s, i)
            if m is not None:
                self.i = m.end()
                return {"S": m.group(1)}
            self.i += 1
            return {"S": self.read_quoted('"')}
        if c == "'":
            if s.startswith("'''", i):
                return {"S": self.read_long_strings()}
            self.i += 1
            return {"S": self.read_quoted("'")}  # a quoted symbol: its text
        if c == "(":
            raise self.fail("s-expressions are not DynamoDB values")
        if c == "-" or c == "+" or c.isdigit():
            return {"N": self.read_number()}
        m = _ION_IDENT_RE.match(s, i)
        if m is not None:
            word = m.group()
            self.i = m.end()
            if word == "true":
                return {"BOOL": True}
            if word == "false":
                return {"BOOL": False}
            if word == "null":
                if self.peek() == ".":
                    m2 = _ION_IDENT_RE.match(s, self.i + 1)
                    if m2 is None or m2.group() not in _ION_NULL_TYPES:
                        raise self.fail("invalid typed null")
                    self.i = m2.end()
                return {"NULL": True}
            if word == "nan":
                self.i = i
                raise self.fail("nan is not a DynamoDB number")
            if word[0] == "$" and word[1:].isdigit():
                self.i = i
                raise self.fail(f"symbol ID {word} needs a symbol table, which is not supported")
            return {"S": word}  # an unquoted symbol: its text
        if not c:
            raise self.fail("unexpected end of the line, expected a value")
        raise self.fail(f"unexpected character {c!r}")

    def read_number(self) -> str:
        start = self.i
        m = _ION_TOKEN_RE.match(self.s, start)
        assert m is not None  # the pattern matches the empty string
        token = m.group()
        self.i = m.end()
        try:
            return self.number_text(token)
        except BadValue as err:
            self.i = start
            raise self.fail(f"{err.message} ({short_repr(token)})") from None

    @staticmethod
    def number_text(token: str) -> str:
        m = _ION_INT_RE.fullmatch(token)
        if m is not None:
            digits = m.group(2).replace("_", "").lstrip("0") or "0"
            if digits != "0":
                sig = digits.rstrip("0")
                if len(sig) > MAX_DIGITS:
                    raise BadValue(f"integer has {len(sig)} significant digits, DynamoDB allows 38")
                if len(digits) - 1 > MAX_EXP:
                    raise BadValue("integer is larger than DynamoDB's 9.99...E+125")
            return "-" + digits if m.group(1) and digits != "0" else digits
        if _ION_RADIX_RE.fullmatch(token):
            if len(token) > 450:
                raise BadValue("integer is larger than DynamoDB's 9.99...E+125")
            value = int(token.replace("_", ""), 0)
            return _ion_decimal_text(value < 0, str(abs(value)), "", 0)
        m = _ION_REAL_RE.fullmatch(token)
        if m is not None:
            sign, int_part, frac_part, marker, exp_text = m.groups()
            exp_digits = (exp_text or "0").replace("_", "")
            body = exp_digits.lstrip("+-").lstrip("0")
            if len(body) > 12:
                if (int_part + (frac_part or "")).replace("_", "").strip("0") == "":
                    return "0"
                big = exp_digits[0] != "-"
                raise BadValue(
                    "number is larger than DynamoDB's 9.99...E+125"
                    if big
                    else "number is smaller than DynamoDB's 1E-130"
                )
            # Ion floats (e/E) are read from their text as exact decimals.
            return _ion_decimal_text(
                bool(sign),
                int_part.replace("_", ""),
                (frac_part or "").replace("_", ""),
                int(exp_digits),
            )
        if token in ("+inf", "-inf"):
            raise BadValue(f"{token} is not a DynamoDB number")
        if _ION_TIMESTAMP_RE.match(token):
            raise BadValue("timestamps are not DynamoDB values")
        raise BadValue("invalid number")

    def read_blob(self) -> bytes:
        start = self.i
        end = self.s.find("}}", start + 2)
        if end < 0:
            raise self.fail("unterminated {{ blob }}")
        body = self.s[start + 2 : end]
        stripped = body.strip(_ION_WS)
        if stripped[:1] == '"' or stripped[:3] == "'''":
            raise self.fail("clobs are not DynamoDB values")
        text = "".join(body.split())
        try:
            data = decode_base64(text)
        except BadValue as err:
            raise self.fail(err.message) from None
        self.i = end + 2
        return data

    def read_struct(self, depth: int) -> Dict[str, AttributeValue]:
        self.i += 1  # '{'
        out: Dict[str, AttributeValue] = {}
        while True:
            self.skip_ws()
            if self.peek() == "}":
                self.i += 1
                return out
            name = self.read_field_name()
            if self.s.startswith(":", self.i) and not self.s.startswith("::", self.i):
                self.i += 1  # the usual compact form, name:value
            else:
                self.skip_ws()
                if self.s.startswith("::", self.i):
                    raise self.fail("a field name cannot be annotated")
                self.expect(":")
            try:
                value = self.read_value(depth + 1)
            except BadValue as err:
                err.path.append(name)
                raise
            if name in out:
                raise BadValue(f"field {name!r} appears twice")
            out[name] = value
            self.skip_ws()
            c = self.peek()
            if c == ",":
                self.i += 1
            elif c != "}":
                raise self.fail("expected ',' or '}' in a struct")

    def read_list(self, depth: int) -> List[AttributeValue]:
        self.i += 1  # '['
        out: List[AttributeValue] = []
        while True:
            self.skip_ws()
            if self.peek() == "]":
                self.i += 1
                return out
            try:
                out.append(self.read_value(depth + 1))
            except BadValue as err:
                err.path.append(len(out))
                raise
            self.skip_ws()
            c = self.peek()
            if c == ",":
                self.i += 1
            elif c != "]":
                raise self.fail("expected ',' or ']' in a list")

    def read_set(self, t: str, depth: int) -> AttributeValue:
        elements = self.read_list(depth)
        if not elements:
            raise self.fail(f"empty {t} set (DynamoDB sets have at least one member)")
        want = t[0]  # S, N or B
        members = []
        for index, element in enumerate(elements):
            for et, ev in element.items():
                if et != want:
                    err = BadValue(f"{t} members must be {want} values, got {et}")
                    err.path.append(index)
                    raise err
                members.append(ev)
        if len(set(members)) != len(members):
            raise BadValue(f"{t} set has duplicate members")
        return {t: members}


def ion_line_fields(line: str, fix: str = _FIX_ION,
                    expected: str = "a struct with an Item field") -> Dict[str, AttributeValue]:
    """The fields of a line's one Ion struct (after its optional ``$ion_1_0`` marker), each
    read as an AttributeValue: what :func:`ion_line_to_item` and the incremental export reader
    (:mod:`ddbpipe.formats.incremental`) take their members from.

    Raises:
        ExportFormatError: the line is blank, holds no struct or more than one value.
    """
    if not line.strip(_ION_WS):
        raise ExportFormatError("the line is blank.", "Skip blank lines before decoding.")
    reader = _IonReader(line)
    outer: Optional[Dict[str, AttributeValue]] = None
    try:
        while True:
            reader.skip_ws()
            if reader.i >= reader.n:
                break
            m = _ION_IDENT_RE.match(line, reader.i)
            if m is not None and m.group().startswith("$ion_"):
                if line[m.end() :].lstrip(_ION_WS).startswith("::"):
                    raise reader.fail(f"{m.group()}:: values (symbol tables) are not supported")
                if m.group() != "$ion_1_0":
                    raise reader.fail(f"unsupported Ion version marker {m.group()}")
                reader.i = m.end()
                continue
            if outer is not None:
                raise reader.fail("more than one value on the line")
            start = reader.i
            outer = reader.read_value(0).get("M")
            if outer is None:
                reader.i = start
                raise reader.fail(f"expected {expected}")
    except BadValue as err:
        if err.path and err.path[-1] == "Item":
            err.path.pop()
        raise format_error(err, fix) from None
    if outer is None:
        raise ExportFormatError("the line holds no item, only an Ion version marker.", fix)
    return outer


def ion_line_to_item(line: str) -> Item:
    """Parse one line of a DynamoDB native export in ION format.

    The line is ``$ion_1_0 {Item:{...}}``. Mapping: string and symbol -> S; decimal and int -> N
    as plain decimal text of the exact value (``103.`` -> ``"103"``, ``1.5d2`` -> ``"150"``,
    ``1d-3`` -> ``"0.001"``, ``1.50`` -> ``"1.50"``; an Ion float's *text* is read the same way,
    never through a binary float); blob -> B; ``$dynamodb_SS/NS/BS::[...]`` -> sets; list -> L;
    struct -> M; bool -> BOOL; ``null`` and typed nulls -> NULL. Timestamps, clobs, s-expressions,
    other annotations, symbol IDs (``$10``) and local symbol tables are rejected: DynamoDB's
    exports never contain them.

    Raises:
        ExportFormatError: the line is blank or malformed; the message says what and where.
    """
    outer = ion_line_fields(line)
    try:
        if "Item" not in outer:
            raise BadValue("expected a struct with an Item field")
        if len(outer) != 1:
            others = sorted(k for k in outer if k != "Item")
            raise BadValue(f"unexpected fields {others} next to Item")
        body = outer["Item"].get("M")
        if body is None:
            raise BadValue("Item is not a struct")
    except BadValue as err:
        raise format_error(err, _FIX_ION) from None
    return body
