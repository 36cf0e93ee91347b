"""Account forms. Uniqueness is checked here for a friendly message, and again by the database."""

from __future__ import annotations

import sqlalchemy as sa
from flask_wtf import FlaskForm
from wtforms import BooleanField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Regexp, ValidationError

from ..extensions import db
from ..forms import PasswordField, StringField
from ..models import EMAIL_MAX, USERNAME_MAX, USERNAME_PATTERN, User

PASSWORD_MIN = 8


def strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def lower(value: str | None) -> str | None:
    return value.strip().lower() if isinstance(value, str) else value


def username_taken(username: str) -> bool:
    query = sa.select(User.id).where(sa.func.lower(User.username) == username.lower())
    return db.session.scalar(query) is not None


class UsernameField(StringField):
    def __init__(self, label: str = "Username", **kwargs: object) -> None:
        super().__init__(
            label,
            filters=[strip],
            validators=[
                DataRequired(),
                Length(min=3, max=USERNAME_MAX),
                Regexp(USERNAME_PATTERN, message="Use letters, digits, '.', '_' or '-' only."),
            ],
            **kwargs,
        )


class LoginForm(FlaskForm):
    username = StringField("Username", filters=[strip], validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])
    remember_me = BooleanField("Remember me")
    submit = SubmitField("Log in")


class RegistrationForm(FlaskForm):
    username = UsernameField()
    email = StringField(
        "E-mail",
        filters=[lower],
        validators=[DataRequired(), Length(max=EMAIL_MAX), Email(check_deliverability=False)],
    )
    password = PasswordField("Password", validators=[DataRequired(), Length(min=PASSWORD_MIN)])
    password2 = PasswordField(
        "Repeat password",
        validators=[DataRequired(), EqualTo("password", message="Passwords do not match.")],
    )
    submit = SubmitField("Register")

    def validate_username(self, field: StringField) -> None:
        if username_taken(field.data):
            raise ValidationError("That username is taken.")

    def validate_email(self, field: StringField) -> None:
        if db.session.scalar(sa.select(User.id).where(User.email == field.data)) is not None:
            raise ValidationError("That e-mail address is already registered.")
