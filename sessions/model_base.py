"""The base of every domain model: unknown fields are refused, so a typo in a stored document or a request fails loudly."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)
