"""Links into CT from reports: absolute with `CT_PUBLIC_URL`, else paths from CT's root."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Links:
    public_url: str | None = None

    @property
    def base(self) -> str:
        return (self.public_url or "").rstrip("/")

    def ui(self, path: str) -> str:
        """A page of the UI, e.g. ui("/systems/backend")."""
        return f"{self.base}/ui{path}"

    def run(self, run_id: str) -> str:
        """A run (the API's JSON: the UI has no run page yet)."""
        return f"{self.base}/runs/{quote(run_id, safe='')}"
