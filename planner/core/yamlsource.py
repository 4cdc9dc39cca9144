"""Safe YAML reading that remembers where every value came from.

PyYAML's constructors throw line numbers away and silently accept duplicate
keys, NaN and alias bombs.  We compose the node graph with the C loader (fast,
no object construction) and build plain JSON-compatible data ourselves, so we
can refuse what a configuration file should never contain and keep a line for
every JSON path.  Each file is composed once: the YAML pitfalls a message
explains (a tab in the indentation, an unquoted ``yes`` read as a boolean)
are found in that one pass.  Nothing here raises for bad input: problems are
returned, so a caller can report every broken file at once.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from planner.model.errors import Problem
from planner.model.printable import shorten
from planner.model.source import JsonPath, SourceDocument, format_path

try:  # the C loader is ~10x faster; fall back to pure Python where libyaml is missing
    from yaml import CSafeLoader as _SafeLoader

    _READER_OFFSETS_IN_BYTES = True  # libyaml reports positions in the UTF-8 bytes
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _SafeLoader

    _READER_OFFSETS_IN_BYTES = False

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_SCALAR_NODE, _MAPPING_NODE = yaml.ScalarNode, yaml.MappingNode

# Tags of plain scalars, remembered across files.  A safe loader's tag for a
# plain scalar depends only on its text (it has no path resolvers; a quoted
# one is always text), and thousands of model files repeat the same keys and
# values: resolving each with PyYAML's regular expressions was a tenth of
# loading 10,000 files.
_SCALAR_TAGS: dict[str, str] = {}
_SCALAR_TAGS_MAX = 50_000
_SCALAR_TAG_CHARS = 64  # longer texts are rarely repeated; not worth the memory


class _Loader(_SafeLoader):
    """libyaml's composer with PyYAML's safe resolver, answered from a cache.

    libyaml calls ``resolve`` and the two path-resolver hooks from C for every
    node; the safe loader has no path resolvers, so the hooks do nothing and a
    collection's tag is its kind's default.
    """

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not _SCALAR_NODE:
            return _MAP if kind is _MAPPING_NODE else _SEQ
        if not implicit[0]:
            return _STR  # quoted, or a non-specific tag: text
        tag = _SCALAR_TAGS.get(value)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(value) <= _SCALAR_TAG_CHARS and len(_SCALAR_TAGS) < _SCALAR_TAGS_MAX:
                _SCALAR_TAGS[value] = tag
        return tag

    if _READER_OFFSETS_IN_BYTES:  # libyaml: composing needs the C parser alone, not the constructor's or resolver's state

        def __init__(self, stream: Any) -> None:
            yaml.cyaml.CParser.__init__(self, stream)

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


assert not _Loader.yaml_path_resolvers, "the resolver shortcuts above assume a loader without path resolvers"

MAX_FILE_BYTES = 1024 * 1024
# A configuration file has tens of nodes; 100k is far beyond any honest file
# and stops "billion laughs" alias expansion long before memory suffers.
MAX_NODES = 100_000
# Counting nodes is not enough: a few aliases of one long string stay under
# MAX_NODES yet every error message about them repeats the string (a 300 KB
# file once produced 2 GB of output).  The text of all values, with aliases
# expanded, may be at most twice what an honest file of the maximum size holds.
MAX_EXPANDED_CHARS = 2 * MAX_FILE_BYTES
# Configurations are a few levels deep; the cap turns a recursive alias
# (``&a [*a]``) or absurd nesting into an error instead of a RecursionError.
MAX_DEPTH = 50
# What YAML counts as a line break (and so libyaml's line numbers).
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


_constructor = yaml.constructor.SafeConstructor()
# tag -> (what the user should have written, PyYAML's constructor)
_TYPED_SCALARS = {
    _BOOL: ("true or false", _constructor.construct_yaml_bool),
    _INT: ("an integer", _constructor.construct_yaml_int),
    _FLOAT: ("a number", _constructor.construct_yaml_float),
}


class _Invalid(Exception):
    def __init__(self, line: int | None, path: JsonPath, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.path = path
        self.message = message
        self.column = column


def parse_yaml(raw: bytes | str, display: str) -> tuple[SourceDocument | None, list[Problem]]:
    """Parse one YAML document holding a mapping."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = len(_LINE_BREAK.findall(raw[: exc.start].decode("utf-8"))) + 1
            return None, [Problem(display, line, "", f"not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}); save the file as UTF-8")]
    else:
        text = raw
    def problem(line: int | None, path: JsonPath, message: str, column: int | None = None) -> tuple[None, list[Problem]]:
        # at the end of a file libyaml points one line past the last one
        last = _last_line(text)
        if line is not None and line > last:
            line, column = last, None
        return None, [Problem(display, line, format_path(path), message, column)]

    try:
        documents = compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if mark is None:
            return problem(None, (), f"YAML syntax error: {' '.join(part for part in (exc.context, exc.problem) if part)}")
        tab = _indenting_tab(text, mark.line)
        if tab is not None:
            return problem(mark.line + 1, (), TAB_MESSAGE, tab)
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        return problem(mark.line + 1, (), f"YAML syntax error: {reason}", mark.column + 1)
    except yaml.reader.ReaderError as exc:  # control characters and the like
        position = exc.position if isinstance(exc.position, int) else 0
        if _READER_OFFSETS_IN_BYTES:
            encoded = text.encode("utf-8")
            before, after = encoded[:position].decode("utf-8", "replace"), encoded[position:].decode("utf-8", "replace")
        else:
            before, after = text[:position], text[position:]
        shown = repr(after[0]) if after else "a character"
        return problem(len(_LINE_BREAK.findall(before)) + 1, (), f"YAML error: {shown} is not allowed here ({exc.reason})")
    except yaml.YAMLError as exc:
        return problem(None, (), f"YAML error: {shorten(str(exc), 200)}")
    if not documents:
        return problem(1, (), "file is empty; expected a mapping of fields")
    if len(documents) > 1:
        return problem(documents[1].start_mark.line + 1, (), "file holds more than one YAML document; put one document per file")
    root = documents[0]
    if not isinstance(root, yaml.MappingNode):
        return problem(root.start_mark.line + 1, (), f"expected a mapping of fields, got {_kind(root)}")
    builder = _Builder()
    try:
        data = builder.build(root, ())
    except _Invalid as exc:
        return problem(exc.line, exc.path, exc.message, exc.column)
    builder.lines.setdefault((), root.start_mark.line + 1)
    return SourceDocument(display, data, builder.lines, builder.written), []


