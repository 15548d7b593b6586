"""The ``autoroute`` command: ``serve``, ``learner``, ``replay`` and ``keys``.

``serve`` runs the API under uvicorn in factory mode, so each worker builds
its own app (and its own store connection, client and router). Several
workers need Redis: the embedded store and learner belong to one process.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from service.settings import Settings


def _settings() -> Settings:
    """Read the environment, or exit with the validators' messages."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        ]
        sys.exit("autoroute: invalid configuration\n" + "\n".join(lines))


def serve(args: argparse.Namespace) -> int:
    """Run the API under uvicorn."""
    import uvicorn

    from service.metrics import setup_multiprocess

    settings = _settings()
    if args.workers > 1 and settings.embedded:
        sys.exit(
            "autoroute: --workers > 1 needs AUTOROUTE_REDIS_URL "
            "(the embedded store and learner run in one process)"
        )
    # Before the workers fork: they inherit the metrics directory from here,
    # write their values to it, and /metrics merges them.
    setup_multiprocess(args.workers)
    # Each worker's lifespan reads it (service/gc_tuning.py); an explicit value wins.
    os.environ.setdefault("AUTOROUTE_GC_FREEZE", "true")
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        # uvloop and httptools come with uvicorn[standard]; named so that a
        # missing one fails at start instead of falling back to the slow path.
        loop="uvloop",
        http="httptools",
        # One log line per request costs CPU on the hot path; every request is
        # already counted in /metrics and carries X-Autoroute-Request-Id.
        access_log=args.access_log,
        # SIGTERM: stop accepting, let in-flight requests finish for up to this
        # long, then run the lifespan's shutdown (which flushes reward events).
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
    )
    return 0


def keys(args: argparse.Namespace) -> int:
    """Create or revoke an API key directly in the store (no admin token needed)."""
    from service.app import open_store
    from service.auth import KeyRing
    from service.privacy import load_or_create_secret

    settings = _settings()
    configured = settings.hash_secret.get_secret_value() if settings.hash_secret else None
    secret = load_or_create_secret(settings.data_dir, configured)

    async def run() -> int:
        store = open_store(settings)
        try:
            keyring = KeyRing(secret, store, {})
            if args.action == "create":
                key, key_id = await keyring.create_key(args.target)
                print(f"account: {args.target}\nkey:     {key}\nkey_id:  {key_id}")
                return 0
            revoked = await keyring.revoke(args.target)
            print("revoked" if revoked else "no such key")
            return 0 if revoked else 1
        finally:
            await store.close()

    return asyncio.run(run())


def learner(argv: Sequence[str]) -> int:
    """``autoroute learner``: the reward learner process."""
    # Imported by name: the learner pulls in its own dependencies only when used.
    learner_module = importlib.import_module("service.learner")
    return int(learner_module.main(list(argv)) or 0)


def replay(argv: Sequence[str]) -> int:
    """``autoroute replay DIR``: the offline replay benchmark."""
    from bandit import replay as replay_module

    return int(replay_module.main(list(argv)) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autoroute", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="serve the API")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8000)
    p_serve.add_argument("--workers", type=int, default=1)
    p_serve.add_argument("--log-level", default="info")
    p_serve.add_argument(
        "--access-log", action="store_true", help="log one line per request (off by default)"
    )
    sub.add_parser("learner", help="run the reward learner (options after it go to it)")
    sub.add_parser("replay", help="replay a data folder offline (options go to it)")
    p_keys = sub.add_parser("keys", help="manage API keys in the store")
    p_keys.add_argument("action", choices=("create", "revoke"))
    p_keys.add_argument("target", help="account id (create) or key id (revoke)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``autoroute`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "learner":
        return learner(args_list[1:])
    if args_list and args_list[0] == "replay":
        return replay(args_list[1:])
    args = _parser().parse_args(args_list)
    if args.command == "serve":
        return serve(args)
    return keys(args)


if __name__ == "__main__":
    sys.exit(main())
