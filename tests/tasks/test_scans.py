"""The byte scans the readers run before a parser agree with plain Python on every input hypothesis finds."""
from __future__ import annotations

import json

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tasks.scans import count_lines, first_long_line, last_line_end, scan_json_depth

QUICK = settings(max_examples=200, deadline=2000, database=None)

# Strings full of the characters that could fool a scan: brackets, quotes, backslashes.
tricky_text = st.text(st.sampled_from(list('[]{}"\\ab\u00e9')), max_size=8)
json_values = st.recursive(
    st.none() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=30,
)
line_ends = st.sampled_from(["\n", "\r\n", "\r"])


def depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def lines_of(data: bytes) -> list[bytes]:
    return data.splitlines()


@QUICK
@given(lines=st.lists(st.tuples(json_values | st.sampled_from(["", "  ", "\t"]), line_ends), min_size=1, max_size=6),
       limit=st.integers(1, 8), ascii_only=st.booleans())
def test_the_depth_scan_of_json_lines_is_exact_and_names_the_first_deep_line(lines: list, limit: int, ascii_only: bool):
    """Lines hold JSON values or only whitespace; they end in any mix of \\n, \\r\\n and \\r."""
    texts = [v if isinstance(v, str) and not v.strip() else json.dumps(v, ensure_ascii=ascii_only) for v, _ in lines]
    data = "".join(t + end for t, (_, end) in zip(texts, lines)).encode()
    assume(len(data.splitlines()) == len(lines))  # a blank line after a \r would merge into \r\n
    scan = scan_json_depth(data, limit, per_line=True)
    assert scan.malformed_line is None
    deep = [i for i, (v, _) in enumerate(lines) if not (isinstance(v, str) and not v.strip()) and depth(v) > limit]
    assert scan.too_deep_line == (deep[0] if deep else None)


@QUICK
@given(value=json_values, limit=st.integers(1, 8))
def test_the_depth_scan_of_a_json_document_is_exact(value: object, limit: int):
    data = json.dumps(value, indent=1).encode()
    assert (scan_json_depth(data, limit, per_line=False).too_deep_line is not None) == (depth(value) > limit)


@QUICK
@given(values=st.lists(json_values, min_size=1, max_size=4), cut=st.integers(0, 200), limit=st.integers(1, 6))
def test_a_malformed_line_never_hides_a_deep_line_after_it(values: list, cut: int, limit: int):
    broken = json.dumps(values[0])
    broken = broken[: cut % (len(broken) + 1)] + '"['  # a string left open, and a bracket
    deep = "[" * (limit + 1) + "]" * (limit + 1)
    data = "\n".join([broken, *(json.dumps(v) for v in values[1:]), deep]).encode()
    scan = scan_json_depth(data, limit, per_line=True)
    assert not scan.ok


@QUICK
@given(parts=st.lists(st.tuples(st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), line_ends),
                      max_size=12),
       tail=st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), limit=st.integers(0, 30))
def test_long_lines_and_line_ends_are_found_as_splitlines_finds_them(parts: list, tail: bytes, limit: int):
    data = b"".join(body + end.encode() for body, end in parts) + tail
    assume(data.count(b"\r\n") == sum(end == "\r\n" for _, end in parts))  # a \r then an empty line's \n is one end
    lines = lines_of(data)
    assert count_lines(data) == len(parts)
    offsets, at = [], 0
    for body, end in parts:
        offsets.append(at)
        at += len(body) + len(end)
    offsets.append(at)
    bodies = [body for body, _ in parts] + [tail]
    expected = next((o for o, b in zip(offsets, bodies) if len(b) > limit), None)
    assert first_long_line(data, limit) == expected
    # A chunk is cut after its last line end, but not after a final \r whose \n may come next.
    ends = [i + 1 for i in range(len(data)) if data[i:i + 1] == b"\n" or (data[i:i + 1] == b"\r" and i < len(data) - 1)]
    cut = last_line_end(data)
    assert cut == (ends[-1] if ends else -1)
    if cut > 0:
        assert lines_of(data[:cut]) == lines[: count_lines(data[:cut])]