def compose(text: str) -> list[yaml.Node]:
    """Every document of a YAML text as a node graph: the one place llmplan
    composes YAML (with libyaml where PyYAML has it), once per file read."""
    loader = _Loader(text)
    try:
        documents = []
        while loader.check_node():
            documents.append(loader.get_node())
        return documents
    finally:
        loader.dispose()


TAB_MESSAGE = "a tab is used for indentation here; YAML indents with spaces only (replace the tab with spaces)"


def _indenting_tab(text: str, line_index: int) -> int | None:
    """The 1-based column of a tab in the indentation of a line (0-based index), if there is one."""
    lines = _LINE_BREAK.split(text)
    if line_index >= len(lines):
        return None
    line = lines[line_index]
    indentation = line[: len(line) - len(line.lstrip(" \t"))]
    return indentation.index("\t") + 1 if "\t" in indentation else None


def _last_line(text: str) -> int:
    """Number of the last line holding anything (1 for an empty text)."""
    lines = _LINE_BREAK.split(text)
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()  # the "line" after the final line break
    return len(lines)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.ScalarNode):
        return "an empty document" if node.tag == _NULL else f"a single value ({shorten(node.value)!r})"
    return "something else"


_SIMPLE_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_SIMPLE_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+")


def _plain_number(tag: str, text: str) -> int | float | None:
    """The common spellings (``2048``, ``0.7``) without PyYAML's slower
    constructor, which handles YAML 1.1's rarer forms (``0x10``, ``1_000``)."""
    if len(text) > 18:  # long digit strings: PyYAML's path reports Python's conversion limit
        return None
    if tag == _INT and _SIMPLE_INT.fullmatch(text):
        return int(text)
    if tag == _FLOAT and _SIMPLE_FLOAT.fullmatch(text):
        return float(text)
    return None


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Builder:
    """Plain data from the composed nodes, in the one pass over them: the line
    of every JSON path, and for every unquoted value YAML did not read as text
    (``yes``, ``0x1F``) its column and text as written, so a message can
    explain it without the file being composed again."""

    def __init__(self) -> None:
        self.lines: dict[JsonPath, int] = {}
        self.written: dict[JsonPath, tuple[int, str]] = {}
        self.visited = 0
        self.expanded_chars = 0

    def build(self, node: yaml.Node, path: JsonPath) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise _Invalid(_line(node), path, f"document expands to more than {MAX_NODES} values (alias/anchor expansion?)")
        if len(path) > MAX_DEPTH:
            # the top-level field is enough to find it; the full path is 50 steps long
            raise _Invalid(_line(node), path[:1], f"values are nested more than {MAX_DEPTH} levels deep (a recursive alias?)")
        kind = type(node)
        if kind is _SCALAR_NODE:
            value = node.value
            self.expanded_chars += len(value)
            if self.expanded_chars > MAX_EXPANDED_CHARS:
                raise _Invalid(_line(node), path, f"document expands to more than {MAX_EXPANDED_CHARS} characters of values (alias/anchor expansion?)")
            return value if node.tag == _STR else self._scalar(node, path)
        if kind is _MAPPING_NODE:
            return self._mapping(node, path)
        if node.tag != _SEQ:
            raise _Invalid(_line(node), path, f"unsupported YAML tag {shorten(node.tag)}")
        items = []
        lines = self.lines
        for index, item in enumerate(node.value):
            child = path + (index,)
            lines[child] = item.start_mark.line + 1
            items.append(self.build(item, child))
        return items

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict[str, Any]:
        if node.tag != _MAP:
            raise _Invalid(_line(node), path, f"unsupported YAML tag {shorten(node.tag)}")
        result: dict[str, Any] = {}
        lines = self.lines
        for key_node, value_node in node.value:
            if key_node.tag != _STR or type(key_node) is not _SCALAR_NODE:
                self._refuse_key(key_node, path)
            key = key_node.value
            child = path + (key,)
            if key in result:
                raise _Invalid(_line(key_node), child, f"duplicate key {shorten(key)!r} (first defined on line {lines.get(child)})")
            lines[child] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, child)
        return result

    @staticmethod
    def _refuse_key(key_node: yaml.Node, path: JsonPath) -> None:
        key_line = _line(key_node)
        if key_node.tag == _MERGE:
            raise _Invalid(key_line, path, "merge keys (<<) are not supported; use the environment's defaults instead")
        if isinstance(key_node, yaml.ScalarNode) and not key_node.style and key_node.tag in _TYPED_SCALARS:
            kind = "boolean" if key_node.tag == _BOOL else "number"
            shown = shorten(key_node.value)
            message = f"keys must be text, got {shown!r}: YAML reads the unquoted key {shown} as a {kind}; put it in quotes (\"{shown}\") if you meant text"
            raise _Invalid(key_line, path, message, key_node.start_mark.column + 1)
        shown = shorten(key_node.value) if isinstance(key_node, yaml.ScalarNode) else _kind(key_node)
        raise _Invalid(key_line, path, f"keys must be text, got {shown!r}")

    def _scalar(self, node: yaml.ScalarNode, path: JsonPath) -> Any:
        """A scalar YAML did not read as text."""
        tag = node.tag
        if tag == _NULL:
            return None
        value = _plain_number(tag, node.value)
        if value is None:
            value = self._typed(node, path)
        if not node.style and type(value) is not str:  # unquoted: the author may have meant text
            self.written[path] = (node.start_mark.column + 1, node.value)
        return value

    @staticmethod
    def _typed(node: yaml.ScalarNode, path: JsonPath) -> Any:
        tag = node.tag
        if tag in _TYPED_SCALARS:
            expected, construct = _TYPED_SCALARS[tag]
            try:
                value = construct(node)
            except (ValueError, LookupError, TypeError, yaml.YAMLError):
                # an explicit tag on text that is not of that type (``!!int twelve``),
                # or an integer over Python's 4300-digit conversion limit
                raise _Invalid(_line(node), path, f"{shorten(node.value)!r} cannot be read as {expected}") from None
            if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
                raise _Invalid(_line(node), path, f"{shorten(node.value)!r} is not a finite number")
            return value
        if tag == "tag:yaml.org,2002:timestamp":
            return node.value  # a date-looking value is kept as text; the schema judges it
        raise _Invalid(_line(node), path, f"unsupported YAML tag {shorten(tag)}")
