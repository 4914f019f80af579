"""Write the API's OpenAPI document to instance/openapi.json (the console generates its types from it).

Usage: .venv/bin/python scripts/dump_openapi.py [OUTPUT]
The document is the one GET /api/v1/openapi.json serves, built from the app without a running server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str]) -> int:
    from app import create_app

    output = Path(argv[1]) if len(argv) > 1 else ROOT / "instance" / "openapi.json"
    app = create_app()
    with app.test_client() as client:
        response = client.get("/api/v1/openapi.json")
    if response.status_code != 200:
        print(f"openapi.json answered {response.status_code}", file=sys.stderr)
        return 1
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(response.get_json(), ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                      encoding="utf-8")
    print(f"wrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
