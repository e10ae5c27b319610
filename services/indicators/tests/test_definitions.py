"""Every definition with exact numbers: revocations, as-of dates, towns, training, rewards."""

from __future__ import annotations

from indicators.synthetic import (
    completion,
    flagged,
    issued,
    membership,
    person_key,
    revoked,
    reward,
)

A, B, C, D = (person_key(x) for x in "abcd")


async def test_revocation_counts_from_its_effective_date(env) -> None:
    await env.publish(
        issued(person=A, certificate="a1", level="senior", on="2025-02-01"),
        issued(person=B, certificate="b1", level="junior", on="2025-02-01"),
        revoked(person=A, certificate="a1", on="2025-09-01"),
    )
    before = await env.values(year=2025, as_of="2025-08-31")
    on_the_day = await env.values(year=2025, as_of="2025-09-01")
    assert (before["skilled_talents"], before["high_skilled_talents"]) == (2, 1)
    assert (on_the_day["skilled_talents"], on_the_day["high_skilled_talents"]) == (1, 0)
    assert (await env.values(year=2025))["skilled_talents"] == 1


async def test_as_of_gives_the_numbers_as_they_were_even_after_later_events(env) -> None:
    await env.publish(
        issued(person=A, certificate="a1", level="technician", on="2025-03-01"),
        issued(person=B, certificate="b1", level="junior", on="2025-04-01"),
    )
    end_2025 = await env.values(year=2025, as_of="2025-12-31")
    # In 2026: A's certificate is revoked with effect in 2026, C gets one in 2026.
    await env.publish(
        revoked(person=A, certificate="a1", on="2026-02-01"),
        issued(person=C, certificate="c1", level="senior", on="2026-01-15"),
    )
    assert await env.values(year=2025, as_of="2025-12-31") == end_2025
    assert (end_2025["skilled_talents"], end_2025["high_skilled_talents"]) == (2, 1)
    now = await env.values(year=2026)
    assert (now["skilled_talents"], now["high_skilled_talents"]) == (2, 1)  # B and C; C high
    # A late import (issued in 2025, published now) and a backdated revocation change 2025.
    await env.publish(
        issued(person=D, certificate="d1", level="senior", on="2025-06-30"),
        revoked(person=B, certificate="b1", on="2025-12-01"),
    )
    late = await env.values(year=2025, as_of="2025-12-31")
    assert (late["skilled_talents"], late["high_skilled_talents"]) == (2, 2)  # A and D
    assert (await env.values(year=2025, as_of="2025-11-30"))["skilled_talents"] == 3


async def test_a_person_counts_once_in_the_town_of_their_highest_valid_certificate(env) -> None:
    await env.publish(
        issued(person=A, certificate="a1", level="junior", town="jintang", on="2025-01-10"),
        issued(person=A, certificate="a2", level="technician", town="changguo", on="2025-05-01"),
        issued(person=B, certificate="b1", level="junior", town="jintang", on="2025-01-10"),
        issued(person=B, certificate="b2", level="junior", town="maao", on="2025-02-10"),
    )
    assert (await env.values(year=2025))["skilled_talents"] == 2
    jintang = await env.values(year=2025, town="jintang")
    changguo = await env.values(year=2025, town="changguo")
    maao = await env.values(year=2025, town="maao")
    assert jintang["skilled_talents"] == 0  # A moved up to changguo, B's latest is in maao
    assert (changguo["skilled_talents"], changguo["high_skilled_talents"]) == (1, 1)
    assert maao["skilled_talents"] == 1
    assert (await env.values(year=2025, as_of="2025-04-30", town="jintang"))[
        "skilled_talents"
    ] == 1  # A, before the technician certificate; B already in maao
    # Revoking A's technician certificate puts A back in jintang from that day.
    await env.publish(revoked(person=A, certificate="a2", on="2025-10-01"))
    assert (await env.values(year=2025, town="jintang"))["skilled_talents"] == 1
    assert (await env.values(year=2025, town="changguo"))["skilled_talents"] == 0
    assert (await env.values(year=2025))["high_skilled_talents"] == 0


