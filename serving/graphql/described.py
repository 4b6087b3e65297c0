"""Resolver decorators that give every field a description, typed for strict mypy.

`strawberry.field(description=...)` used as a decorator is typed as returning Any, which strict
mypy refuses ("untyped decorator"); these keep the resolver's own type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import strawberry

Resolver = TypeVar("Resolver", bound=Callable[..., Any])


def field(description: str) -> Callable[[Resolver], Resolver]:
    """`@strawberry.field(description=...)`."""
    return cast(Callable[[Resolver], Resolver], strawberry.field(description=description))


def mutation(description: str) -> Callable[[Resolver], Resolver]:
    """`@strawberry.mutation(description=...)`."""
    return cast(Callable[[Resolver], Resolver], strawberry.mutation(description=description))
