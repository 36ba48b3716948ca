"""Frozen time that pydantic can validate: freezegun's classes read as the real ones.

While freezegun runs, ``datetime.datetime`` *is* its ``FakeDatetime``: a module imported then
(or a contract whose annotations are first resolved then) holds ``FakeDatetime`` where it wrote
``datetime``, and pydantic (2.14) refuses to build a schema for it, so a contract or an HTTP model
first built inside frozen time failed with ``PydanticSchemaGenerationError``, and only when
that test ran first. Giving freezegun's ``FakeDatetime`` and ``FakeDate`` pydantic's own datetime
and date schemas fixes it at the root, whenever and wherever a validator is built: they are
subclasses of the real classes, so the real schemas accept their instances and produce real
values.

It is applied wherever a validator may meet freezegun's classes: each time Aura builds an
event contract's validator, and in the pytest plugin at start-up, before each test and in
``frozen_time`` (for the project's own pydantic models, FastAPI's included). It never imports
freezegun itself: with freezegun not imported it is one dictionary lookup.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["make_frozen_time_validatable"]

_MARK = "__aura_pydantic_schema__"


def make_frozen_time_validatable() -> bool:
    """Teach pydantic freezegun's fake classes, once; ``False`` when freezegun is not imported."""
    api = sys.modules.get("freezegun.api")
    if api is None:
        return False
    fake_datetime = getattr(api, "FakeDatetime", None)
    fake_date = getattr(api, "FakeDate", None)
    if fake_datetime is None or fake_date is None or fake_datetime.__dict__.get(_MARK):
        return True
    from pydantic_core import core_schema

    def datetime_schema(cls: type[Any], source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.datetime_schema()

    def date_schema(cls: type[Any], source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.date_schema()

    for fake, schema in ((fake_datetime, datetime_schema), (fake_date, date_schema)):
        fake.__get_pydantic_core_schema__ = classmethod(schema)
        setattr(fake, _MARK, True)
    return True
