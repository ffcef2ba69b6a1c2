"""YAML loading that remembers the line of every key, for error messages, in bounded time and size.

A station file is loaded safely whatever it holds: its size, nesting depth,
number of aliases and the size it expands to are bounded before anything is
built, so an alias bomb ("billion laughs"), a recursive alias or a 50 MB
file is refused in well under a second with a clear error, never a hang or
a RecursionError.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

Path = tuple[str | int, ...]

MAX_CHARS = 4_000_000  # a station of hundreds of modules is well below 1 MB
MAX_DEPTH = 40  # nesting of mappings and lists, as written and as expanded through aliases
MAX_ALIASES = 1_000
MAX_NODES = 500_000  # values once every alias is expanded
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when PyYAML has it: about 10x faster
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


class YamlSyntaxError(ValueError):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class YamlDocument:
    data: object
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """Line of the deepest known key along path (1-based)."""
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is not None:
                return line
        return None


def _line(mark) -> int:
    return mark.line + 1 if mark is not None else 1


def _scan(text: str) -> None:
    """Depth and aliases as written, from the event stream (PyYAML's parser is not recursive)."""
    depth = aliases = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlSyntaxError(_line(event.start_mark), f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise YamlSyntaxError(_line(event.start_mark), f"more than {MAX_ALIASES} aliases")


def _measure(root: yaml.Node) -> None:
    """Expanded size and depth of the node graph, without expanding it; a cycle is a recursive alias.
    Iterative (explicit stack), each distinct node once."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_NODES:
                raise YamlSyntaxError(_line(node.start_mark),
                                      f"expands to more than {MAX_NODES} values through its aliases (an alias bomb?)")
            if depth[key] > MAX_DEPTH + 1:
                raise YamlSyntaxError(_line(node.start_mark), f"nested more than {MAX_DEPTH} levels deep through its aliases")
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlSyntaxError(_line(node.start_mark), "a recursive alias: this value contains itself")
        on_path.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                raise YamlSyntaxError(_line(child.start_mark), "a recursive alias: this value contains itself")
            if id(child) not in size:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class _Builder:
    def __init__(self):
        self.constructor = yaml.SafeLoader("")
        self.lines: dict[Path, int] = {}

    def scalar(self, node: yaml.Node):
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            raise YamlSyntaxError(_line(node.start_mark), f"cannot read the value {node.value!r}: {exc}") from None

    def walk(self, node: yaml.Node, path: Path):
        self.lines.setdefault(path, _line(node.start_mark))
        if node.tag not in (_MAP, _SEQ) and not isinstance(node, yaml.ScalarNode):
            raise YamlSyntaxError(_line(node.start_mark), f"unsupported YAML tag {node.tag!r}")
        if isinstance(node, yaml.MappingNode):
            result = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise YamlSyntaxError(_line(key_node.start_mark), "a key must be a plain value, not a list or mapping")
                key = str(self.scalar(key_node))
                self.lines[path + (key,)] = _line(key_node.start_mark)
                if key in result:
                    raise YamlSyntaxError(_line(key_node.start_mark), f"duplicate key {key!r}")
                result[key] = self.walk(value_node, path + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, path + (i,)) for i, item in enumerate(node.value)]
        return self.scalar(node)


def _syntax_error(text: str, exc: yaml.YAMLError) -> YamlSyntaxError:
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow (binary data, NUL)
        line = text.count("\n", 0, max(0, exc.position)) + 1
        return YamlSyntaxError(line, f"not text: character {exc.character!r} at position {exc.position} "
                                     "is not allowed in YAML (a binary file?)")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or str(exc)
        context = f" ({exc.context} at line {_line(exc.context_mark)})" if exc.context and exc.context_mark else ""
        at_end = mark is not None and mark.index >= len(text.rstrip())
        if at_end or "<stream end>" in problem or "end of the stream" in problem:
            problem += ": the file ends too early (truncated?)"
        return YamlSyntaxError(_line(mark), f"YAML syntax error: {problem}{context}")
    return YamlSyntaxError(1, f"YAML error: {exc}")


def load_yaml(text: str) -> YamlDocument:
    if len(text) > MAX_CHARS:
        raise YamlSyntaxError(1, f"the file is too large for a station file: {len(text)} characters (limit {MAX_CHARS})")
    try:
        _scan(text)
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise _syntax_error(text, exc) from None
    if node is None:
        return YamlDocument({}, {(): 1})
    _measure(node)
    builder = _Builder()
    data = builder.walk(node, ())
    return YamlDocument(data, builder.lines)
