"""Frozen value classes for the model and the store, without ``dataclasses``.

Owns: ``value``, the class decorator that turns a class's annotated fields
into a frozen value (an ``__init__`` taking the fields in order, equality
and hashing on the class and every field, a repr, no assignment), ``field``
for a default built per instance, ``fields`` and ``replace``.

Why not dataclasses: every command imports the model, and the dataclasses
decorator generates and compiles every method of every class at import.
With it, ``warmupd today`` over 1,000 people misses its start-up budget
(twice ``python -c "import click"``; bench/README.md has the figures); with
this module it meets it.  Here a method is compiled only when first called,
so a run pays for the classes it uses.  Type checkers see a dataclass
(``dataclass_transform``).

Must not: grow into a dataclasses clone.  No inheritance between values,
no ordering, no ``__post_init__``, no keyword-only fields, no slots: a
class that needs them uses dataclasses.
"""

from __future__ import annotations

# typing.TYPE_CHECKING without importing typing (about 5 ms); mypy knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    _T = TypeVar("_T")
    _C = TypeVar("_C", bound=type)
else:
    def dataclass_transform(**_options: object) -> object:
        return lambda decorator: decorator


class FrozenInstanceError(AttributeError):
    """An attempt to assign or delete a field of a value."""


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], _T]) -> _T:
    """A default made afresh for each instance (``field(default_factory=dict)``)."""
    return _Factory(default_factory)  # type: ignore[return-value]


_set = object.__setattr__


def _frozen_setattr(self: object, name: str, _value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def value(cls: _C) -> _C:
    """Make ``cls`` a frozen value class over its annotated fields, in order."""
    if any(hasattr(base, "_fields") for base in cls.__mro__[1:]):
        raise TypeError(f"{cls.__qualname__}: values do not inherit from values")
    # The class's own annotations, as strings (PEP 563); inspect, which
    # would read them for us, is the import this module exists to avoid.
    annotations: dict[str, str] = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    names = tuple(n for n, a in annotations.items() if not str(a).startswith("ClassVar"))
    if any(n.startswith("_") or n in ("self", "other") for n in names):
        raise TypeError(f"{cls.__qualname__}: a field's name must not start with _ "
                        "or be self or other (the compiled methods use those)")
    defaults: dict[str, object] = {}
    factories: dict[str, Callable[[], object]] = {}
    for n in names:
        if n not in cls.__dict__:
            if defaults or factories:
                raise TypeError(f"{cls.__qualname__}.{n}: a field without a default "
                                "follows one with a default")
            continue
        default = cls.__dict__[n]
        if isinstance(default, _Factory):
            factories[n] = default.make
            delattr(cls, n)  # as dataclasses do: no shared default on the class
        else:
            defaults[n] = default
    cls._fields = names  # type: ignore[attr-defined]
    for method in _methods(cls, names, defaults, factories):
        method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        setattr(cls, method.__name__, method)
    cls.__setattr__ = _frozen_setattr  # type: ignore[assignment]
    cls.__delattr__ = _frozen_delattr  # type: ignore[assignment]
    return cls


def _methods(cls: type, names: tuple[str, ...], defaults: dict[str, object],
             factories: dict[str, Callable[[], object]]) -> tuple[Callable[..., Any], ...]:
    """The value's methods.  ``__init__``, ``__eq__`` and ``__hash__`` are
    compiled on their first call, as plain code over the fields, and replace
    themselves on the class: a run pays only for the classes it uses, and
    the hot ones (the planner's and the calendar's) run as fast as
    dataclasses' generated code, or faster: ``__init__`` builds the
    instance's dict in one step instead of one ``object.__setattr__`` a field."""
    env: dict[str, object] = {"_set": _set, "_unset": _Factory}
    params = []
    items = []
    for n in names:
        if n in defaults:
            env[f"_d_{n}"] = defaults[n]
            params.append(f"{n}=_d_{n}")
        elif n in factories:
            env[f"_f_{n}"] = factories[n]
            params.append(f"{n}=_unset")
            items.append(f"{n!r}: _f_{n}() if {n} is _unset else {n}")
            continue
        else:
            params.append(n)
        items.append(f"{n!r}: {n}")
    fields = "".join(f"self.{n}, " for n in names)
    other = "".join(f"other.{n}, " for n in names)
    sources = {
        "__init__": f"def __init__(self, {', '.join(params)}):\n"
                    f"    _set(self, '__dict__', {{{', '.join(items)}}})\n",
        "__eq__": "def __eq__(self, other):\n"
                  "    if other.__class__ is self.__class__:\n"
                  f"        return ({fields}) == ({other})\n"
                  "    return NotImplemented\n",
        "__hash__": f"def __hash__(self):\n    return hash(({fields}))\n",
    }

    def compiled(name: str) -> Callable[..., Any]:
        scope: dict[str, Any] = {}
        # Only our own field names reach the source: identifiers, checked above.
        exec(sources[name], env, scope)
        method: Callable[..., Any] = scope[name]
        method.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, method)
        return method

    def __init__(self: Any, *args: object, **kwargs: object) -> None:
        compiled("__init__")(self, *args, **kwargs)

    def __eq__(self: Any, other: object) -> Any:
        return compiled("__eq__")(self, other)

    def __hash__(self: Any) -> Any:
        return compiled("__hash__")(self)

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        return f"{type(self).__qualname__}({inner})"

    return __init__, __eq__, __hash__, __repr__


def fields(cls: type) -> tuple[str, ...]:
    """The field names of a value class, in order."""
    names: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    return names


def replace(obj: _T, **changes: Any) -> _T:
    """A copy of the value ``obj`` with ``changes`` (as ``dataclasses.replace``)."""
    given = {n: getattr(obj, n) for n in fields(type(obj))}
    given.update(changes)
    return type(obj)(**given)
