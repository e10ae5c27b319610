"""Property: for any sequence of issues, revocations and a body exit, on a real database, each
enterprise-year's ledger equals min(cap, per_person × distinct eligible persons), every granted
entry belongs to an eligible person (once), and the events add up to the ledger."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .conftest import cert_number, id_number, uscc

PER_PERSON, CAP = 50_000, 120_000  # a cap that is not a multiple: the last entry is partial
DAYS = ("2025-02-01", "2025-05-01", "2025-08-01", "2026-03-01")
EXIT_DAYS = ("2025-04-01", "2025-09-01")
_examples = itertools.count(1)

KINDS = ("issue",) * 6 + ("revoke",) * 2 + ("exit",)  # an exit ends what a body can do
operation = st.tuples(st.sampled_from(KINDS), st.integers(0, 4), st.integers(0, 20))
operations = st.lists(operation, min_size=3, max_size=16)


@dataclass
class Held:
    serial: int
    person: int
    issued_on: str
    revoked: bool = False
    flagged: bool = False


@dataclass
class Model:
    held: list[Held] = field(default_factory=list)
    exited_on: str | None = None

    def eligible(self, year: int) -> set[int]:
        return {
            h.person
            for h in self.held
            if h.issued_on.startswith(str(year)) and not h.revoked and not h.flagged
        }


async def check(env, enterprise: str, model: Model) -> None:
    for year in (2025, 2026):
        response = await env.client.get(
            f"/v1/rewards?year={year}&uscc={enterprise}", headers=env.admin
        )
        books = response.json()["enterprises"]
        total = books[0]["granted_fen"] if books else 0
        entries = books[0]["entries"] if books else []
        expected = min(CAP, PER_PERSON * len(model.eligible(year)))
        assert total == expected, (year, total, expected, model)
        live = [e for e in entries if e["status"] == "granted"]
        assert sum(e["amount_fen"] for e in live) == total
        holders = {h.serial: h.person for h in model.held if h.issued_on.startswith(str(year))}
        persons = [holders[int(e["certificate_number"][-6:])] for e in live]
        assert len(persons) == len(set(persons))  # one entry per person
        assert set(persons) <= model.eligible(year)
        events = [
            e
            for e in await env.events()
            if ".reward." in e.type
            and e.data["enterprise_uscc"] == enterprise
            and e.data["year"] == year
        ]
        signed = sum(
            e.data["amount_fen"] * (1 if e.type.endswith("granted.v1") else -1) for e in events
        )
        assert signed == total


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
@example(
    ops=[
        ("issue", 0, 0),
        ("issue", 1, 1),
        ("issue", 2, 1),  # partial: 200 of 500 yuan
        ("issue", 3, 2),  # waits
        ("revoke", 0, 0),  # 3 takes the place; 2 is topped up
        ("issue", 1, 2),  # a second certificate changes nothing
        ("revoke", 0, 1),
        ("exit", 0, 0),  # flags the certificates issued from 2025-04-01 on
    ]
)
async def test_ledger_follows_the_formula(reward_env, ops) -> None:
    env = reward_env
    n = next(_examples)
    code, enterprise = f"Y{n:04d}", uscc(1000 + n)
    await env.register(code, uscc=enterprise)
    model = Model()
    for serial, (kind, arg, pick) in enumerate(ops):
        day = DAYS[pick % len(DAYS)] if kind == "issue" else EXIT_DAYS[pick % len(EXIT_DAYS)]
        if kind == "issue":
            response = await env.issue(
                code,
                number=cert_number(serial, body=code, year=int(day[:4])),
                holder_id_number=id_number(arg),
                issued_on=day,
                mode="enterprise_assessment",
                employer_uscc=enterprise,
            )
            if model.exited_on is None:
                assert response.status_code == 201, response.text
                model.held.append(Held(serial, arg, day))
            else:
                assert response.status_code == 409
        elif kind == "revoke" and model.held:
            held = model.held[pick % len(model.held)]
            number = cert_number(held.serial, body=code, year=int(held.issued_on[:4]))
            response = await env.client.post(
                f"/v1/certificates/{number}/revocation",
                json={"reason": "撤销", "effective_on": held.issued_on},
                headers=env.body_headers(code),
            )
            if model.exited_on is not None:
                assert response.status_code == 409
            elif held.revoked:
                assert response.status_code == 409
            else:
                assert response.status_code == 200, response.text
                held.revoked = True
        elif kind == "exit" and model.exited_on is None:
            response = await env.set_status(code, "exited", day, "退出")
            assert response.status_code == 201
            model.exited_on = day
            for held in model.held:
                held.flagged = held.flagged or held.issued_on >= day
        await check(env, enterprise, model)


async def test_the_property_can_fail(reward_env) -> None:
    """A ledger that ignores revocations would break the formula: the check notices."""
    env = reward_env
    await env.register("Y9999", uscc=uscc(9999))
    await env.issue(
        "Y9999",
        number=cert_number(1, body="Y9999"),
        holder_id_number=id_number(1),
        mode="enterprise_assessment",
        employer_uscc=uscc(9999),
    )
    wrong = Model(held=[Held(1, 1, "2025-03-01", revoked=True)])
    try:
        await check(env, uscc(9999), wrong)
    except AssertionError:
        return
    raise AssertionError("the check accepted a wrong ledger")
