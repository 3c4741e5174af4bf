"""The model's values as the rest of warmupd relies on them: frozen, comparable, picklable.

The daemon's parser child sends the Book back pickled (``isolate``), and the
book cache rebuilds it from plain data (``bookcache``): both must give back
an equal Book whose lookup by id works.
"""

from __future__ import annotations

import dataclasses
import pickle
from datetime import date

import pytest

from warmupd.model import Book, Contact, Settings, TouchUp

T = TouchUp(person_id="ruth", name="Ruth", day=date(2026, 3, 2), due=date(2026, 3, 1),
            cycle="ruth/1", every=56)


def test_values_are_frozen_and_a_book_with_a_dict_is_unhashable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        T.day = date(2026, 1, 1)  # type: ignore[misc]
    book = Book(settings=Settings(), circles={"family": 28}, contacts=())
    with pytest.raises(TypeError):
        hash(book)


def test_a_book_pickles_and_is_replaced_with_its_index() -> None:
    """Broken if: the by-id index is lost on the way through pickle, or a replaced
    book keeps the old book's index."""
    book = Book(settings=Settings(timezone="UTC"), circles={"family": 28},
                contacts=(Contact("ruth", "Ruth", 56),))
    again = pickle.loads(pickle.dumps(book))
    assert again == book and again.by_id()["ruth"].every == 56
    assert pickle.loads(pickle.dumps(T)) == T
    other = dataclasses.replace(book, contacts=(Contact("ben", "Ben", 28),))
    assert list(other.by_id()) == ["ben"] and other != book
