"""Cases: cases and their status history, contacts and follow-up, clusters, transmission links.

Revision ID: 0005_cases
Revises: 0002_tracing
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_cases"
down_revision: str | None = "0002_tracing"
branch_labels: str | Sequence[str] | None = ("cases",)
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

CASE_STATUSES = "('suspected', 'confirmed', 'isolated', 'recovered', 'deceased', 'discarded')"
FOLLOW_UP_STATUSES = "('none', 'reached', 'in_isolation', 'tested', 'released')"
CLUSTER_KINDS = (
    "('venue', 'workplace', 'religious', 'healthcare', 'household', 'community', 'travel', 'other')"
)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("external_ref", sa.String(64), nullable=True),
        sa.Column("person_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sex", sa.String(8), nullable=True),
        sa.Column("age_group", sa.String(8), nullable=True),
        sa.Column("province", sa.String(100), nullable=True),
        sa.Column("district", sa.String(100), nullable=True),
        sa.Column("symptom_onset", sa.Date(), nullable=True),
        sa.Column("test_date", sa.Date(), nullable=True),
        sa.Column("confirmed_date", sa.Date(), nullable=True),
        sa.Column("isolated_date", sa.Date(), nullable=True),
        sa.Column("released_date", sa.Date(), nullable=True),
        sa.Column("deceased_date", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint(f"status IN {CASE_STATUSES}", name="ck_cases_status"),
        sa.CheckConstraint("sex IN ('female', 'male')", name="ck_cases_sex"),
        sa.CheckConstraint(
            "released_date IS NULL OR deceased_date IS NULL",
            name="ck_cases_not_released_and_deceased",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.UniqueConstraint("source", "external_ref", name="uq_cases_source_external_ref"),
    )
    op.create_index("ix_cases_status", "cases", ["status"])
    op.create_index("ix_cases_person_id", "cases", ["person_id"])
    op.create_index("ix_cases_confirmed_date", "cases", ["confirmed_date"])

    op.create_table(
        "case_status_history",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("case_id", _BIG_ID, nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.Column("changed_by", sa.String(100), nullable=False),
        sa.Column("changed_at", _TS, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint(
            f"to_status IN {CASE_STATUSES}", name="ck_case_status_history_to_status"
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_case_status_history_case_id_cases"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_case_status_history"),
    )
    op.create_index("ix_case_status_history_case_id", "case_status_history", ["case_id"])

    op.create_table(
        "case_contacts",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("case_id", _BIG_ID, nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=True),
        sa.Column("external_ref", sa.String(64), nullable=True),
        sa.Column("tier", sa.String(8), nullable=False),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("follow_up", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint("tier IN ('close', 'casual')", name="ck_case_contacts_tier"),
        sa.CheckConstraint("origin IN ('tracing', 'manual')", name="ck_case_contacts_origin"),
        sa.CheckConstraint(f"follow_up IN {FOLLOW_UP_STATUSES}", name="ck_case_contacts_follow_up"),
        sa.CheckConstraint(
            "person_id IS NOT NULL OR external_ref IS NOT NULL", name="ck_case_contacts_who"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_contacts_case_id_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_case_contacts"),
        sa.UniqueConstraint("case_id", "person_id", name="uq_case_contacts_case_id_person_id"),
        sa.UniqueConstraint(
            "case_id", "external_ref", name="uq_case_contacts_case_id_external_ref"
        ),
    )
    op.create_index("ix_case_contacts_person_id", "case_contacts", ["person_id"])

    op.create_table(
        "contact_follow_ups",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("contact_id", _BIG_ID, nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("changed_by", sa.String(100), nullable=False),
        sa.Column("changed_at", _TS, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            f"to_status IN {FOLLOW_UP_STATUSES}", name="ck_contact_follow_ups_to_status"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["case_contacts.id"],
            name="fk_contact_follow_ups_contact_id_case_contacts",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contact_follow_ups"),
    )
    op.create_index("ix_contact_follow_ups_contact_id", "contact_follow_ups", ["contact_id"])

    op.create_table(
        "clusters",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("province", sa.String(100), nullable=True),
        sa.Column("district", sa.String(100), nullable=True),
        sa.Column("first_date", sa.Date(), nullable=True),
        sa.Column("last_date", sa.Date(), nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint(f"kind IN {CLUSTER_KINDS}", name="ck_clusters_kind"),
        sa.PrimaryKeyConstraint("id", name="pk_clusters"),
        sa.UniqueConstraint("name", name="uq_clusters_name"),
    )

    op.create_table(
        "cluster_members",
        sa.Column("cluster_id", _BIG_ID, nullable=False),
        sa.Column("case_id", _BIG_ID, nullable=False),
        sa.Column("added_by", sa.String(100), nullable=False),
        sa.Column("added_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name="fk_cluster_members_cluster_id_clusters"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_cluster_members_case_id_cases"),
        sa.PrimaryKeyConstraint("cluster_id", "case_id", name="pk_cluster_members"),
    )
    op.create_index("ix_cluster_members_case_id", "cluster_members", ["case_id"])

    op.create_table(
        "transmission_links",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("infector_id", _BIG_ID, nullable=False),
        sa.Column("infectee_id", _BIG_ID, nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint("infector_id <> infectee_id", name="ck_transmission_links_no_self_link"),
        sa.ForeignKeyConstraint(
            ["infector_id"], ["cases.id"], name="fk_transmission_links_infector_id_cases"
        ),
        sa.ForeignKeyConstraint(
            ["infectee_id"], ["cases.id"], name="fk_transmission_links_infectee_id_cases"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_transmission_links"),
        sa.UniqueConstraint(
            "infector_id", "infectee_id", name="uq_transmission_links_infector_id_infectee_id"
        ),
    )
    op.create_index("ix_transmission_links_infectee_id", "transmission_links", ["infectee_id"])


def downgrade() -> None:
    op.drop_index("ix_transmission_links_infectee_id", table_name="transmission_links")
    op.drop_table("transmission_links")
    op.drop_index("ix_cluster_members_case_id", table_name="cluster_members")
    op.drop_table("cluster_members")
    op.drop_table("clusters")
    op.drop_index("ix_contact_follow_ups_contact_id", table_name="contact_follow_ups")
    op.drop_table("contact_follow_ups")
    op.drop_index("ix_case_contacts_person_id", table_name="case_contacts")
    op.drop_table("case_contacts")
    op.drop_index("ix_case_status_history_case_id", table_name="case_status_history")
    op.drop_table("case_status_history")
    op.drop_index("ix_cases_confirmed_date", table_name="cases")
    op.drop_index("ix_cases_person_id", table_name="cases")
    op.drop_index("ix_cases_status", table_name="cases")
    op.drop_table("cases")
