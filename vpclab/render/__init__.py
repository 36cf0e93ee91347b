"""Files rendered from the spec and the lab's state (Jinja2 templates)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateError, TemplateSyntaxError

from vpclab.errors import VpclabError

_env = Environment(
    loader=PackageLoader("vpclab.render", "templates"),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def render(template: str, **values: object) -> str:
    return _env.get_template(template).render(**values)


def render_text(text: str, where: str, /, **values: object) -> str:
    """A template given as text (a project file a student wrote, named by `where`), with the
    same settings. A Jinja mistake in it is a one-line error naming the file, not a
    traceback from inside Jinja."""
    try:
        return _env.from_string(text).render(**values)
    except TemplateSyntaxError as exc:
        raise VpclabError(
            f"{where}, line {exc.lineno}: {exc.message}",
            "write each value as {{ name }}, two braces on each side; text with {{ or {% "
            "that is not Jinja's goes between {% raw %} and {% endraw %}",
        ) from None
    except TemplateError as exc:
        raise VpclabError(
            f"{where}: {exc.message}",
            f"use only the values the file's first comment names ({', '.join(sorted(values))})",
        ) from None
