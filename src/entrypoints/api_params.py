"""What every API handler takes from the API router, declared explicitly.

Each parameter of a handler names where its value comes from (Litestar infers nothing):
``business_id: BusinessId`` (the router's dependency), ``order_id: FromPath[str]`` (the
path), ``data: JSONBody[SomeRequest]`` (the body), ``limit: Annotated[str | None, LIMIT] =
None`` with ``LIMIT = QueryParameter(name=..., description=...)`` (the query string; the
default goes after ``=``, never inside the marker), ``HeaderParameter`` likewise; services
come as ``NamedDependency[SkipValidation[Service]]`` aliases from the module that uses them.
"""

from __future__ import annotations

from litestar.di import NamedDependency

BusinessId = NamedDependency[str]
"""The business the bearer token sees (the API router's ``business_id`` dependency)."""
