"""The configuration reference, generated from configs/ when the site is built (a MkDocs hook).

Every key of every YAML file under configs/ becomes a row (key, default as written, the comment on
its line and the comment lines that continue it), so the reference cannot drift from the configs.
`on_files` adds the whole reference as a page; `on_page_markdown` replaces a line
`<!-- config: translate.yaml -->` in a page with that file's table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

REFERENCE_PAGE = "configuration-reference.md"
MARKER = re.compile(r"^<!-- config: (\S+\.yaml) -->$", re.MULTILINE)  # a path under configs/
# Sections of a primary config that are not options of the command.
SKIPPED_SECTIONS = {"hydra"}
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[^\s#:'\"-][^:#]*?|'[^']*'|\"[^\"]*\"):(?:\s+(?P<rest>.*))?$")


@dataclass
class Key:
    """One key of a YAML file: its dotted path, its value as written ("" for a mapping) and its comment."""

    path: str
    value: str
    comment: str


@dataclass
class Block:
    """The keys between two standalone comments; `note` is the comment above them ("" for none)."""

    note: str
    keys: list[Key] = field(default_factory=list)


@dataclass
class ConfigFile:
    header: str                      # the comment lines above the first key
    package: str | None              # from "# @package _global_"
    defaults: list[Key]              # the defaults list, less _self_ and Hydra's own groups
    blocks: list[Block]


def split_comment(text: str) -> tuple[str, str]:
    """'value  # comment' -> ('value', 'comment'); a '#' inside quotes or not after a space stays in the value."""
    quote = None
    for index, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] in " \t"):
            return text[:index].rstrip(), text[index + 1:].strip()
    return text.rstrip(), ""


def parse_config(text: str) -> ConfigFile:
    """Read the keys, defaults and comments of one Hydra YAML file, line by line.

    A comment-only line right below a key (no blank line between) and indented past the key continues
    that key's comment; any other comment-only line after the first key starts a new block.
    """
    header: list[str] = []
    package = None
    defaults: list[Key] = []
    blocks = [Block(note="")]
    stack: list[tuple[int, str]] = []   # (indent, name) of the mappings the current line is inside
    last: tuple[int, Key] | None = None  # the key a continuation line would extend, with its indent
    seen_key = False
    header_done = False  # a blank line ends the header; comments after it, before any key, are a note
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if not stripped:
            last = None
            header_done = bool(header)
            continue
        if stripped.startswith("#"):
            comment = stripped[1:].strip()
            if not seen_key and not header_done:
                if comment.startswith("@package"):
                    package = comment.split(maxsplit=1)[1] if " " in comment else None
                else:
                    header.append(stripped[1:].removeprefix(" "))
            elif last is not None and indent > last[0]:
                last[1].comment = f"{last[1].comment} {comment}".strip()
            elif indent == 0 and not _skipped(stack):
                if blocks[-1].keys or not blocks[-1].note:
                    blocks.append(Block(note=comment))
                else:
                    blocks[-1].note += " " + comment
                last = None
            continue
        seen_key = True
        is_item = stripped.startswith("- ")
        while stack and (stack[-1][0] > indent or (stack[-1][0] == indent and not is_item)):
            stack.pop()   # a list item may sit at its key's own indent
        if is_item:
            entry = _list_item(stripped[2:], stack, defaults, blocks)
            last = (indent, entry) if entry else None
            continue
        match = KEY_LINE.match(line)
        if match is None:
            last = None
            continue
        name = match["key"].strip("'\"")
        value, comment = split_comment(match["rest"] or "")
        parents = [parent for _, parent in stack]
        stack.append((indent, name))
        if _skipped(stack) or parents[:1] == ["defaults"] or (not parents and name == "defaults"):
            last = None
            continue
        key = Key(path=".".join([*parents, name]), value=value, comment=comment)
        blocks[-1].keys.append(key)
        last = (indent, key)
    return ConfigFile(header="\n".join(header).strip("\n"), package=package, defaults=defaults,
                      blocks=[block for block in blocks if block.keys or block.note])


def _skipped(stack: list[tuple[int, str]]) -> bool:
    return bool(stack) and stack[0][1] in SKIPPED_SECTIONS


def _list_item(item: str, stack: list[tuple[int, str]], defaults: list[Key], blocks: list[Block]) -> Key | None:
    """A block-list item: an entry of the defaults list (returned), or one more element of the last key's value."""
    value, comment = split_comment(item)
    if stack and stack[0][1] == "defaults":
        group, _, choice = value.partition(":")
        group = group.strip()
        if group != "_self_" and not group.startswith(("override hydra/", "hydra/")):
            group = group.removeprefix("override ").removeprefix("optional ").lstrip("/")
            defaults.append(Key(path=group, value=choice.strip(), comment=comment))
            return defaults[-1]
        return None
    if _skipped(stack) or not blocks[-1].keys:
        return None
    key = blocks[-1].keys[-1]
    key.value = f"[{key.value[1:-1] + ', ' if key.value else ''}{value}]"
    return None


