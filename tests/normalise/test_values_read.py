"""``Recogniser.values_read``: the pipeline leaves the values of content attributes outside it
undecoded (``None``), so no dialect may read such a value anywhere else: not in a detector, a
marker or a source of its own."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types

import llmpulse.dialects as dialects_package
from llmpulse.dialects import DIALECTS
from llmpulse.enrich import is_content_key
from llmpulse.normalise import Recogniser


def _strings(code: types.CodeType) -> set[str]:
    found = {c for c in code.co_consts if isinstance(c, str)}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _strings(const)
    return found


def test_every_content_key_a_dialect_names_is_read_as_a_value() -> None:
    named: set[str] = set()
    for info in pkgutil.walk_packages(dialects_package.__path__, "llmpulse.dialects."):
        module = importlib.import_module(info.name)
        named |= _strings(compile(inspect.getsource(module), info.name, "exec"))
    content = {key for key in named if is_content_key(key)}
    # event names are not attributes; every other content key named must have its value read
    attributes = {key for key in content if key != "gen_ai.content.completion.chunk"}
    assert {"gen_ai.completion.0.finish_reason", "request_data"} <= attributes  # the scan sees them
    assert attributes <= Recogniser(DIALECTS).values_read()


def test_values_read_are_the_tables_sources_and_call_markers() -> None:
    read = Recogniser(DIALECTS).values_read()
    assert {"gen_ai.request.model", "llm.token_count.prompt", "ai.usage.promptTokens"} <= read
    assert "gen_ai.prompt.0.content" not in read and "input.value" not in read
