"""Compiled templates and input validators per tenant, cached: published versions are
immutable, so a cached entry never goes stale."""

from __future__ import annotations

from andon.core.instances import InstanceSchema
from andon.core.json import JsonObject
from andon.core.loader import load_template
from andon.core.params import coerce_to_schema
from andon.core.template import Template
from andon.errors import InputError, NotFoundError, TemplateError
from andon.store.base import TemplateRow
from andon.store.sql import SqlStore
from andon.store.transaction import SqlTransaction


class TemplateCache:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self._templates: dict[tuple[str, str, int], Template] = {}
        self._validators: dict[tuple[str, str, int], InstanceSchema] = {}

    def get(self, tenant: str, template_id: str, version: int) -> Template:
        cached = self._templates.get((tenant, template_id, version))
        if cached is not None:
            return cached
        with self.store.reader() as reader:
            row = reader.scoped(tenant).template(template_id, version)
        if row is None:
            raise NotFoundError(f"no published template '{template_id}@{version}'")
        return self.compile(tenant, row)

    def for_start(self, tx: SqlTransaction, template_id: str, version: int | None) -> Template:
        """The pinned version, or the latest published one."""
        if version is not None and not 1 <= version < 2**31:
            raise NotFoundError(f"no published template '{template_id}@{version}'")
        if version is None:
            version = tx.latest_template_version(template_id)
        key = (tx.tenant, template_id, version) if version is not None else None
        cached = self._templates.get(key) if key is not None else None
        if cached is not None:
            return cached
        row = tx.template(template_id, version) if version is not None else None
        if row is None:
            which = f"@{version}" if version else ""
            raise NotFoundError(f"no published template '{template_id}{which}'")
        return self.compile(tx.tenant, row)

    def compile(self, tenant: str, row: TemplateRow) -> Template:
        key = (tenant, row.template_id, row.version)
        cached = self._templates.get(key)
        if cached is None:
            try:
                cached = load_template(row.source, f"{row.template_id}@{row.version}")
            except TemplateError as exc:
                raise TemplateError(
                    f"stored template {row.template_id}@{row.version} no longer validates: {exc}"
                ) from exc
            self._templates[key] = cached
        return cached

    def checked_input(self, tenant: str, template: Template, data: JsonObject) -> JsonObject:
        key = (tenant, template.id, template.version)
        validator = self._validators.get(key)
        if validator is None:
            validator = self._validators[key] = InstanceSchema(template.input_schema)
        problems = validator.problems(data, "input")
        if problems:
            raise InputError(f"input does not match {template.ref}: " + "; ".join(problems))
        coerced = coerce_to_schema(data, template.input_schema)
        assert isinstance(coerced, dict)
        return coerced