def _escape(text: str) -> str:
    """A comment as table-cell markdown: no accidental emphasis, HTML tags or column breaks."""
    text = re.sub(r"([\\*_|])", r"\\\1", text)
    return text.replace("<", "&lt;")


def _code(text: str) -> str:
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _header_markdown(header: str) -> str:
    """The file's header comment: prose as paragraphs, lines indented by two spaces as code blocks."""
    chunks: list[tuple[bool, list[str]]] = []   # (is_code, lines)
    for line in header.splitlines():
        is_code = line.startswith("  ")
        if not chunks or chunks[-1][0] != is_code:
            chunks.append((is_code, []))
        chunks[-1][1].append(line.strip() if is_code else _escape(line))
    return "\n\n".join("```\n" + "\n".join(lines) + "\n```" if is_code else "\n".join(lines)
                       for is_code, lines in chunks)


def file_table(config: ConfigFile, prefix: str = "") -> str:
    """The defaults list and one table of keys per block, as markdown."""
    parts = []
    if config.defaults:
        items = [f"- {_code(entry.path + ('=' + entry.value if entry.value else ''))}"
                 + (f": {_escape(entry.comment)}" if entry.comment else "") for entry in config.defaults]
        parts.append("Defaults list (config groups chosen unless overridden):\n\n" + "\n".join(items))
    for block in config.blocks:
        rows = ["| key | default | meaning |", "| --- | --- | --- |"]
        for key in block.keys:
            if not key.value and not key.comment:
                continue   # a mapping without a comment: its keys have rows of their own
            default = "required (`???`)" if key.value == "???" else _code(key.value) if key.value else ""
            rows.append(f"| {_code(prefix + key.path)} | {default} | {_escape(key.comment)} |")
        note = f"*{_escape(block.note.lstrip('- '))}*\n\n" if block.note else ""
        if len(rows) > 2:
            parts.append(note + "\n".join(rows))
        elif note:
            parts.append(note.strip())
    return "\n\n".join(parts)


def _title_and_prefix(relative: Path, config: ConfigFile) -> tuple[str, str]:
    """A file's heading and the prefix its keys take on the command line (data.clean.max_len)."""
    group = relative.parent.as_posix()
    anchor = "config-" + relative.with_suffix("").as_posix().replace("/", "-")
    if group == ".":
        return f"`configs/{relative.as_posix()}` {{ #{anchor} }}", ""
    prefix = "" if config.package == "_global_" else group.replace("/", ".") + "."
    return f"`{group}={relative.stem}` (`configs/{relative.as_posix()}`) {{ #{anchor} }}", prefix


def _file_section(path: Path, configs_dir: Path, level: str) -> str:
    config = parse_config(path.read_text(encoding="utf-8"))
    title, prefix = _title_and_prefix(path.relative_to(configs_dir), config)
    body = [f"{level} {title}", _header_markdown(config.header), file_table(config, prefix)]
    return "\n\n".join(part for part in body if part)


def render_reference(configs_dir: Path) -> str:
    """The whole reference page: the primary configs (one per command), then every group's options."""
    configs_dir = Path(configs_dir)
    primary = sorted(configs_dir.glob("*.yaml"), key=lambda path: (path.name != "config.yaml", path.name))
    groups = sorted({path.parent for path in configs_dir.rglob("*.yaml")} - {configs_dir},
                    key=lambda path: (path.name == "experiment", path.name))
    out = [
        "# Configuration reference",
        ("Generated from `configs/` each time the site is built: every key of every file, its default as "
         "written in the file and the comment on its line. Override any of them on the command line "
         "(`key=value`; a group's keys as `group.key=value`), see [Configuration](configuration.md)."),
        "## Commands",
        ("Each command has one primary config; `nmt-train` and `nmt-prepare` compose `configs/config.yaml` "
         "with the groups below."),
        *(_file_section(path, configs_dir, "###") for path in primary),
    ]
    for group in groups:
        out.append(f"## Group `{group.relative_to(configs_dir).as_posix()}`")
        out.extend(_file_section(path, configs_dir, "###") for path in sorted(group.glob("*.yaml")))
    return "\n\n".join(out) + "\n"


def _configs_dir(config) -> Path:
    return Path(config.config_file_path).parent / "configs"


def on_files(files, config):
    from mkdocs.structure.files import File

    content = render_reference(_configs_dir(config))
    files.append(File.generated(config, REFERENCE_PAGE, content=content))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    configs_dir = _configs_dir(config)

    def table(match: re.Match) -> str:
        path = configs_dir / match[1]
        if not path.is_file():
            raise FileNotFoundError(f"{page.file.src_uri}: {match[0]} names no file under configs/")
        config = parse_config(path.read_text(encoding="utf-8"))
        return file_table(config, _title_and_prefix(path.relative_to(configs_dir), config)[1])

    return MARKER.sub(table, markdown)