async def test_revocation_before_its_certificate_and_repeats(env) -> None:
    await env.publish(revoked(person=A, certificate="a1", on="2025-06-01"))
    assert (await env.values(year=2025, as_of="2025-05-31"))["skilled_talents"] == 0
    await env.publish(
        issued(person=A, certificate="a1", level="senior", on="2025-03-01"),
        issued(person=A, certificate="a1", level="senior", on="2025-03-01"),  # producer retry
        revoked(person=A, certificate="a1", on="2025-07-01"),  # a later date: the earlier stays
    )
    assert (await env.values(year=2025, as_of="2025-05-31"))["skilled_talents"] == 1
    assert (await env.values(year=2025, as_of="2025-06-01"))["skilled_talents"] == 0


async def test_flagged_certificates_still_count(env) -> None:
    await env.publish(
        issued(person=A, certificate="a1", level="senior", on="2025-03-01"),
        flagged(certificate="a1", on="2025-03-05"),
    )
    values = await env.values(year=2025)
    assert (values["skilled_talents"], values["high_skilled_talents"]) == (1, 1)


async def test_training_person_times_and_talents_cultivated(env) -> None:
    await env.publish(
        # A: trained in manufacturing (passed), then certified: cultivated in manufacturing.
        completion(person=A, completion_id="t1", domain="manufacturing", on="2025-03-01"),
        issued(person=A, certificate="a1", level="senior", on="2025-05-01"),
        # B: certified before training: not cultivated; failed training still counts a time.
        issued(person=B, certificate="b1", level="junior", on="2025-02-01"),
        completion(
            person=B,
            completion_id="t2",
            domain="manufacturing",
            on="2025-03-01",
            result="failed",
            town="jintang",
        ),
        # C: key-group person trained in digital economy, then certified in 2026.
        completion(
            person=C,
            completion_id="t3",
            domain="digital_economy",
            on="2025-11-01",
            key_groups=["unemployed"],
            town="maao",
        ),
        issued(person=C, certificate="c1", level="junior", on="2026-01-10"),
        # The same completion again (a retry) counts once.
        completion(person=A, completion_id="t1", domain="manufacturing", on="2025-03-01"),
    )
    values = await env.values(year=2025)
    assert values["training_person_times.manufacturing"] == 2
    assert values["training_person_times.digital_economy"] == 1
    assert values["training_person_times.key_groups"] == 1
    assert values["talents_cultivated.manufacturing"] == 1
    assert values["talents_cultivated.digital_economy"] == 0  # certified in 2026, trained in 2025
    assert (await env.values(year=2025, as_of="2025-04-30"))[
        "talents_cultivated.manufacturing"
    ] == 0
    assert (await env.values(year=2026))["training_person_times.manufacturing"] == 0
    jintang = await env.values(year=2025, town="jintang")
    assert jintang["training_person_times.manufacturing"] == 1
    # Revoking the certificate un-cultivates A from the revocation date.
    await env.publish(revoked(person=A, certificate="a1", on="2025-08-01"))
    assert (await env.values(year=2025))["talents_cultivated.manufacturing"] == 0
    assert (await env.values(year=2025, as_of="2025-07-31"))[
        "talents_cultivated.manufacturing"
    ] == 1


