"""Files rendered from the spec and the lab's state (Jinja2 templates)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined

_env = Environment(
    loader=PackageLoader("vpclab.render", "templates"),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def render(template: str, **values: object) -> str:
    return _env.get_template(template).render(**values)


def render_text(text: str, **values: object) -> str:
    """A template given as text (a project file a student wrote), with the same settings."""
    return _env.from_string(text).render(**values)
