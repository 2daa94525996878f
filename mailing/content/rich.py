"""A message written in Markdown, sent as `multipart/alternative`: a text part and an HTML part.

Once per run (`RichMessage.__init__`):

1. the subject and the body are parsed as templates (`templating.parse`), and each variable of
   the body is replaced by a placeholder, a word no one types and no step below changes;
2. the body goes through Markdown (python-markdown), then the allow-list sanitiser (nh3:
   no `<script>`, no `on…=` attribute, no `javascript:` link, whatever was typed as raw HTML),
   into the email layout that carries the site's name, and its CSS is inlined for mail
   clients that drop `<style>` (css-inline);
3. the text part is made from that sanitised HTML (`html_to_text`), so both parts say the
   same thing and nothing the sanitiser removed comes back in the text;
4. both parts are cut at their placeholders.

Per recipient (`render`), the pieces are joined with the recipient's values (HTML-escaped in
the HTML part) and the recipient's unsubscribe link in the footer of both, each part
base64-encoded (no line of it can start with "." and non-ASCII text needs nothing else), and
the envelope (`identity.Envelope`, as for every kind of message) assembles the headers (To,
Message-ID, Date, List-Unsubscribe, the DKIM signature) around it.
"""

import binascii
import html
import re
import secrets
from collections.abc import Mapping
from html.parser import HTMLParser

import css_inline
import markdown  # type: ignore[import-untyped]  # no stubs installed (types-Markdown)
import nh3
from django.conf import settings
from django.utils.translation import gettext

from . import RecipientContext
from .headers import text_header
from .identity import Envelope, unsubscribe_footer
from .templating import Template, first_name, parse

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em",
    "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol",
    "p", "pre", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto"}

