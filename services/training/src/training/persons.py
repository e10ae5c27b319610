"""The person a training record is about: person_key, and the ID number and name encrypted and
masked when they were given (enrolments and key-group memberships)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from common.errors import InvalidField
from common.identifiers import id_number_problem, normalise_id_number
from common.pii import FieldCipher, mask_id_number, mask_name, person_key


@dataclass(frozen=True)
class NamedPerson:
    """Who a record is about: a person_key, plus encrypted and masked ID and name when known."""

    person_key: str
    id_cipher: bytes | None = None
    name_cipher: bytes | None = None
    id_masked: str | None = None
    name_masked: str | None = None


def required_identity(*, id_number: str | None, name: str | None, whose: str) -> tuple[str, str]:
    """The ID number and name, both given; 422 naming the first one missing otherwise."""
    if id_number is None or name is None:
        raise InvalidField(
            field="id_number" if id_number is None else "name",
            reason="missing",
            message=f"The {whose} ID number and name are required",
        )
    return id_number, name


def identify(
    *, id_number: str, name: str, table: str, today: date, pepper: str, cipher: FieldCipher
) -> NamedPerson:
    """A person named by ID number and name for a row of `table`: checked, keyed, encrypted
    (bound to the table's columns) and masked."""
    problem = id_number_problem(id_number, today=today)
    if problem is not None:
        raise InvalidField(field="id_number", reason=problem, message="The ID number is not valid")
    number = normalise_id_number(id_number)
    return NamedPerson(
        person_key=person_key(number, pepper=pepper),
        id_cipher=cipher.encrypt(number, context=f"{table}.id_number".encode()),
        name_cipher=cipher.encrypt(name, context=f"{table}.name".encode()),
        id_masked=mask_id_number(number),
        name_masked=mask_name(name),
    )
