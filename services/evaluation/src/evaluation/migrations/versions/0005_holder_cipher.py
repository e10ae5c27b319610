"""certificates: one SM4-GCM ciphertext of the holder's ID number and name together

A certificate's holder was encrypted as two fields, each its own SM4-GCM operation; an import
spent about a third of its rows' preparation on them (ADR 0011). New rows keep both in
`holder_cipher`; rows recorded before keep their two ciphertexts (re-encrypting needs the field
key, which migrations do not hold), and exactly one of the two forms is present on every row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 01:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_FORM = (
    "(holder_cipher IS NOT NULL AND holder_id_cipher IS NULL AND holder_name_cipher IS NULL)"
    " OR (holder_cipher IS NULL AND holder_id_cipher IS NOT NULL"
    " AND holder_name_cipher IS NOT NULL)"
)


def upgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("holder_cipher", sa.LargeBinary(), nullable=True))
        batch.alter_column("holder_id_cipher", existing_type=sa.LargeBinary(), nullable=True)
        batch.alter_column("holder_name_cipher", existing_type=sa.LargeBinary(), nullable=True)
        batch.create_check_constraint(op.f("ck_certificates_holder_cipher_form"), ONE_FORM)


def downgrade() -> None:
    found = op.get_bind().execute(
        sa.text("SELECT count(*) FROM certificates WHERE holder_cipher IS NOT NULL")
    )
    if found.scalar_one():
        raise RuntimeError(
            "certificates recorded since revision 0005 hold their holder in one ciphertext; "
            "splitting it needs the field key, which migrations do not hold"
        )
    with op.batch_alter_table("certificates") as batch:
        batch.drop_constraint(op.f("ck_certificates_holder_cipher_form"), type_="check")
        batch.alter_column("holder_name_cipher", existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column("holder_id_cipher", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("holder_cipher")
