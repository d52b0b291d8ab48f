"""The running Dagster deployment, through its webserver's GraphQL API (no dagster import).

Launching through the webserver, not in the CLI's own process, means the daemon, the run
launcher (Kubernetes in production), the run queue and the UI's backfill page all apply.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from tickflow.ops.errors import webserver_down


class DagsterApiError(RuntimeError):
    """The webserver answered, but refused or failed the request."""


@dataclass(frozen=True)
class Dagster:
    base_url: str  # e.g. http://127.0.0.1:3000
    timeout_s: float = 30.0

    def query(self, text: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": text, "variables": variables or {}}).encode()
        req = urllib.request.Request(f"{self.base_url}/graphql", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 (URL from settings)
                out = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise DagsterApiError(f"Dagster webserver at {self.base_url} answered HTTP {e.code}: "
                                  f"{e.read()[:300]!r}") from e
        except (urllib.error.URLError, OSError) as e:
            raise webserver_down(self.base_url, str(getattr(e, "reason", e))) from e
        if out.get("errors"):
            raise DagsterApiError("; ".join(err.get("message", str(err)) for err in out["errors"]))
        return dict(out["data"])

    def repository(self) -> tuple[str, str]:
        """(location, repository) of the single code location."""
        data = self.query("{ repositoriesOrError { __typename ... on RepositoryConnection { nodes { name "
                          "location { name } } } ... on PythonError { message } } }")["repositoriesOrError"]
        nodes = data.get("nodes") or []
        if not nodes:
            raise DagsterApiError(f"no code location loaded in the webserver: {data.get('message', data)}")
        return nodes[0]["location"]["name"], nodes[0]["name"]

    def assets(self) -> list[dict[str, Any]]:
        """Every asset: key path, group, whether partitioned."""
        data = self.query("{ assetNodes { assetKey { path } groupName isPartitioned isMaterializable } }")
        return list(data["assetNodes"])

    def run_url(self, run_id: str) -> str:
        return f"{self.base_url}/runs/{run_id}"

    def backfill_url(self, backfill_id: str) -> str:
        return f"{self.base_url}/runs/b/{backfill_id}?tab=partitions"


def check(result: dict[str, Any], ok_type: str) -> dict[str, Any]:
    """A mutation's result union: the success object, or DagsterApiError with its message."""
    if result.get("__typename") != ok_type:
        msg = result.get("message") or result.get("__typename")
        errors = result.get("errors")
        if errors:
            msg = f"{msg}: {errors}"
        raise DagsterApiError(str(msg))
    return result
