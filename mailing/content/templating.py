"""Personalisation: `{{ first_name }}` and friends in a message's subject and body.

The language is deliberately tiny, not Django's: a template is text with `{{ variable }}`
(optionally `{{ variable|filter }}`) in it, the variables are a fixed set of plain strings
about the recipient (`VARIABLES`), and the filters only change letters or give a default
(`FILTERS`). There is no tag (`{% … %}`, so no `{% load %}`), no attribute lookup, no method
call: nothing a template says can reach the database, the settings or a file, and nothing can
fail at send time once `parse` has accepted the text. `parse` raises `TemplateError` for
anything else, with a sentence for the person who wrote it; the message services turn that
into a form error on the field when the message is saved.

A template is parsed once per run (`parse`), and rendered per recipient by joining its
pieces with the values (`Template.render`): a few microseconds, on the sender's event loop.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_lazy

#: Every variable a template may use, and what it holds (the form lists them).
VARIABLES = {
    "first_name": gettext_lazy("the recipient's first name (the first word of the full name)"),
    "full_name": gettext_lazy("the recipient's full name"),
    "email": gettext_lazy("the recipient's address"),
    "unsubscribe_url": gettext_lazy("the recipient's one-click unsubscribe link"),
    "web_url": gettext_lazy("the message's web version, for a mail client that shows it badly"),
}

#: Every filter: `{{ first_name|upper }}`, `{{ first_name|default:"friend" }}`.
FILTERS: dict[str, Callable[[str, str], str]] = {
    "default": lambda value, arg: value or arg,
    "upper": lambda value, arg: value.upper(),
    "lower": lambda value, arg: value.lower(),
    "title": lambda value, arg: value.title(),
    "capfirst": lambda value, arg: str(capfirst(value)),
}
_TAKES_ARGUMENT = {"default"}

_TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ARGUMENT = re.compile(r'"([^"\\{}]*)"\Z|\'([^\'\\{}]*)\'\Z')


class TemplateError(ValueError):
    """The text is not a template this module renders; `str(error)` says why, for its author."""


@dataclass(frozen=True)
class Variable:
    """One `{{ … }}` of a template: the variable and the filters applied to it, in order."""

    name: str
    filters: tuple[tuple[str, str], ...] = ()

    def value(self, context: Mapping[str, str]) -> str:
        value = context.get(self.name, "")
        for name, argument in self.filters:
            value = FILTERS[name](value, argument)
        return value


@dataclass(frozen=True)
class Template:
    """Literal text and variables, alternating: `pieces[0]`, `variables[0]`, `pieces[1]`, …"""

    pieces: tuple[str, ...]
    variables: tuple[Variable, ...]

    @property
    def names(self) -> frozenset[str]:
        """The variables the template uses (say, to compute an unsubscribe link only when
        it is shown)."""
        return frozenset(variable.name for variable in self.variables)

    def render(self, context: Mapping[str, str]) -> str:
        if not self.variables:
            return self.pieces[0]
        out = [self.pieces[0]]
        for variable, piece in zip(self.variables, self.pieces[1:], strict=True):
            out.append(variable.value(context))
            out.append(piece)
        return "".join(out)


def parse(source: str, *, variables: Mapping[str, object] = VARIABLES) -> Template:
    """`source` as a template; raises `TemplateError` saying what is wrong with it."""
    pieces: list[str] = []
    found: list[Variable] = []
    position = 0
    for match in _TAG.finditer(source):
        pieces.append(source[position : match.start()])
        found.append(_variable(match.group(1), variables))
        position = match.end()
    pieces.append(source[position:])
    for piece in pieces:
        _check_literal(piece)
    return Template(tuple(pieces), tuple(found))


def _variable(inside: str, variables: Mapping[str, object]) -> Variable:
    name, *filters = (part.strip() for part in inside.split("|"))
    if not name:
        raise TemplateError(gettext("An empty {{ }} has no variable in it."))
    if not _NAME.match(name):
        raise TemplateError(
            gettext("“{{ %(text)s }}” is not a variable: use one of %(variables)s.")
            % {"text": name[:40], "variables": _names(variables)}
        )
    if name not in variables:
        raise TemplateError(
            gettext("There is no variable “%(name)s”: use one of %(variables)s.")
            % {"name": name[:40], "variables": _names(variables)}
        )
    return Variable(name, tuple(_filter(text) for text in filters))


def _filter(text: str) -> tuple[str, str]:
    name, colon, argument = (part.strip() for part in text.partition(":"))
    if name not in FILTERS:
        raise TemplateError(
            gettext("There is no filter “%(name)s”: use one of %(filters)s.")
            % {"name": name[:40], "filters": ", ".join(FILTERS)}
        )
    if name not in _TAKES_ARGUMENT:
        if colon:
            raise TemplateError(gettext("The filter “%(name)s” takes no value.") % {"name": name})
        return name, ""
    quoted = _ARGUMENT.match(argument)
    if not colon or quoted is None:
        raise TemplateError(
            gettext('The filter “%(name)s” needs a value in quotes: %(name)s:"…".') % {"name": name}
        )
    return name, quoted.group(1) if quoted.group(1) is not None else quoted.group(2)


def _check_literal(piece: str) -> None:
    if "{%" in piece:
        raise TemplateError(
            gettext(
                "Tags such as {% … %} are not allowed; only variables such as {{ first_name }}."
            )
        )
    if "{#" in piece:
        raise TemplateError(gettext("Comments such as {# … #} are not allowed."))
    if "{{" in piece:
        raise TemplateError(gettext("A {{ is not closed by }}."))
    if "}}" in piece:
        raise TemplateError(gettext("A }} has no {{ before it."))


def _names(variables: Mapping[str, object]) -> str:
    return ", ".join(f"{{{{ {name} }}}}" for name in variables)


_SEQUENCE = re.compile(r"([{}])([{}%#])")


def literal(text: str) -> str:
    """`text` as a template that renders it as it is: a zero-width space between the two
    characters of every "{{", "{%", "{#" and "}}" (for text that was never a template: a blog
    post's title, a plain message's subject)."""
    return _SEQUENCE.sub("\\1\u200b\\2", text)


def first_name(full_name: str) -> str:
    words = full_name.split()
    return words[0] if words else ""
