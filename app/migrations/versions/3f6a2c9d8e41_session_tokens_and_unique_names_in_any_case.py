"""session tokens, and usernames unique in any case

Revision ID: 3f6a2c9d8e41
Revises: cd1979e5ad7b
Create Date: 2026-11-27 09:00:00.000000

"""

import secrets

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "3f6a2c9d8e41"
down_revision = "cd1979e5ad7b"
branch_labels = None
depends_on = None

USERNAME_MAX = 32
user = sa.table(
    "user",
    sa.column("id", sa.Integer),
    sa.column("username", sa.String),
    sa.column("session_token", sa.String),
)


def settle_case_clashes(conn: sa.Connection) -> None:
    """Names equal but for case: the oldest account keeps its name, later ones get "-<id>".

    The unique index below could not be built otherwise; the owners can rename themselves.
    """
    rows = conn.execute(sa.select(user.c.id, user.c.username).order_by(user.c.id)).all()
    taken = {name.lower() for _, name in rows}
    kept: set[str] = set()
    for user_id, name in rows:
        if name.lower() not in kept:
            kept.add(name.lower())
            continue
        suffix, extra = f"-{user_id}", 0
        candidate = name[: USERNAME_MAX - len(suffix)] + suffix
        while candidate.lower() in taken:
            extra += 1
            suffix = f"-{user_id}-{extra}"
            candidate = name[: USERNAME_MAX - len(suffix)] + suffix
        taken.add(candidate.lower())
        kept.add(candidate.lower())
        conn.execute(user.update().where(user.c.id == user_id).values(username=candidate))


def upgrade():
    conn = op.get_bind()
    settle_case_clashes(conn)

    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_token", sa.String(length=64), nullable=True))
    # One token per account (logs out every session from before this revision, once).
    for (user_id,) in conn.execute(sa.select(user.c.id)).all():
        token = secrets.token_hex(32)
        conn.execute(user.update().where(user.c.id == user_id).values(session_token=token))
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.alter_column("session_token", existing_type=sa.String(length=64), nullable=False)

    # Outside batch mode: SQLite cannot copy an expression index when batch mode rebuilds a
    # table, and both databases create this one in place.
    op.create_index("uq_user_username_lower", "user", [sa.text("lower(username)")], unique=True)


def downgrade():
    op.drop_index("uq_user_username_lower", table_name="user")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("session_token")
