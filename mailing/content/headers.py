"""Header lines of campaign mail in wire form, whatever people type into names and subjects.

Every message class builds its headers here, so the rules hold for all of them:

* no header line is longer than 998 octets (RFC 5322 §2.1.1), and lines are folded near 78;
* text that is not plain ASCII goes out as RFC 2047 encoded words (UTF-8, base64), each at
  most 75 characters and cut between characters, never inside one;
* a CR, LF or other control character typed into a name or a subject becomes a space: it
  could otherwise start a new header line (header injection), and since the head of a message
  is not dot-stuffed, even a new SMTP command;
* an address's domain goes out in its IDNA (punycode) form, which every server understands.

These run per recipient on the sender's event loop, so the common case (a short ASCII value)
is a string check and one concatenation; the email package's own folding costs a hundred times
more.
"""

import base64
import re

# C0 and C1 control characters, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What RFC 5322 does not allow in an unquoted display name (a phrase of atoms).
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
_FOLD_AT = 78
_MAX_LINE = 998
# An ASCII word longer than this cannot be folded onto a line of 78: it is encoded instead,
# as encoded words can be cut anywhere.
_LONGEST_WORD = 68
# "=?utf-8?b?" + 56 base64 characters (42 bytes of text) + "?=": 68 characters, so that even
# "Reply-To: " and its first encoded word fit in 78 (RFC 2047 allows 75 a word).
_ENCODED_WORD_BYTES = 42


def clean(value: str) -> str:
    """`value` with every control character a space: fit for one header line."""
    return _CONTROL.sub(" ", value)


def text_header(name: str, value: str) -> bytes:
    """`Name: value` as folded header lines (CRLF-ended), for unstructured text (Subject)."""
    value = clean(value)
    if value.isascii():
        line = f"{name}: {value}"
        if len(line) <= _FOLD_AT:
            return (line + "\r\n").encode("ascii")
        words = value.split(" ")
        if max(map(len, words)) <= _LONGEST_WORD:
            return _fold_words(name, words)
    # Not ASCII, or one word too long for any line: encoded words can be cut anywhere.
    return _fold_words(name, encoded_words(value))


def address_header(name: str, *, email: str, display_name: str = "") -> bytes:
    """`Name: Display Name <address>` as folded header lines, the domain in IDNA form.

    An address whose local part is not ASCII stays as it is: only a server that offers
    SMTPUTF8 takes it, and then UTF-8 headers are allowed too (RFC 6531/6532)."""
    address = idna_address(email)
    display_name = clean(display_name).strip()
    if not display_name:
        return _fold_words(name, [address])
    if display_name.isascii():
        phrase = display_name
        if _SPECIALS.search(phrase):
            escaped = phrase.replace("\\", "\\\\").replace('"', '\\"')
            phrase = f'"{escaped}"'
        line = f"{name}: {phrase} <{address}>"
        if len(line) <= _FOLD_AT or (phrase.startswith('"') and len(line) <= _MAX_LINE):
            # A quoted name stays one quoted string (a name is at most 200 characters, an
            # address 254: far below the limit), as mail clients show it best.
            return (line + "\r\n").encode("utf-8")
        words = phrase.split(" ")
        if max(map(len, words)) > _LONGEST_WORD:
            words = encoded_words(display_name)
    else:
        words = encoded_words(display_name)
    return _fold_words(name, [*words, f"<{address}>"])


def idna_address(email: str) -> str:
    """`email` with its domain in IDNA (punycode) form: `user@пример.рф` → `user@xn--…`."""
    local, at, domain = email.rpartition("@")
    if not at or domain.isascii():
        return email
    return f"{local}@{domain.encode('idna').decode('ascii')}"


def encoded_words(text: str) -> list[str]:
    """`text` as RFC 2047 encoded words (UTF-8, base64), each at most 75 characters, cut
    between characters (a word that ended inside one would not decode)."""
    words = []
    chunk = b""
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > _ENCODED_WORD_BYTES:
            words.append(_encoded_word(chunk))
            chunk = b""
        chunk += encoded
    if chunk or not words:
        words.append(_encoded_word(chunk))
    return words


def _encoded_word(chunk: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?="


def _fold_words(name: str, words: list[str]) -> bytes:
    """Lay `words` out on header lines of about 78 characters: a line break before a word
    (folding whitespace), never inside one. A word longer than a line gets a line to itself;
    the longest word anything here makes is far below 998 octets."""
    lines = []
    line = f"{name}:"
    for word in words:
        if len(line) + 1 + len(word) > _FOLD_AT and line.strip() != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
