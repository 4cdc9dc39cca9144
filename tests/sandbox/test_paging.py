"""Paging of GET /api/v2/ai/models: sizes, links, expand=configuration.

Genesys Cloud refuses a pageSize outside 1..100 with 400 rather than
clamping it; the sandbox does the same.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from planner.model.catalog import generated_model_id

DEMO_COUNT = 6  # models in planner.model.catalog.DEMO_MODELS
SUPPORT = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"


@pytest.fixture
def big(make_sandbox: Callable[..., Any], make_api: Callable[..., Any]) -> Any:
    """The demo catalog plus 224 generated models: 230 in all."""
    return make_api(make_sandbox(extra_models=224, rate_limit=100_000))


def test_the_default_page_has_25_models_and_links(big: Any) -> None:
    page = big.get("/api/v2/ai/models").json()
    assert len(page["entities"]) == 25
    assert (page["pageSize"], page["pageNumber"], page["total"], page["pageCount"]) == (25, 1, 230, 10)
    assert page["firstUri"] == "/api/v2/ai/models?pageSize=25&pageNumber=1"
    assert page["selfUri"] == "/api/v2/ai/models?pageSize=25&pageNumber=1"
    assert page["nextUri"] == "/api/v2/ai/models?pageSize=25&pageNumber=2"
    assert page["lastUri"] == "/api/v2/ai/models?pageSize=25&pageNumber=10"
    assert "previousUri" not in page


def test_the_catalog_comes_first_then_generated_models_in_order(big: Any) -> None:
    names = [entity["name"] for entity in big.get("/api/v2/ai/models?pageSize=8").json()["entities"]]
    assert names[:2] == ["claude-support", "gpt-summarizer"]
    assert names[6:] == ["bench-00001", "bench-00002"]
    assert big.get("/api/v2/ai/models?pageSize=8").json()["entities"][6]["id"] == generated_model_id(1)


def test_the_last_page_has_the_rest_and_no_next_uri(big: Any) -> None:
    page = big.get("/api/v2/ai/models?pageSize=100&pageNumber=3").json()
    assert len(page["entities"]) == 30
    assert (page["pageCount"], page["pageNumber"]) == (3, 3)
    assert "nextUri" not in page
    assert page["previousUri"] == "/api/v2/ai/models?pageSize=100&pageNumber=2"


def test_following_next_uri_visits_every_model_once(big: Any) -> None:
    seen: list[str] = []
    uri: str | None = "/api/v2/ai/models?pageSize=100"
    pages = 0
    while uri:
        page = big.get(uri).json()
        seen.extend(entity["id"] for entity in page["entities"])
        uri = page.get("nextUri")
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 230


def test_a_page_past_the_end_is_empty(big: Any) -> None:
    page = big.get("/api/v2/ai/models?pageSize=100&pageNumber=7").json()
    assert page["entities"] == []
    assert page["total"] == 230
    assert "nextUri" not in page


@pytest.mark.parametrize(
    "query",
    [
        "pageSize=101",  # over the maximum: refused, not clamped
        "pageSize=0",
        "pageSize=-5",
        "pageSize=ten",
        "pageSize=2.5",
        "pageSize=",
        "pageNumber=0",
        "pageNumber=1e3",
        "pageSize=" + "9" * 5000,  # a huge number
        "expand=capabilities",  # not expandable
    ],
)
def test_bad_paging_values_get_400_naming_the_parameter(big: Any, query: str) -> None:
    response = big.get(f"/api/v2/ai/models?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "bad.request"
    parameter = query.split("=", 1)[0]
    assert body["errors"][0]["details"] == [{"fieldName": parameter}]
    assert len(response.content) < 2000  # the huge value is not echoed whole


def test_both_bad_parameters_are_reported_at_once(big: Any) -> None:
    body = big.get("/api/v2/ai/models?pageSize=500&pageNumber=0").json()
    assert [error["details"][0]["fieldName"] for error in body["errors"]] == ["pageSize", "pageNumber"]


def test_page_size_100_is_allowed(big: Any) -> None:
    assert len(big.get("/api/v2/ai/models?pageSize=100").json()["entities"]) == 100


def test_expand_configuration_adds_configured_models_configurations(
    make_sandbox: Callable[..., Any], make_api: Callable[..., Any], valid_config: Callable[..., dict[str, Any]]
) -> None:
    api = make_api(make_sandbox())
    applied = api.put_config(SUPPORT, valid_config()).json()
    plain = api.get("/api/v2/ai/models").json()
    assert all("configuration" not in entity for entity in plain["entities"])
    expanded = api.get("/api/v2/ai/models?expand=configuration").json()
    by_id = {entity["id"]: entity for entity in expanded["entities"]}
    assert by_id[SUPPORT]["configuration"] == applied
    assert [entity_id for entity_id, entity in by_id.items() if "configuration" in entity] == [SUPPORT]
    assert len(by_id) == DEMO_COUNT


def test_expand_is_kept_in_the_links(big: Any) -> None:
    page = big.get("/api/v2/ai/models?expand=configuration&pageSize=50").json()
    assert page["nextUri"] == "/api/v2/ai/models?pageSize=50&pageNumber=2&expand=configuration"


def test_an_empty_catalog_has_one_empty_page(make_sandbox: Callable[..., Any], make_api: Callable[..., Any]) -> None:
    page = make_api(make_sandbox(catalog=False)).get("/api/v2/ai/models").json()
    assert (page["entities"], page["total"], page["pageCount"]) == ([], 0, 0)
    assert "nextUri" not in page
