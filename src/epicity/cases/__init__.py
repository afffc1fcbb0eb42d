"""Case management: cases and their lifecycle, contacts' follow-up, clusters and chains.

Service functions (`epicity.cases.service`) work on a session the caller commits; the DS4C
import (`epicity.cases.ds4c`) loads Korea's 2020 cases, links and clusters; `epicity import
ds4c` (`epicity.cases.cli`) runs it.
"""

from __future__ import annotations

from epicity.cases.errors import CaseError, Conflict, IllegalTransition, LinkRefused, NotFound
from epicity.cases.models import (
    CASE_STATUSES,
    CLUSTER_KINDS,
    CONTACT_ORIGINS,
    CONTACT_TIERS,
    FOLLOW_UP_STATUSES,
    Case,
    CaseContact,
    CaseStatusChange,
    Cluster,
    ClusterMember,
    FollowUpChange,
    TransmissionLink,
)
from epicity.cases.service import (
    FOLLOW_UP_TRANSITIONS,
    TRANSITIONS,
    Chain,
    ChainEdge,
    ChainNode,
    add_contact,
    add_link,
    add_to_cluster,
    case_count,
    chain,
    change_status,
    cluster_cases,
    create_case,
    create_cluster,
    date_problems,
    follow_up_history,
    get_case,
    list_cases,
    status_history,
    update_follow_up,
)

__all__ = [
    "CASE_STATUSES",
    "CLUSTER_KINDS",
    "CONTACT_ORIGINS",
    "CONTACT_TIERS",
    "FOLLOW_UP_STATUSES",
    "FOLLOW_UP_TRANSITIONS",
    "TRANSITIONS",
    "Case",
    "CaseContact",
    "CaseError",
    "CaseStatusChange",
    "Chain",
    "ChainEdge",
    "ChainNode",
    "Cluster",
    "ClusterMember",
    "Conflict",
    "FollowUpChange",
    "IllegalTransition",
    "LinkRefused",
    "NotFound",
    "TransmissionLink",
    "add_contact",
    "add_link",
    "add_to_cluster",
    "case_count",
    "chain",
    "change_status",
    "cluster_cases",
    "create_case",
    "create_cluster",
    "date_problems",
    "follow_up_history",
    "get_case",
    "list_cases",
    "status_history",
    "update_follow_up",
]
