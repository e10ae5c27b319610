"""Write `contracts/events/<type>.json` (JSON Schema per event type) from each producer's models.

`make contracts` regenerates; `tests/test_contracts.py` fails when the files are stale.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

PRODUCERS = ("training", "evaluation", "finance", "awards")
CONTRACTS = Path(__file__).resolve().parents[1] / "contracts" / "events"


def event_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every event `data` payload, by event type."""
    schemas: dict[str, dict[str, Any]] = {}
    for producer in PRODUCERS:
        events = importlib.import_module(f"{producer}.events")
        for event_type, model in events.EVENT_MODELS.items():
            schema = model.model_json_schema()
            schema["$id"] = f"https://contracts.dinghai.local/events/{event_type}.json"
            schema["x-source"] = events.SOURCE
            schemas[event_type] = schema
    return schemas


def render(schema: dict[str, Any]) -> str:
    """The file text of one schema."""
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main() -> None:
    """Write every schema file."""
    CONTRACTS.mkdir(parents=True, exist_ok=True)
    for event_type, schema in event_schemas().items():
        (CONTRACTS / f"{event_type}.json").write_text(render(schema), encoding="utf-8")


if __name__ == "__main__":
    main()
