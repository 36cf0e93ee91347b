"""Forms and text fields shared by several blueprints."""

from __future__ import annotations

from typing import Any

import wtforms
from flask_wtf import FlaskForm
from wtforms import SubmitField
from wtforms.validators import StopValidation


class EmptyForm(FlaskForm):
    """A button and a CSRF token: for follow, unfollow and log out."""

    submit = SubmitField("Submit")


class TextOnly:
    """Mixin for text fields: a file part or a NUL byte is a form error (400), not a 500.

    Flask-WTF reads request.files too, so a multipart part named like a text field arrives as
    a FileStorage; and PostgreSQL refuses NUL in text. Both stop before any other check.
    """

    def process_formdata(self, valuelist: list[Any]) -> None:
        if valuelist:
            value = valuelist[0]
            problem = ""
            if not isinstance(value, str):
                problem = "Send text here, not a file."
            elif "\x00" in value:
                problem = "Remove the NUL character."
            if problem:
                self.data = ""
                raise ValueError(problem)
        super().process_formdata(valuelist)  # type: ignore[misc]

    def pre_validate(self, form: Any) -> None:
        if self.process_errors:  # type: ignore[attr-defined]
            raise StopValidation()


class StringField(TextOnly, wtforms.StringField):
    pass


class PasswordField(TextOnly, wtforms.PasswordField):
    pass


class TextAreaField(TextOnly, wtforms.TextAreaField):
    pass
