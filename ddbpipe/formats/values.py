"""The value rules every format shares: item types, numbers as exact text, base64, errors.

An item is the boto3 low-level shape described in :mod:`ddbpipe.formats`. Numbers are checked
against DynamoDB's rules and kept as the text written, never a float; binary is strict, padded,
canonical base64. :class:`BadValue` is how the readers and writers of this package report a
malformed value while they unwind (collecting the attribute path); :func:`format_error` turns it
into the :class:`~ddbpipe.errors.ExportFormatError` callers see, and :func:`with_context` adds
where the line came from.
"""

from __future__ import annotations

import binascii
import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Tuple

from ddbpipe.errors import ExportFormatError

#: One DynamoDB value in the boto3 low-level shape: a one-key dict such as ``{"N": "1.50"}``.
AttributeValue = Dict[str, Any]
#: An item: attribute name -> AttributeValue.
Item = Dict[str, AttributeValue]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class BadValue(Exception):
    """A value is malformed. ``path`` collects attribute names while unwinding.

    Raised and caught inside this package only: the readers turn it into an
    :class:`~ddbpipe.errors.ExportFormatError` (:func:`format_error`), the writer and the
    public helpers into a :class:`ValueError`.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: List[Any] = []


def encode_members(values: Iterable[Any], encode: Callable[[Any], str]) -> List[str]:
    """``encode`` each value of a list; a :class:`BadValue` leaves with its index in the path."""
    parts: List[str] = []
    for sub in values:
        try:
            parts.append(encode(sub))
        except BadValue as err:
            err.path.append(len(parts))
            raise
    return parts


def encode_fields(fields: Mapping[Any, Any], name: Callable[[Any], str],
                  encode: Callable[[Any], str]) -> List[str]:
    """``name:value`` of each field of a map; a :class:`BadValue` leaves with the field's name
    in the path."""
    parts: List[str] = []
    for key, sub in fields.items():
        try:
            parts.append(name(key) + ":" + encode(sub))
        except BadValue as err:
            err.path.append(key)
            raise
    return parts


def path_text(path: List[Any]) -> str:
    out = ""
    for part in reversed(path):
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def format_error(err: BadValue, fix: str) -> ExportFormatError:
    if err.path:
        return ExportFormatError(f"attribute {path_text(err.path)!r}: {err.message}.", fix)
    return ExportFormatError(f"{err.message}.", fix)


def with_context(err: ExportFormatError, where: str) -> ExportFormatError:
    """Return a copy of ``err`` whose message starts with ``where`` (e.g. ``"s3://b/k line 7"``)."""
    return type(err)(f"{where}: {err.what}", err.fix)


def short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------

# sign, integer digits, fraction digits, exponent. At least one digit is checked separately.
_NUMBER_RE = re.compile(r"(-?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")

MAX_DIGITS = 38
MAX_EXP = 125  # largest exponent of the leading digit: 9.99...E+125
MIN_EXP = -130  # smallest exponent of the leading digit: 1E-130


def number_parts(s: str) -> Tuple[bool, str, int]:
    """Parse a DynamoDB number: (negative, significant digits, exponent of the first digit).

    Significant digits have leading and trailing zeros removed; zero is ``(neg, "", 0)``.
    Raises :class:`BadValue` when the text is not a number or is out of DynamoDB's range.
    """
    m = _NUMBER_RE.fullmatch(s)
    if m is None:
        raise BadValue(f"{short_repr(s)} is not a number")
    sign, int_part, frac_part, exp_text = m.groups()
    frac_part = frac_part or ""
    if not int_part and not frac_part:
        raise BadValue(f"{short_repr(s)} is not a number")
    digits = int_part + frac_part
    stripped = digits.lstrip("0")
    if not stripped:
        return bool(sign), "", 0
    sig = stripped.rstrip("0")
    if len(sig) > MAX_DIGITS:
        raise BadValue(
            f"number {short_repr(s)} has {len(sig)} significant digits, DynamoDB allows 38"
        )
    exponent = 0
    if exp_text:
        body = exp_text.lstrip("+-").lstrip("0")
        if len(body) > 12:  # far outside the range whatever the digits; avoid a huge int()
            exponent = -(10**13) if exp_text[0] == "-" else 10**13
        else:
            exponent = int(exp_text)
    # Position of the first significant digit relative to the decimal point.
    lead = exponent + len(int_part) - (len(digits) - len(stripped)) - 1
    if lead > MAX_EXP:
        raise BadValue(f"number {short_repr(s)} is larger than DynamoDB's 9.99...E+125")
    if lead < MIN_EXP:
        raise BadValue(f"number {short_repr(s)} is smaller than DynamoDB's 1E-130")
    return bool(sign), sig, lead


# Short plain decimals (at most 38 characters, no exponent) are always within DynamoDB's range
# and precision, so the common case needs one regex match instead of a full parse.
simple_number = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)").fullmatch


def is_simple_number(v: Any) -> bool:
    return (
        type(v) is str
        and len(v) <= MAX_DIGITS
        and ((v.isdigit() and v.isascii()) or simple_number(v) is not None)
    )


def check_number(s: Any) -> str:
    """Validate a number's text (fast path for short plain numbers); raise :class:`BadValue`."""
    if type(s) is not str:
        raise BadValue(f"a number must be given as a string, got {short_repr(s)}")
    if not is_simple_number(s):
        number_parts(s)
    return s


