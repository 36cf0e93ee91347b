"""Helpers shared by the microblog tests (imported by name: tests/app is on sys.path)."""

from __future__ import annotations

def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def csrf_token(client: FlaskClient, path: str = "/auth/login") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def post_form(client: FlaskClient, path: str, data: dict[str, Any], token_from: str | None = None,
              **kwargs: Any) -> Any:
    """POST ``data`` to ``path`` with a valid CSRF token fetched from ``token_from``."""
    payload = dict(data)
    payload["csrf_token"] = csrf_token(client, token_from or path)
    return client.post(path, data=payload, **kwargs)


def register(client: FlaskClient, username: str, email: str | None = None,
             password: str = "correct horse", **kwargs: Any) -> Any:
    return post_form(
        client,
        "/auth/register",
        {
            "username": username,
            "email": email or f"{username}@example.com",
            "password": password,
            "password2": password,
        },
        **kwargs,
    )


def login(client: FlaskClient, username: str, password: str = "correct horse",
          **kwargs: Any) -> Any:
    return post_form(client, "/auth/login", {"username": username, "password": password},
                     **kwargs)


def make_user(username: str, password: str = "correct horse", about: str = "") -> User:
    user = User(username=username, email=f"{username}@example.com", about_me=about)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def make_post(user: User, body: str) -> Post:
    post = Post(body=body, author=user)
    db.session.add(post)
    db.session.commit()
    return post


