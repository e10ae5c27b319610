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
    """A few certificates issued by one evaluation body."""
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


LOADERS = {"evaluation": load_evaluation}


def load_all(gateway: str) -> dict[str, int]:
    """Run every loader in order; returns counts by service."""
    client = DemoClient(gateway=gateway)
    return {name: loader(client) for name, loader in LOADERS.items()}
