"""The catalogue's `pollers` section: pull sources CT checks on the scheduler.

Two kinds, told apart by `kind`: an HTTP check of a URL, and a GitHub Actions poller of
workflow runs on protected branches. Self-contained (no import of catalog.model) so the model
can import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from control_tower.catalog.types import Strict

POLLER_NAME = r"^[a-z][a-z0-9_-]{0,63}$"
REPO = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
ENV_VAR = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


class _PollerBase(Strict):
    name: str = Field(pattern=POLLER_NAME, description="Unique poller name.")
    system: str = Field(description="The system whose health this poller reports.")
    description: str = ""


class HttpPoller(_PollerBase):
    """GET a URL; a heartbeat when it answers as expected, `system.check.failed` otherwise."""

    kind: Literal["http"]
    url: str
    interval_seconds: int = Field(default=60, ge=5, le=86_400)
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    expected_status: int = Field(default=200, ge=100, le=599)
    json_field: str | None = Field(
        default=None, description="Dotted path of a field in the JSON body, e.g. `status`."
    )
    expected_value: Any = Field(default=None, description="The value json_field must hold.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)

    @model_validator(mode="after")
    def _field_and_value_together(self) -> HttpPoller:
        if self.json_field is not None and self.expected_value is None:
            raise ValueError("json_field needs an expected_value")
        if self.expected_value is not None and self.json_field is None:
            raise ValueError("expected_value needs a json_field")
        return self


class GithubActionsPoller(_PollerBase):
    """Workflow runs of repositories' protected branches; failures become ci.workflow.failed."""

    kind: Literal["github_actions"]
    repos: list[Annotated[str, Field(pattern=REPO)]] = Field(min_length=1)
    branches: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default_factory=lambda: ["main"], min_length=1, description="Protected branches."
    )
    token_env: str = Field(
        default="CT_GITHUB_TOKEN",
        pattern=ENV_VAR,
        description="Environment variable holding the GitHub token; unset means skip.",
    )
    api_url: str = "https://api.github.com"
    interval_seconds: int = Field(default=300, ge=10, le=86_400)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    max_pages: int = Field(default=5, ge=1, le=50, description="Pages of 100 runs per branch.")

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        return _http_url(value).rstrip("/")


Poller = Annotated[HttpPoller | GithubActionsPoller, Field(discriminator="kind")]

# The conclusions of a completed run that mean CI failed.
FAILED_CONCLUSIONS = frozenset({"failure", "timed_out", "startup_failure"})


def protected_branches(
    pollers: Sequence[HttpPoller | GithubActionsPoller], repo: str
) -> frozenset[str]:
    """The branches the catalogue protects for a repository (case-insensitive); default main."""
    wanted = repo.lower()
    branches = {
        branch
        for poller in pollers
        if isinstance(poller, GithubActionsPoller)
        for r in poller.repos
        if r.lower() == wanted
        for branch in poller.branches
    }
    return frozenset(branches or {"main"})