LAYOUT = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{site}</title>
<style>
body {{ margin: 0; padding: 0; background: #f3f4f6; }}
.mail-wrap {{ width: 100%; background: #f3f4f6; padding: 24px 0; }}
.mail {{ max-width: 600px; margin: 0 auto; background: #ffffff; border-radius: 6px;
  font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  font-size: 16px; line-height: 1.5; color: #1f2937; }}
.mail-head {{ padding: 16px 24px; border-bottom: 1px solid #e5e7eb; font-size: 18px;
  font-weight: bold; color: #111827; }}
.mail-body {{ padding: 8px 24px 24px; }}
.mail-foot {{ padding: 12px 24px; border-top: 1px solid #e5e7eb; font-size: 12px;
  color: #6b7280; }}
a {{ color: #0b5ed7; }}
img {{ max-width: 100%; height: auto; }}
pre {{ white-space: pre-wrap; background: #f3f4f6; padding: 8px; }}
blockquote {{ margin: 0 0 0 8px; padding-left: 12px; border-left: 3px solid #d1d5db; }}
@media (max-width: 620px) {{ .mail-wrap {{ padding: 0; }} .mail {{ border-radius: 0; }} }}
</style></head>
<body><div class="mail-wrap"><div class="mail">
<div class="mail-head">{site}</div>
<div class="mail-body">{body}</div>
<div class="mail-foot">{site} · <a href="{unsubscribe}">{unsubscribe_text}</a></div>
</div></div></body></html>
"""

_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
# A placeholder's attribute context: an href or src that starts with it takes a link only.
_URL_START = re.compile(r"""(?:href|src)=["']?\Z""")
_SAFE_URL = re.compile(r"(?i)(?:https?://|mailto:)")


def to_html(markdown_text: str) -> str:
    """Markdown (raw HTML allowed) as sanitised HTML: only the allow-list survives."""
    rendered = markdown.markdown(markdown_text, extensions=["extra", "sane_lists"])
    return sanitise(rendered)


def sanitise(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        clean_content_tags={"script", "style"},
        link_rel="noopener noreferrer",
    )


def in_layout(body_html: str, *, site_name: str | None = None, unsubscribe: str = "") -> str:
    """`body_html` (already sanitised) in the email layout, its CSS inlined; the footer links
    to `unsubscribe`."""
    site = html.escape(site_name or settings.SITE_NAME)
    return _INLINER.inline(
        LAYOUT.format(
            site=site,
            body=body_html,
            unsubscribe=html.escape(unsubscribe),
            unsubscribe_text=html.escape(gettext("Unsubscribe")),
        )
    )


class _Cut:
    """A text cut at placeholders: `pieces` alternate with occurrence numbers."""

    def __init__(self, text: str, pattern: re.Pattern[str], *, html_part: bool) -> None:
        self.pieces: list[str] = []
        self.slots: list[tuple[int, bool]] = []  # (occurrence, in a URL attribute)
        position = 0
        for match in pattern.finditer(text):
            before = text[position : match.start()]
            self.pieces.append(before)
            url = html_part and bool(
                _URL_START.search(text[max(0, match.start() - 6) : match.start()])
            )
            self.slots.append((int(match.group(1)), url))
            position = match.end()
        self.pieces.append(text[position:])
        self.html_part = html_part

    def join(self, values: list[str]) -> str:
        if not self.slots:
            return self.pieces[0]
        out = [self.pieces[0]]
        for (index, url), piece in zip(self.slots, self.pieces[1:], strict=True):
            value = values[index]
            if self.html_part:
                if url and not _SAFE_URL.match(value):
                    value = ""  # a value must not make a link into javascript: or data:
                value = html.escape(value)
            out.append(value)
            out.append(piece)
        return "".join(out)


class RichMessage:
    """A run's Markdown message, prepared once: see the module's docstring."""

    def __init__(
        self,
        *,
        subject: str,
        body: str,
        envelope: Envelope | None = None,
        # Without an envelope: one from these (tests, previews, the web version).
        from_email: str | None = None,
        reply_to: str = "",
        run_id: int = 0,
        owner_id: int = 0,
        site_name: str | None = None,
        body_is_html: bool = False,
        web_url: str = "",
    ) -> None:
        if envelope is None:
            envelope = Envelope(
                owner_id=owner_id,
                owner_name="",
                reply_to=reply_to,
                run_id=run_id,
                from_email=from_email,
            )
        self.subject_template = parse(subject)
        body_template = parse(body)
        self.web_url = web_url
        self.envelope = envelope
        self.envelope_sender = envelope.envelope_sender
        self._variables = body_template.variables
        self.names = self.subject_template.names | body_template.names

        nonce = secrets.token_hex(6)
        pattern = re.compile(rf"zqv{nonce}n(\d+)z")
        marked = _with_placeholders(body_template, nonce)
        # One more slot after the body's variables: the unsubscribe link of the footer.
        footer_url = f"zqv{nonce}n{len(self._variables)}z"
        fragment = sanitise(marked) if body_is_html else to_html(marked)
        document = in_layout(fragment, site_name=site_name, unsubscribe=footer_url)
        self._html = _Cut(document, pattern, html_part=True)
        text = html_to_text(fragment) + unsubscribe_footer(footer_url)
        self._text = _Cut(text, pattern, html_part=False)

        self._boundary = f"=_mail_{secrets.token_hex(12)}"
        self._content_fields = [
            b"MIME-Version: 1.0\r\n",
            (f'Content-Type: multipart/alternative; boundary="{self._boundary}"\r\n').encode(
                "ascii"
            ),
        ]
        # Nothing of the body is shared: the footer's link at least is the recipient's own.
        self._shared = (
            None
            if self.subject_template.variables
            else envelope.shared(
                fields=[text_header("Subject", subject), *self._content_fields], body=b""
            )
        )

    # -- per recipient ------------------------------------------------------------------------

    def context(self, recipient: RecipientContext, unsubscribe_url: str = "") -> dict[str, str]:
        """The values of the variables for `recipient` (`unsubscribe_url`: the envelope's
        link, computed once per message)."""
        return {
            "full_name": recipient.full_name,
            "first_name": first_name(recipient.full_name),
            "email": recipient.email,
            "web_url": self.web_url,
            "unsubscribe_url": unsubscribe_url or self.envelope.unsubscribe_url(recipient),
        }

    def parts(self, context: Mapping[str, str]) -> tuple[str, str, str]:
        """Subject, text part and HTML part as `context` makes them (the preview shows these)."""
        values = self._values(context)
        return (
            self.subject_template.render(context),
            self._text.join(values),
            self._html.join(values),
        )

    def render(self, recipient: RecipientContext) -> bytes:
        envelope = self.envelope
        url = envelope.unsubscribe_url(recipient)
        context = self.context(recipient, url)
        shared = self._shared
        if shared is None:
            subject = text_header("Subject", self.subject_template.render(context))
            shared = envelope.shared(fields=[subject, *self._content_fields], body=b"")
        return envelope.assemble(
            recipient, shared, url=url, body_end=self._body(self._values(context))
        )

    def _values(self, context: Mapping[str, str]) -> list[str]:
        values = [variable.value(context) for variable in self._variables]
        values.append(context.get("unsubscribe_url", ""))
        return values

    def _body(self, values: list[str]) -> bytes:
        boundary = self._boundary
        text = _base64(self._text.join(values))
        page = _base64(self._html.join(values))
        return (
            f'--{boundary}\r\nContent-Type: text/plain; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n".encode("ascii")
            + text
            + f'--{boundary}\r\nContent-Type: text/html; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n".encode("ascii")
            + page
            + f"--{boundary}--\r\n".encode("ascii")
        )


def _with_placeholders(template: Template, nonce: str) -> str:
    out = [template.pieces[0]]
    for index, piece in enumerate(template.pieces[1:]):
        out.append(f"zqv{nonce}n{index}z")
        out.append(piece)
    return "".join(out)


def _base64(text: str) -> bytes:
    """Lines of 76 characters ending in CRLF, as MIME wants; no line of base64 starts with ".".

    One C call and slices: half the time of `base64.encodebytes`, which loops in Python."""
    encoded = binascii.b2a_base64(text.encode("utf-8"), newline=False)
    return b"\r\n".join([encoded[i : i + 76] for i in range(0, len(encoded), 76)]) + b"\r\n"


# -- the text part ----------------------------------------------------------------------------

_BLOCKS = {
    "p", "div", "blockquote", "pre", "table", "tr", "ul", "ol", "dl", "dt", "dd", "figure",
    "figcaption", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
}  # fmt: skip
_SKIP = {"style", "script", "head", "title"}


class _TextMaker(HTMLParser):
    """Sanitised HTML as readable plain text: paragraphs, list items, links with their URL."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.pre = 0
        self.links: list[str | None] = []
        self.lists: list[list[int]] = []  # a counter per open list, [-1] for <ul>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag in _BLOCKS:
            self._break(2 if tag not in {"tr", "dt", "dd"} else 1)
            if tag == "pre":
                self.pre += 1
            if tag == "hr":
                self.out.append("-" * 20)
                self._break(2)
            if tag in {"ul", "ol"}:
                self.lists.append([-1 if tag == "ul" else 0])
        elif tag == "li":
            self._break(1)
            counter = self.lists[-1] if self.lists else [-1]
            if counter[0] >= 0:
                counter[0] += 1
                self.out.append(f"{'   ' * (len(self.lists) - 1)}{counter[0]}. ")
            else:
                self.out.append(f"{'   ' * max(0, len(self.lists) - 1)}- ")
        elif tag == "br":
            self.out.append("\n")
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.out.append(f"[{alt}]")
        elif tag in {"td", "th"}:
            self.out.append("  ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCKS:
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            if tag in {"ul", "ol"} and self.lists:
                self.lists.pop()
            self._break(2 if tag not in {"tr", "dt", "dd"} else 1)
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href and not href.startswith("#"):
                shown = href.removeprefix("mailto:")
                if not "".join(self.out[-1:]).endswith(shown):
                    self.out.append(f" ({href.removeprefix('mailto:')})")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
            if self.out and self.out[-1].endswith(("\n", " ")):
                data = data.lstrip(" ")
        self.out.append(data)

    def _break(self, lines: int) -> None:
        text = "".join(self.out)
        stripped = text.rstrip(" ")
        if not stripped:
            self.out = []
            return
        have = len(stripped) - len(stripped.rstrip("\n"))
        self.out = [stripped + "\n" * max(0, lines - have)]


def html_to_text(fragment: str) -> str:
    maker = _TextMaker()
    maker.feed(fragment)
    maker.close()
    text = "".join(maker.out)
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
