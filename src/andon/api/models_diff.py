"""Response bodies of the diff routes: the semantic diff's JSON (``core.diff_model``) with
its text rendering, for a reviewer or a promotion task to attach as is."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from andon.core.template_diff import OverlayDiff, TemplateDiff

Status = Literal["added", "removed", "changed"]


class ChangeOut(BaseModel):
    field: str
    status: Status
    old: Any = Field(description="The value before; null when the field was absent")
    new: Any = Field(description="The value after; null when the field is gone")
    topic: str | None = Field(
        None, description="For steps and rows: sla, roles, signature, retry, routing, mapping, step"
    )


class EntryOut(BaseModel):
    key: str
    status: Status
    kind: str | None = None
    changes: list[ChangeOut]
    rows: list[EntryOut] = Field(default_factory=list, description="A decide step's rows")
    note: str | None = None


class VersionRef(BaseModel):
    version: int
    digest: str


class SemanticDiffOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    template_id: str
    from_: VersionRef = Field(alias="from")
    to: VersionRef
    empty: bool
    summary: str
    template: list[ChangeOut] = Field(description="Title, start step, regulated, retention")
    roles: list[EntryOut]
    parameters: list[EntryOut]
    input: list[ChangeOut] = Field(description="The input schema, by path")
    triggers: list[EntryOut]
    duties: list[EntryOut]
    steps: list[EntryOut]
    plants: list[EntryOut] = Field(description="Per plant, the parameter values its runs see")
    text: str = Field(description="The same diff as readable text")

    @classmethod
    def of(cls, diff: TemplateDiff) -> SemanticDiffOut:
        return cls.model_validate({**diff.to_json(), "text": diff.render_text()})


class OverlayDiffOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    template_id: str
    plant: str
    from_: str | None = Field(alias="from", description="Digest of the older overlay, if any")
    to: str
    empty: bool
    parameters: list[ChangeOut] = Field(description="Values the overlay sets")
    effective: list[ChangeOut] = Field(description="Values runs see under `template`")
    template: str | None
    text: str

    @classmethod
    def of(cls, diff: OverlayDiff) -> OverlayDiffOut:
        return cls.model_validate({**diff.to_json(), "text": diff.render_text()})
