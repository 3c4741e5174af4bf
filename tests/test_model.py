"""The model's values behave as frozen dataclasses do, with fewer generated methods.

model.py gives its classes __repr__ (and most of them __eq__/__hash__) from
closures instead of letting dataclass compile them per class (an import-time
cost every command pays).  If
these failed, plans and books would compare, hash, print or pickle differently
from the dataclasses they were.
"""

from __future__ import annotations

import dataclasses
import pickle
from datetime import date

import pytest

from warmupd.model import Book, History, PersonHistory, Settings, TouchUp

T = TouchUp(person_id="ruth", name="Ruth", day=date(2026, 3, 2), due=date(2026, 3, 1),
            cycle="ruth/1", every=56)


def test_equal_values_are_equal_and_hash_alike() -> None:
    same = dataclasses.replace(T)
    assert same == T and same is not T
    assert hash(same) == hash(T)
    assert len({T, same}) == 1
    assert dataclasses.replace(T, ask=2) != T
    assert T != ("ruth", "Ruth")  # another type is never equal


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
    with pytest.raises(dataclasses.FrozenInstanceError):
        T.day = date(2026, 1, 1)  # type: ignore[misc]
    book = Book(settings=Settings(), circles={"family": 28}, contacts=())
    with pytest.raises(TypeError):
        hash(book)  # circles is a dict, as with a generated __hash__


def test_pickle_round_trip_keeps_equality() -> None:
    book = Book(settings=Settings(timezone="UTC"), circles={"family": 28}, contacts=())
    assert pickle.loads(pickle.dumps(book)) == book
    assert pickle.loads(pickle.dumps(T)) == T
