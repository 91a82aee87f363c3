"""YAML aliases, bounded: a document whose aliases expand it past a sane size ("billion laughs") or
make it contain itself is refused before anything walks it expanded."""

from __future__ import annotations

from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

MAX_ALIAS_GROWTH = 100_000  # values aliases may add to a document once expanded (a config needs a few dozen)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def alias_problem(root: Node) -> tuple[Node, str] | None:
    """(node, reason) when aliases make `root` recursive or expand it by more than MAX_ALIAS_GROWTH values.

    Counts without expanding: each node's expanded size is computed once (an alias is the anchored node
    itself in the composed graph), so a "billion laughs" document costs its written size here.
    """
    size: dict[int, int] = {}
    on_path = {id(root)}
    stack = [(root, iter(_children(root)))]
    while stack:
        node, it = stack[-1]
        for child in it:
            cid = id(child)
            if cid in size:
                continue
            if cid in on_path:
                return child, "an alias (*name) refers to a node that contains it"
            on_path.add(cid)
            stack.append((child, iter(_children(child))))
            break
        else:
            stack.pop()
            on_path.discard(id(node))
            total = 1 + sum(size[id(c)] for c in _children(node))
            size[id(node)] = total
            if total - len(size) > MAX_ALIAS_GROWTH:
                return node, f"its aliases (*name) expand to more than {MAX_ALIAS_GROWTH:,} values (a YAML alias bomb)"
    return None