async def test_key_group_coverage_uses_the_latest_record_per_person_and_group(env) -> None:
    await env.publish(
        membership(person=A, membership_id="m1", group="unemployed", on="2025-01-05"),
        membership(person=B, membership_id="m2", group="veterans", on="2025-01-05"),
        membership(person=C, membership_id="m3", group="disabled", on="2025-01-05"),
        membership(person=C, membership_id="m4", group="disabled", on="2025-06-01", willing=False),
        completion(person=A, completion_id="t1", domain="key_groups", on="2025-04-01"),
        completion(person=C, completion_id="t2", domain="key_groups", on="2025-04-01"),
    )
    report = await env.get("/v1/indicators", year=2025)
    coverage = next(i for i in report["indicators"] if i["code"] == "key_group_coverage")
    assert (coverage["numerator"], coverage["denominator"], coverage["value"]) == (1, 2, 50.0)
    assert coverage["target"] == 100 and coverage["on_track"] is False
    early = await env.values(year=2025, as_of="2025-05-31")
    assert early["key_group_coverage"] == 66.67  # A and C trained of A, B, C willing
    # Willingness carries into 2026, training does not.
    assert (await env.values(year=2026))["key_group_coverage"] == 0.0


async def test_self_assessment_rewards_in_yuan(env) -> None:
    await env.publish(
        reward(entry="e1", amount_fen=50000, on="2025-03-01", town="jintang"),
        reward(entry="e2", amount_fen=50000, on="2025-04-01"),
        reward(entry="e2", amount_fen=50000, on="2025-04-01"),  # retry
        reward(entry="e1", amount_fen=12345, on="2025-05-01", reversed_=True, town="jintang"),
        reward(entry="e3", amount_fen=50000, on="2026-01-01"),
    )
    report = await env.get("/v1/indicators", year=2025)
    rewards = next(i for i in report["indicators"] if i["code"] == "self_assessment_rewards")
    assert rewards["value_fen"] == 87655 and rewards["value"] == 876.55
    assert rewards["unit"] == "yuan" and rewards["target"] is None
    assert (await env.values(year=2025, as_of="2025-04-30"))["self_assessment_rewards"] == 1000
    assert (await env.values(year=2026))["self_assessment_rewards"] == 500
    # By the certificate's town (the `town` extension); none given: district only.
    assert (await env.values(year=2025, town="jintang"))["self_assessment_rewards"] == 376.55
    ranking = await env.get("/v1/indicators/breakdown", code="self_assessment_rewards", year=2025)
    assert ranking["rows"][0]["key"] == "jintang" and ranking["unassigned"] == 500


async def test_awaited_sources_show_zero_with_targets(env) -> None:
    report = await env.get("/v1/indicators", year=2025)
    by_code = {i["code"]: i for i in report["indicators"]}
    for code in ("insured_talents", "skill_enterprises", "competitions", "dinghai_craftsmen"):
        assert by_code[code]["value"] == 0 and by_code[code]["source_available"] is False
    assert by_code["insured_talents"]["target"] == 8000
    assert by_code["skill_villages"]["targets"] == {"2025": 3, "2026": 4}
    assert by_code["talents_cultivated.modern_services"]["target"] == 2570


async def test_unreadable_events_are_dead_lettered_and_the_rest_applied(env) -> None:
    bad = issued(person=A, certificate="a1", on="2025-03-01")
    bad.data["issued_on"] = "not a date"
    no_person = completion(person=B, completion_id="t1", domain="manufacturing", on="2025-03-01")
    object.__setattr__(no_person, "personkey", None)
    orphan = revoked(person=None, certificate="nobody", on="2025-03-01")
    await env.publish(bad, no_person, orphan, issued(person=C, certificate="c1", on="2025-03-01"))
    assert (await env.values(year=2025))["skilled_talents"] == 1
    async with env.app.state.sessionmaker() as session:
        from indicators.store import dead_letter_count

        assert await dead_letter_count(session, consumer="indicators.rollups") == 3


async def test_reads_come_from_the_rollups_not_the_facts(env) -> None:
    await env.publish(issued(person=A, certificate="a1", level="senior", on="2025-03-01"))
    before = await env.values(year=2025)
    async with env.app.state.sessionmaker() as session:
        from sqlalchemy import delete

        from indicators.models import CertificateFact

        await session.execute(delete(CertificateFact))
        await session.commit()
    assert await env.values(year=2025) == before