def validate_number(s: str) -> str:
    """Check ``s`` against DynamoDB's number rules and return it unchanged (``"1.50"`` stays).

    Syntax: optional ``-``, digits with an optional fraction (``12``, ``1.5``, ``.5``, ``5.``),
    optional exponent (``e``/``E``, optional sign). At most 38 significant digits (leading and
    trailing zeros do not count); a non-zero magnitude between 1E-130 and
    9.9999999999999999999999999999999999999E+125. A leading ``+``, spaces, ``NaN`` and
    ``Infinity`` are rejected.

    Raises:
        ValueError: ``s`` is not a valid DynamoDB number; the message says why.
    """
    try:
        return check_number(s)
    except BadValue as err:
        raise ValueError(err.message) from None


def _plain(negative: bool, sig: str, lead: int) -> str:
    """Plain decimal text (no exponent) of ``0.sig x 10**(lead+1)``, ``sig`` non-empty."""
    if lead >= len(sig) - 1:
        text = sig + "0" * (lead - len(sig) + 1)
    elif lead >= 0:
        text = sig[: lead + 1] + "." + sig[lead + 1 :]
    else:
        text = "0." + "0" * (-lead - 1) + sig
    return "-" + text if negative else text


def normalize_number(s: str) -> str:
    """DynamoDB's canonical text for a number, as it returns numbers: ``"1.50e2"`` -> ``"150"``.

    Plain notation, no leading or trailing zeros, ``"0"`` for any zero. Use it to compare numbers
    (keys, set members), never to rewrite what a user wrote.

    Raises:
        ValueError: ``s`` is not a valid DynamoDB number.
    """
    try:
        if type(s) is not str:
            raise BadValue(f"a number must be given as a string, got {short_repr(s)}")
        negative, sig, lead = number_parts(s)
    except BadValue as err:
        raise ValueError(err.message) from None
    if not sig:
        return "0"
    return _plain(negative, sig, lead)


# --------------------------------------------------------------------------------------------
# Base64
# --------------------------------------------------------------------------------------------

_B64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_INDEX = {c: i for i, c in enumerate(_B64_ALPHABET)}


def check_base64(text: Any) -> str:
    """``text`` itself when it is standard, padded, canonical base64 (what DynamoDB's wire JSON
    carries for binary); raises :class:`BadValue` otherwise. Nothing is decoded."""
    if type(text) is not str:
        raise BadValue(f"binary data must be a base64 string, got {short_repr(text)}")
    n = len(text)
    if n % 4 or _B64_RE.fullmatch(text) is None:
        raise BadValue(
            f"invalid base64 {short_repr(text)} (standard alphabet, padded to 4 characters)"
        )
    # Reject non-canonical encodings (unused low bits set), which no encoder writes.
    if n and text[-1] == "=":
        if text[-2] == "=":
            if _B64_INDEX[text[-3]] & 0x0F:
                raise BadValue(f"invalid base64 {short_repr(text)}: padding bits are not zero")
        elif _B64_INDEX[text[-2]] & 0x03:
            raise BadValue(f"invalid base64 {short_repr(text)}: padding bits are not zero")
    return text


def decode_base64(text: Any) -> bytes:
    return binascii.a2b_base64(check_base64(text))


def base64_size(text: str) -> int:
    """The length of the bytes that checked base64 ``text`` stands for (without decoding)."""
    n = len(text)
    return n // 4 * 3 - (2 if text[-2:] == "==" else 1 if text[-1:] == "=" else 0)


def b64decode_strict(text: str) -> bytes:
    """Decode standard, padded, canonical base64; anything else raises :class:`ValueError`."""
    try:
        return decode_base64(text)
    except BadValue as err:
        raise ValueError(err.message) from None


def encode_base64(data: Any) -> str:
    if type(data) is not bytes and not isinstance(data, (bytearray, memoryview)):
        raise BadValue(f"B/BS values must be bytes, got {type(data).__name__}")
    return binascii.b2a_base64(data, newline=False).decode("ascii")
