"""Reading the whole model list, page by page, as fast as the parallelism allows."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

from planner.adapters.gateway.wire import MODELS_PATH, GatewayModel, next_page_url, page_models
from planner.model.errors import GatewayError

MAX_PAGE_SIZE = 100
MAX_PARALLEL_PAGES = 10_000  # pages fetched side by side after the first (a million models)


def list_models(
    get_json: Callable[[str, str], dict[str, Any]],
    api_url: str,
    *,
    parallelism: int,
    expand_configuration: bool = True,
    page_size: int = MAX_PAGE_SIZE,
) -> list[GatewayModel]:
    """Every model, page by page, each page read with ``get_json("GET", url)``.

    The first page says how many pages there are (``pageCount``); the
    rest are fetched side by side, up to ``parallelism``, so 1,000 models
    cost two round trips instead of ten.  Pages that appear meanwhile are
    followed along ``nextUri``; a model seen on two pages (the list shifted
    between reads) is listed once.  A gateway that does not say
    ``pageCount`` is followed along ``nextUri`` alone.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    query: dict[str, Any] = {"pageSize": page_size, "pageNumber": 1}
    if expand_configuration:
        query["expand"] = "configuration"
    url: str | None = f"{api_url}{MODELS_PATH}?{urlencode(query)}"
    seen: set[str] = set()
    models: list[GatewayModel] = []
    first = True
    while url is not None:
        if url in seen:
            raise GatewayError(f"the gateway's paging loops: nextUri {urlsplit(url).path}?{urlsplit(url).query} came twice", method="GET", url=url)
        seen.add(url)
        page = get_json("GET", url)
        models.extend(page_models(page, url, expand_configuration))
        next_uri = page.get("nextUri")
        page_count = page.get("pageCount")
        if first and next_uri and parallelism > 1 and type(page_count) is int and 2 <= page_count <= MAX_PARALLEL_PAGES:
            urls = [f"{api_url}{MODELS_PATH}?{urlencode({**query, 'pageNumber': number})}" for number in range(2, page_count + 1)]
            seen.update(urls)
            with ThreadPoolExecutor(max_workers=min(parallelism, len(urls)), thread_name_prefix="llmplan-pages") as pool:
                pages = list(pool.map(lambda page_url: get_json("GET", page_url), urls))
            for page_url, later_page in zip(urls, pages, strict=True):
                models.extend(page_models(later_page, page_url, expand_configuration))
            next_uri = pages[-1].get("nextUri")  # pages added since the first was read
        first = False
        url = next_page_url(api_url, next_uri, expand_configuration) if next_uri else None
    unique = {model.id.lower(): model for model in reversed(models)}  # the first reading of each model wins
    return [model for model in models if unique.get(model.id.lower()) is model]
