"""The model's values behave as the frozen dataclasses they were.

model.py, settings.py, plan.py and store.py make their classes values with
warmupd.core.record instead of dataclasses (an import every command paid
for).  If these
failed, plans and books would compare, hash, print, pickle or build
differently from the dataclasses they were.  Where a rule is dataclasses'
own, a real dataclass with the same fields is the yardstick.
"""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warmupd.core.model import Book, Contact, History, PersonHistory, TouchUp
from warmupd.core.record import FrozenInstanceError, field, replace, value
from warmupd.core.settings import Settings

T = TouchUp(person_id="ruth", name="Ruth", day=date(2026, 3, 2), due=date(2026, 3, 1),
            cycle="ruth/1", every=56)


def test_equal_values_are_equal_and_hash_alike() -> None:
    same = replace(T)
    assert same == T and same is not T
    assert hash(same) == hash(T)
    assert len({T, same}) == 1
    assert replace(T, ask=2) != T
    assert replace(T, ask=2).ask == 2
    assert T != ("ruth", "Ruth")  # another type is never equal
    with pytest.raises(TypeError):
        replace(T, nobody=1)


def test_same_fields_in_another_class_are_not_equal() -> None:
    assert PersonHistory() != History()
    assert PersonHistory() == PersonHistory()
    assert Settings() == Settings() and hash(Settings()) == hash(Settings())
    assert Settings(daily_limit=4) != Settings()
    assert History({"a": PersonHistory()}) == History({"a": PersonHistory()})


def test_repr_reads_like_a_dataclass() -> None:
    assert repr(PersonHistory(touches=2)).startswith(
        "PersonHistory(last_done=None, last_skip=None, snoozed_until=None, snoozed_on=None, "
        "touches=2, ")


def test_frozen_and_unhashable_where_a_field_is() -> None:
    with pytest.raises(FrozenInstanceError):
        T.day = date(2026, 1, 1)  # type: ignore[misc]
    with pytest.raises(AttributeError):  # as dataclasses' FrozenInstanceError is one
        del T.day  # type: ignore[misc]
    assert T.day == date(2026, 3, 2)
    book = Book(settings=Settings(), circles={"family": 28}, contacts=())
    with pytest.raises(TypeError):
        hash(book)  # circles is a dict, as with a generated __hash__


def test_pickle_round_trip_keeps_equality() -> None:
    book = Book(settings=Settings(timezone="UTC"), circles={"family": 28},
                contacts=(Contact("ruth", "Ruth", 56),))
    assert book.by_id()["ruth"].every == 56  # the cached index travels too
    assert pickle.loads(pickle.dumps(book)) == book
    assert pickle.loads(pickle.dumps(T)) == T


def test_a_factory_default_is_made_afresh_for_each_instance() -> None:
    a, b = History(), History()
    assert a.people == {} and a.people is not b.people
    assert Settings().feed == Settings().feed  # a value default is shared, and equal
    assert "people" not in History.__dict__  # no shared mutable default left on the class


@value
class _Pair:
    """A value with the shapes the model uses: required, defaulted, made per instance."""

    a: int
    b: str = "b"
    c: list[int] = field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class _DataPair:
    a: int
    b: str = "b"
    c: list[int] = dataclasses.field(default_factory=list)


_ARGS = st.lists(st.sampled_from([1, "x", None]), max_size=4)
_KWARGS = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from([2, "y"]),
                          max_size=3)


@given(_ARGS, _KWARGS)
def test_arguments_bind_as_a_dataclass_binds_them(args: list[object],
                                                  kwargs: dict[str, object]) -> None:
    def build(cls: type) -> tuple[str, object]:
        try:
            made = cls(*args, **kwargs)
        except TypeError:
            return "TypeError", None
        return "ok", (made.a, made.b, made.c)

    assert build(_Pair) == build(_DataPair)


def test_methods_are_compiled_on_first_use_and_stay() -> None:
    @value
    class Fresh:
        """Compiled on first use."""

        x: int
        y: int = 2

    stub = Fresh.__init__
    first = Fresh(1)
    assert Fresh.__init__ is not stub  # replaced itself on the class
    assert (first.x, first.y) == (1, 2) and Fresh(1, y=3).y == 3
    assert Fresh(1) == first and hash(Fresh(1)) == hash(first) and Fresh(2) != first
    assert Fresh.__eq__.__qualname__.endswith("Fresh.__eq__")


def test_field_names_that_would_clash_with_the_compiled_code_are_refused() -> None:
    with pytest.raises(TypeError, match="must not start with _"):
        @value
        class Bad:
            """A field named like the compiled code's own names."""

            _set: int


def test_the_model_imports_neither_dataclasses_nor_typing() -> None:
    # What every command pays at start-up (see warmupd/core/record.py).  Counted
    # from after interpreter start-up: a .pth file may import typing itself.
    code = ("import sys; before = set(sys.modules); "
            "import warmupd.core.model, warmupd.core.settings, warmupd.core.plan, "
            "warmupd.history.store; "
            "print(sorted({'dataclasses', 'inspect', 'typing'} & (set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
