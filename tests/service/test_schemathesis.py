"""Property-based API tests: schemathesis generates requests for every operation in
the app's own OpenAPI schema (valid and invalid ones) and checks that no answer is a
5xx and every answer matches the schema (status, headers, content type, body).

Requests go through schemathesis's ASGI transport, authenticated with a test key
(or the admin token on admin routes). Examples are bounded per operation to keep
the run to seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi

from service.app import create_app
from service.settings import Settings
from tests.service.conftest import ADMIN_TOKEN, ALICE, STATIC_KEYS
from tests.utils.fake_upstream import FakeUpstream

MAX_EXAMPLES = 12


def _schema_of(settings: Settings) -> dict[str, Any]:
    return create_app(settings).openapi()


# The schema is loaded at import, where parametrize needs it; it does not depend on
# the catalog or the data dir, and the fixture checks it is the tested app's schema.
schema = schemathesis.openapi.from_dict(
    _schema_of(Settings(_env_file=None)),  # type: ignore[call-arg]
    config=SchemathesisConfig.from_str(
        """
        [checks.negative_data_rejection]
        # A body past the size limit is rejected too, with 413.
        expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]

        [checks.positive_data_acceptance]
        # The schema describes shapes; semantic refusals (no messages, an unknown
        # mode or model) answer 400 with the RoutePlex SDK's specific codes.
        enabled = false
        """
    ),
)


@pytest.fixture(scope="module")
def api(
    upstream_server: FakeUpstream, catalog_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[asgi.ASGIClient]:
    """A session on the ASGI app (lifespan started), with the fake upstream behind it."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("schemathesis"),
        catalog=catalog_file,
        api_keys=STATIC_KEYS,
        admin_token=ADMIN_TOKEN,
        seed=7,
        fallback_attempt_timeout_s=5.0,
        fallback_total_timeout_s=10.0,
    )
    app = create_app(settings)
    assert app.openapi() == schema.raw_schema
    upstream_server.reset()
    try:
        with asgi.get_client(app) as client:
            yield client
    finally:
        asgi.shutdown_lifespans()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, api: asgi.ASGIClient) -> None:
    admin = case.path.startswith("/api/v1/admin")
    token = f"Bearer {ADMIN_TOKEN}" if admin else ALICE["Authorization"]
    case.call_and_validate(
        base_url=api.base_url,
        session=api,
        headers={"Authorization": token},
    )
