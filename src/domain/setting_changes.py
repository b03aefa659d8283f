"""Changes to some of a business's settings: each field left UNSET keeps its value (and is
not stored), so a settings event holds only what changed."""

from __future__ import annotations

from typing import Any, Self

import msgspec


class SettingChanges(msgspec.Struct, frozen=True, kw_only=True):
    """A base for a settings group's changes; subclasses declare fields ``X | Unset``."""

    def given(self) -> dict[str, Any]:
        return {
            name: value
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not msgspec.UNSET
        }

    @property
    def empty(self) -> bool:
        return not self.given()

    def against(self, current: object) -> Self:
        """Only the changes that differ from ``current`` (a repeated change is no change)."""
        return type(self)(**{k: v for k, v in self.given().items() if getattr(current, k) != v})
