"""Forms for posting and editing a profile."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length, ValidationError

from ..auth.forms import UsernameField, strip, username_taken
from ..forms import TextAreaField
from ..models import ABOUT_MAX, POST_MAX


class PostForm(FlaskForm):
    body = TextAreaField(
        "Say something",
        filters=[strip],
        validators=[
            DataRequired(message="A post cannot be empty."),
            Length(min=1, max=POST_MAX, message=f"Posts are 1 to {POST_MAX} characters."),
        ],
        render_kw={"maxlength": POST_MAX, "rows": 3},
    )
    submit = SubmitField("Post")


class EditProfileForm(FlaskForm):
    username = UsernameField()
    about_me = TextAreaField(
        "About me",
        filters=[strip],
        validators=[Length(max=ABOUT_MAX)],
        render_kw={"maxlength": ABOUT_MAX, "rows": 3},
    )
    submit = SubmitField("Save")

    def __init__(self, original_username: str, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.original_username = original_username

    def validate_username(self, field: StringField) -> None:
        if field.data.lower() != self.original_username.lower() and username_taken(field.data):
            raise ValidationError("That username is taken.")
