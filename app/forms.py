"""Forms shared by several blueprints."""

from flask_wtf import FlaskForm
from wtforms import SubmitField


class EmptyForm(FlaskForm):
    """A button and a CSRF token: for follow, unfollow and log out."""

    submit = SubmitField("Submit")
