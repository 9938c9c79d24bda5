"""The OpenAPI document names every API v1 route, and a fuzz run through it (schemathesis
on hypothesis) finds no 5xx and no refused request that changed anything.

FUZZ_EXAMPLES sets the number of cases of each generation mode (schema-conforming and
schema-violating); the suite runs 1,000 of each, `make fuzz` 5,000 of each."""

from __future__ import annotations

import asyncio
import os
from collections import Counter

import pytest
import redis
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from starlette.routing import Route

from app.access.auth import create_token
from app.openapi import PATH, document
from app.storage import keys

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))


def api_routes(app) -> set[tuple[str, str]]:
    return {(method.lower(), route.path) for route in app.routes
            if isinstance(route, Route) and route.path.startswith("/api/v1/")
            for method in route.methods or {"GET"} if method != "HEAD"}


def documented() -> set[tuple[str, str]]:
    return {(method, path) for path, ops in document()["paths"].items() for method in ops}


async def test_the_document_names_every_api_route_and_nothing_else(api):
    assert documented() == api_routes(api.app)
    r = await api.client.get(PATH)
    assert r.status_code == 200 and r.json()["openapi"].startswith("3.1")


async def test_every_operation_says_its_roles_answers_and_path_parameters():
    for path, ops in document()["paths"].items():
        names = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        for method, op in ops.items():
            declared = {p["name"] for p in op.get("parameters", ()) if p["in"] == "path"}
            assert declared == names, (method, path)
            assert op["responses"], (method, path)
            if path != PATH:
                assert op["x-roles"] and "401" in op["responses"], (method, path)


def fuzz(server_url: str, redis_url: str, site_id: str, token: str, visit_id: str,
         mode: GenerationMode) -> Counter[int]:
    """EXAMPLES cases of `mode` over every operation; answers how many got each status."""
    schema = schemathesis.openapi.from_dict(document())
    strategies = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        fixed = {"site": site_id, "visit_id": visit_id}
        strategies.append(operation.as_strategy(
            generation_mode=mode, path_parameters={k: v for k, v in fixed.items() if k in names}))
    sent: Counter[int] = Counter()
    events = keys.events(site_id)
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    session = requests.Session()

    def last_event() -> str:
        newest = store.xrevrange(events, count=1)
        return newest[0][0] if newest else ""

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(strategies))
    def run(case) -> None:
        before = last_event()
        response = case.call(base_url=server_url, session=session, timeout=30,
                             headers={"Authorization": f"Bearer {token}"})
        sent[response.status_code] += 1
        where = (case.operation.label, case.path_parameters, case.query, case.body)
        assert response.status_code < 500, (*where, response.text)
        if response.status_code >= 400:
            assert last_event() == before, ("a refused request changed the site", *where)
            assert {"error", "detail"} <= set(response.json()), (*where, response.text)

    try:
        run()
    finally:
        session.close()
        store.close()
    return sent


@pytest.mark.timeout(max(300, EXAMPLES // 5))
async def test_fuzzing_the_api_finds_no_5xx_and_no_refusal_that_changed_anything(
        live_server, site, store, api):
    server = live_server()
    token = await create_token(store.redis, site.id, "desk")
    visit = await api.check_in(name="Fuzz Target")
    answers = {}
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        answers[mode] = await asyncio.to_thread(
            fuzz, server.url, api.app.state.settings.redis_url, site.id, token, visit["id"],
            mode)
    total = sum(sum(c.values()) for c in answers.values())
    assert total >= 2 * EXAMPLES, answers
    # The token was taken: conforming requests did things, not only 401s.
    assert sum(n for code, n in answers[GenerationMode.POSITIVE].items() if code < 300) > 0
    assert answers[GenerationMode.NEGATIVE][422] > 0, answers
