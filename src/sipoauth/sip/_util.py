"""Small helpers shared by the SIP modules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, Generic, NoReturn, Self, TypeVar, overload

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
Owner = TypeVar("Owner")

__all__ = ["EMPTY", "Derived", "FrozenList", "frozen_map", "lazy", "slot_setters"]

EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
"""The empty read-only mapping shared by every parsed value without parameters."""


def frozen_map(items: dict[K, V]) -> Mapping[K, V]:
    """A read-only view of a mapping the parser just built (and keeps no other reference to).

    Parsed values are shared between the messages of a connection (see ``_cache``),
    so the parser hands out only read-only mappings.
    """
    return MappingProxyType(items)


def slot_setters(cls: type, *names: str) -> tuple[Callable[[object, object], None], ...]:
    """The slot setters of ``cls`` for ``names`` (member descriptors' ``__set__``).

    The parser builds frozen values with ``object.__new__`` and these: about
    twice as quick as a frozen dataclass's ``__init__``, which calls
    ``object.__setattr__`` per field. Every slot must be set.
    """
    return tuple(cls.__dict__[name].__set__ for name in names)


class FrozenList(list[T]):
    """A list that refuses to change: a value shared between messages (see ``_cache``).

    It compares, iterates and copies (``list(x)``) like any list; every
    mutating method raises :class:`TypeError`.
    """

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("this list is shared between messages; copy it to change it")

    append = extend = insert = pop = remove = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse


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


_MISSING: Final = object()


class Derived:
    """Mixin of the frozen parsed values: remember pure functions of the value on it.

    A parsed value never changes (frozen dataclass, read-only mappings), so
    anything computed from it alone can be computed once per object. The
    per-connection parse cache hands the same objects to every message that
    repeats a header, so a rule layer (the registrar) pays for such
    derivations once per connection instead of once per message. The class
    using it declares ``_memo`` as a dataclass field (``init=False``,
    ``compare=False``); the memo is invisible to equality and ``repr``.
    """

    __slots__ = ()
    _memo: dict[object, object] | None

    def derived(self, fn: Callable[[Self], T]) -> T:
        """``fn(self)``, computed on the first call and remembered on this object.

        ``fn`` must be a pure function of the value, and a module-level function
        (it is the memo key). When it raises, nothing is remembered.
        """
        memo = self._memo
        if memo is not None:
            value = memo.get(fn, _MISSING)
            if value is not _MISSING:
                return value  # type: ignore[return-value]
        else:
            memo = {}
            object.__setattr__(self, "_memo", memo)
        value = memo[fn] = fn(self)
        return value
