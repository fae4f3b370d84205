"""Test helper: set up flags and segments on the real Unleash server through its Admin API, as a person would."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from servers import UnleashServer


def unique_name(prefix: str) -> str:
    """Flag and segment names are global on the server the whole session shares: make each test's its own."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class UnleashAdmin:
    """The few Admin API calls the tests need to build state; raises on any non-2xx answer."""

    def __init__(self, server: UnleashServer) -> None:
        self.client = httpx.Client(
            base_url=server.base_url, headers={"Authorization": server.admin_token}, timeout=30
        )

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.client.request(method, path, json=body)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def create_feature(self, project: str, name: str, *, type: str = "release") -> dict[str, Any]:
        return self._call("POST", f"/api/admin/projects/{project}/features", {"name": name, "type": type})

    def create_segment(self, name: str, constraints: list[dict[str, Any]], *, project: str | None = None) -> int:
        body: dict[str, Any] = {"name": name, "constraints": constraints}
        if project:
            body["project"] = project
        return int(self._call("POST", "/api/admin/segments", body)["id"])

    def add_strategy(
        self,
        project: str,
        feature: str,
        environment: str,
        name: str = "flexibleRollout",
        *,
        parameters: dict[str, str] | None = None,
        constraints: list[dict[str, Any]] | None = None,
        segments: list[int] | None = None,
        variants: list[dict[str, Any]] | None = None,
        disabled: bool = False,
        title: str = "",
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "title": title,
            "disabled": disabled,
            "parameters": parameters or {},
            "constraints": constraints or [],
            "segments": segments or [],
            "variants": variants or [],
        }
        path = f"/api/admin/projects/{project}/features/{feature}/environments/{environment}/strategies"
        return self._call("POST", path, body)

    def flexible_rollout(
        self, project: str, feature: str, environment: str, rollout: int, **options: Any
    ) -> dict[str, Any]:
        parameters = {"rollout": str(rollout), "stickiness": "default", "groupId": feature}
        return self.add_strategy(project, feature, environment, "flexibleRollout", parameters=parameters, **options)

    def enable(self, project: str, feature: str, environment: str) -> None:
        self._call("POST", f"/api/admin/projects/{project}/features/{feature}/environments/{environment}/on")

    def disable(self, project: str, feature: str, environment: str) -> None:
        self._call("POST", f"/api/admin/projects/{project}/features/{feature}/environments/{environment}/off")
