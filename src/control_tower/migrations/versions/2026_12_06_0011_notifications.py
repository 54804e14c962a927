"""the notification outbox (delivery attempts to channels)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled by the feature that owns it


def downgrade() -> None:
    pass
