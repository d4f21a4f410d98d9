"""Every URL the dashboard prints, built in one place.

Links are root-relative (``/api/...``, the route prefix taken from the request's own URL), so they
work behind any host name. With function-level auth a browser must send the function key as the
``code`` query parameter on every request; a page reached with ``?code=`` carries it into each of its
links and forms, so following a link never ends in a 401.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from api.dashboard.params import FUNCTION_KEY_PARAM


@dataclass(frozen=True)
class Links:
    root: str
    function_key: str | None = None

    @classmethod
    def for_request(cls, url: str, route_start: str, params: Mapping[str, str]) -> Links:
        """``route_start`` is the first segment of the view's route (``dashboard`` or ``runs``)."""
        path = urlsplit(url).path
        marker = f"/{route_start}"
        root = path[: path.index(marker)] if marker in path else ""
        return cls(root=root, function_key=params.get(FUNCTION_KEY_PARAM) or None)

    def _url(self, path: str, params: Mapping[str, str | int | None] | None = None, anchor: str = "") -> str:
        query = {key: str(value) for key, value in (params or {}).items() if value not in (None, "")}
        if self.function_key:
            query[FUNCTION_KEY_PARAM] = self.function_key
        return (
            f"{self.root}/{path}"
            + (f"?{urlencode(query)}" if query else "")
            + (f"#{anchor}" if anchor else "")
        )

    def runs(self, **params: str | int | None) -> str:
        return self._url("dashboard", params)

    @property
    def runs_action(self) -> str:
        """The runs page's address without a query: the filter form's action (its fields add the query)."""
        return f"{self.root}/dashboard"

    def run(self, run_id: str, anchor: str = "") -> str:
        return self._url(f"dashboard/runs/{quote(run_id, safe='')}", anchor=anchor)

    def iteration(self, run_id: str, iteration: int, anchor: str = "") -> str:
        return self._url(f"dashboard/runs/{quote(run_id, safe='')}/iterations/{iteration}", anchor=anchor)

    def compare(self, run_ids: list[str]) -> str:
        return self._url("dashboard/compare", {"runs": ",".join(run_ids)})

    def lineage(self, name: str) -> str:
        return self._url(f"dashboard/lineages/{quote(name, safe='')}")

    def api_runs(self, **params: str | int | None) -> str:
        return self._url("runs", params)

    def api_run(self, run_id: str) -> str:
        return self._url(f"runs/{quote(run_id, safe='')}")

    def api_iteration(self, run_id: str, iteration: int) -> str:
        return self._url(f"runs/{quote(run_id, safe='')}/iterations/{iteration}")
