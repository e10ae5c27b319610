"""Events the training service publishes (versioned; schemas only gain optional fields).

No event carries a raw ID number or a name: the person is the envelope's `personkey`
extension, the town its `town` extension (and, for consumers' convenience, `data.town`).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from common.eventlog.envelope import event_type

SOURCE = "/services/training"
COMPLETION_RECORDED = event_type("training", "completion", "recorded", 1)
KEY_GROUP_MEMBERSHIP_RECORDED = event_type("training", "key_group_membership", "recorded", 1)


class CompletionRecordedV1(BaseModel):
    """`training.completion.recorded.v1`: an institution recorded a trainee's completion.

    Subject: the completion id; `personkey`: the trainee; `town`: the class's town. One event per
    accepted record, failed results included. `key_groups`: the key groups for which the trainee's
    current membership says *willing* (愿培) at the time of recording; may be empty.
    """

    model_config = ConfigDict(extra="forbid")

    completion_id: str
    class_id: str
    institution_id: str
    domain: str = Field(description="Training domain code (POLICY.md §9), e.g. `manufacturing`")
    town: str = Field(description="Town/street code of the class (POLICY.md §6)")
    key_groups: list[str]
    hours: float
    result: Literal["passed", "failed"]
    completed_on: date
    policy_version: str


class KeyGroupMembershipRecordedV1(BaseModel):
    """`training.key_group_membership.recorded.v1`: a person's key-group membership and willingness.

    Subject: the membership id (stable per person and group); `personkey`: the person; `town`: the
    membership's town. Recording again for the same person and group publishes a new event with the
    same subject; the latest one wins.
    """

    model_config = ConfigDict(extra="forbid")

    membership_id: str
    group: str = Field(description="Key-group code, e.g. `unemployed`")
    town: str
    willing: bool
    recorded_on: date
    policy_version: str


EVENT_MODELS: dict[str, type[BaseModel]] = {
    COMPLETION_RECORDED: CompletionRecordedV1,
    KEY_GROUP_MEMBERSHIP_RECORDED: KeyGroupMembershipRecordedV1,
}
