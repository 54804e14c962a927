"""the backups' own record (runs, manifests)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled by the feature that owns it


def downgrade() -> None:
    pass
