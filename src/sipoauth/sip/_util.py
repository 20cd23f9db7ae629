"""Small helpers shared by the SIP modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar, overload

T = TypeVar("T")
Owner = TypeVar("Owner")

__all__ = ["lazy"]


class lazy(Generic[Owner, T]):
    """A read-only attribute computed on first access and cached on the instance.

    Like ``functools.cached_property`` but without the per-access lock that
    Python 3.11 takes, which costs more than parsing a short header value.
    """

    def __init__(self, func: Callable[[Owner], T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type[Owner], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type[Owner]) -> lazy[Owner, T]: ...
    @overload
    def __get__(self, obj: Owner, owner: type[Owner]) -> T: ...

    def __get__(self, obj: Owner | None, owner: type[Owner]) -> lazy[Owner, T] | T:
        if obj is None:
            return self
        value = self.func(obj)
        obj.__dict__[self.name] = value
        return value
