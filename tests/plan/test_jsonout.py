"""fleet.plan.jsonout writes exactly what ``json.dumps(value, indent=2, ensure_ascii=False)``
writes, for random values of every JSON-able kind (and the odd ones it hands to the standard
encoder)."""

from __future__ import annotations

import enum
import json
import math
import random
from collections.abc import Iterator
from typing import Any

import pytest

from fleet.plan.jsonout import write_json
from fleet.yamlsrc import YMap


class Level(enum.IntEnum):
    LOW = 1


class Lazy(list[Any]):
    def __init__(self, items: list[Any]) -> None:
        super().__init__()
        self.items = items

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


LEAVES: list[Any] = ["", "x", "é\u202e\x1b\n\t\"\\", "\ud7ff", 0, -1, 2**70, 1.5, -0.0, 1e300,
                     math.inf, -math.inf, True, False, None, Level.LOW, "</script>"]


def random_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.4:
        return rng.choice(LEAVES)
    items = [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if roll < 0.55:
        return items
    if roll < 0.6:
        return tuple(items)
    if roll < 0.65:
        return Lazy(items)
    keys: list[Any] = ["a", "b c", "é", "", "1"]
    if roll < 0.7:
        keys += [1, 2.5, True, None]  # the standard encoder turns these into strings
    value = {rng.choice(keys) + (str(i) if rng.random() < 0.8 else ""): item
             for i, item in enumerate(items)} if roll >= 0.7 else {
        rng.choice(keys): item for item in items}
    if rng.random() < 0.2:
        mapping = YMap(value)
        mapping.line, mapping.key_lines = 1, {}
        return mapping
    return value


def plain(value: Any) -> Any:
    if isinstance(value, Lazy):
        return [plain(v) for v in value.items]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def written(value: Any, **kw: Any) -> tuple[str, list[str]]:
    pieces: list[str] = []
    write_json(value, pieces.append, **kw)
    return "".join(pieces), pieces


@pytest.mark.parametrize("seed", range(300))
def test_same_text_as_json_dumps(seed: int) -> None:
    value = random_value(random.Random(seed), 0)
    expected = json.dumps(plain(value), indent=2, ensure_ascii=False)
    assert written(value)[0] == expected
    assert written(value, tokens_per_write=3)[0] == expected


def test_long_lists_are_written_in_pieces() -> None:
    value = {"jobs": Lazy([{"n": i, "s": "x" * 10} for i in range(5000)])}
    text, pieces = written(value, tokens_per_write=1000)
    assert text == json.dumps(plain(value), indent=2, ensure_ascii=False)
    assert len(pieces) > 10 and max(map(len, pieces)) < 40_000
