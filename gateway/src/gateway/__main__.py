"""`python -m gateway keygen PATH`: create the gateway's private signing key (a JWK file)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.auth import generate_signing_key, public_jwks


def keygen(path: Path) -> None:
    """Write a new ES256 private JWK to `path` (mode 0600); refuses to overwrite."""
    if path.exists():
        raise SystemExit(f"{path} exists; move it away to rotate the key")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_signing_key()
    path.write_text(json.dumps(key.as_dict(private=True)))
    path.chmod(0o600)
    print(json.dumps(public_jwks([key])))


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run the command."""
    parser = argparse.ArgumentParser(prog="gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("keygen", help="create a private signing key")
    gen.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    if args.command == "keygen":
        keygen(args.path)


if __name__ == "__main__":
    main(sys.argv[1:])
