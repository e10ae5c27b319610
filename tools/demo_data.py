"""Demo data for `make run`, loaded through the gateway like any client would (idempotent).

One function per service; each takes a `DemoClient` and returns how many things it created or
found. The people are synthetic: names 演示甲… and ID numbers with valid check characters.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass
class DemoClient:
    """Talks to the gateway with development tokens."""

    gateway: str

    def headers(self, kind: str, subject: str, **extra: str) -> dict[str, str]:
        """Authorization header for a principal from the development issuer."""
        response = httpx.post(
            f"{self.gateway}/auth/dev/token",
            json={"kind": kind, "subject": subject, **extra},
            timeout=10,
        )
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def post(self, path: str, *, headers: dict[str, str], json: object) -> httpx.Response:
        """POST through the gateway; a refusal other than 'already there' stops the demo."""
        response = httpx.post(f"{self.gateway}{path}", headers=headers, json=json, timeout=30)
        if response.status_code not in (200, 201, 202):
            raise RuntimeError(
                f"demo data refused at {path}: {response.status_code} {response.text}"
            )
        return response


DEMO_BODY = "S0001"
DEMO_CERTIFICATES = (
    # (number, level, ID number, name, town)
    ("S000133000001253000101", "senior", "330902198503150014", "演示甲", "changguo"),
    ("S000133000001254000102", "intermediate", "330902199001010016", "演示乙", "jintang"),
    ("S000133000001252000103", "technician", "330902197806060011", "演示丙", "baiquan"),
)


def load_evaluation(client: DemoClient) -> int:
    """A few certificates issued by one evaluation body, registered first by a district
    official (registering it again is answered with the stored body)."""
    client.post(
        "/api/evaluation/v1/bodies",
        headers=client.headers("official", "demo-admin", role="district_admin"),
        json={
            "code": DEMO_BODY,
            "type": "S",
            "name": "定海区职业技能评价中心（演示）",
            "uscc": "91330902MA2A1B2C3D",
        },
    )
    headers = client.headers("evaluation_body", DEMO_BODY)
    for number, level, id_number, name, town in DEMO_CERTIFICATES:
        client.post(
            "/api/evaluation/v1/certificates",
            headers=headers,
            json={
                "number": number,
                "level": level,
                "occupation_code": "6-04-02-05",
                "occupation_name": "焊工",
                "holder_id_number": id_number,
                "holder_name": name,
                "issued_on": "2025-06-20",
                "employer_uscc": "91330902MA2A1B2C3D",
                "mode": "social_evaluation",
                "town": town,
            },
        )
    return len(DEMO_CERTIFICATES)


DEMO_INSTITUTION = {"name": "定海区职业技能培训中心（演示）", "uscc": "52330902MJ00000017"}
DEMO_TRAINEES = (  # (ID number, name): the certificate holders above, trained first
    ("330902198503150014", "演示甲"),
    ("330902199001010016", "演示乙"),
)


def load_training(client: DemoClient) -> int:
    """An institution with a site, this month's class, two trainees, a completion, a key group."""
    from datetime import date, datetime, timedelta
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    api = "/api/training/v1"
    admin = client.headers("official", "demo-admin", role="district_admin")
    institution = client.post(f"{api}/institutions", headers=admin, json=DEMO_INSTITUTION).json()
    headers = client.headers("institution", institution["id"])
    sites = httpx.get(
        f"{client.gateway}{api}/institutions/{institution['id']}/sites", headers=headers, timeout=30
    ).json()
    if not sites:
        site = {"name": "昌国培训点", "address": "定海区昌国路1号", "town": "changguo"}
        client.post(
            f"{api}/institutions/{institution['id']}/sites",
            headers=headers,
            json={**site, "latitude": 30.021, "longitude": 122.105},
        )
    title = f"演示：焊工（中级）培训班 {today:%Y-%m}"
    classes = httpx.get(f"{client.gateway}{api}/classes", headers=headers, timeout=30).json()
    training_class = next((c for c in classes["items"] if c["title"] == title), None)
    if training_class is None:
        training_class = client.post(
            f"{api}/classes",
            headers=headers,
            json={
                "domain": "manufacturing",
                "title": title,
                "capacity": 30,
                "starts_on": (today - timedelta(days=10)).isoformat(),
                "ends_on": (today + timedelta(days=10)).isoformat(),
                "town": "changguo",
                "occupation_code": "6-04-02-05",
                "occupation_name": "焊工",
                "level": "intermediate",
            },
        ).json()
    for id_number, name in DEMO_TRAINEES:  # 409 = already enrolled (or the class has ended)
        httpx.post(
            f"{client.gateway}{api}/classes/{training_class['id']}/enrolments",
            headers=headers,
            json={"id_number": id_number, "name": name},
            timeout=30,
        )
    client.post(
        f"{api}/key-groups/memberships",
        headers=client.headers("citizen", DEMO_TRAINEES[1][0]),
        json={"group": "rural_transfer", "willing": True, "town": "jintang"},
    )
    completed_on = min(today, date.fromisoformat(training_class["ends_on"])).isoformat()
    client.post(
        f"{api}/completions/batches",
        headers={**headers, "Idempotency-Key": f"demo-{training_class['id'][:8]}-{today}"},
        json={
            "records": [
                {
                    "class_id": training_class["id"],
                    "id_number": id_number,
                    "name": name,
                    "result": "passed",
                    "hours": 48,
                    "completed_on": completed_on,
                }
                for id_number, name in DEMO_TRAINEES
            ]
        },
    )
    return 1 + 1 + len(DEMO_TRAINEES) + 1


LOADERS = {"evaluation": load_evaluation, "training": load_training}


def load_all(gateway: str) -> dict[str, int]:
    """Run every loader in order; returns counts by service."""
    client = DemoClient(gateway=gateway)
    return {name: loader(client) for name, loader in LOADERS.items()}
