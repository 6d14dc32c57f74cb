"""Write the API reference (docs/api/) from the .proto files and their comments: one page per gRPC service,
and one for the events on the bus.

`make proto` runs it beside the code generation; a test regenerates the pages into a temporary folder and
compares, so the reference never drifts from the contracts. Comments in the .proto files are the source:
write them for integrators.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO / "proto"
DEFAULT_OUT = REPO / "docs" / "api"

# Paths inside a FileDescriptorProto (descriptor.proto's field numbers), for its SourceCodeInfo.
MESSAGE, ENUM, SERVICE = 4, 5, 6
FIELD, NESTED, METHOD, VALUE = 2, 3, 2, 2

SCALARS = {
    descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE: "double",
    descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT: "float",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT64: "int64",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT64: "uint64",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT32: "int32",
    descriptor_pb2.FieldDescriptorProto.TYPE_BOOL: "bool",
    descriptor_pb2.FieldDescriptorProto.TYPE_STRING: "string",
    descriptor_pb2.FieldDescriptorProto.TYPE_BYTES: "bytes",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT32: "uint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SINT32: "sint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SINT64: "sint64",
}


@dataclass(frozen=True)
class Type:
    """A message or enum, by full name, with the comments of it and its fields or values."""

    full_name: str
    file: str
    comment: str
    message: descriptor_pb2.DescriptorProto | None
    enum: descriptor_pb2.EnumDescriptorProto | None
    member_comments: tuple[str, ...]


def descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    well_known = Path(protoc.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "set.pb"
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *(str(p.relative_to(PROTO_ROOT)) for p in sorted(PROTO_ROOT.rglob("*.proto"))),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def comments(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    found = {}
    for location in file.source_code_info.location:
        text = " ".join(line.strip() for line in location.leading_comments.strip().splitlines())
        trailing = location.trailing_comments.strip()
        if trailing:
            text = f"{text} {trailing}".strip()
        if text:
            found[tuple(location.path)] = text
    return found


def _walk(
    messages: list[descriptor_pb2.DescriptorProto],
    prefix: str,
    path: tuple[int, ...],
    file_name: str,
    said: dict[tuple[int, ...], str],
) -> Iterator[Type]:
    """Each message, its nested messages and its enums, with their comments (`said`, by source path)."""
    for i, message in enumerate(messages):
        here = (*path, i)
        name = f"{prefix}.{message.name}"
        fields = tuple(said.get((*here, FIELD, j), "") for j in range(len(message.field)))
        yield Type(name, file_name, said.get(here, ""), message, None, fields)
        yield from _walk(list(message.nested_type), name, (*here, NESTED), file_name, said)
        for k, enum in enumerate(message.enum_type):
            values = tuple(said.get((*here, 4, k, VALUE, v), "") for v in range(len(enum.value)))
            yield Type(f"{name}.{enum.name}", file_name, said.get((*here, 4, k), ""), None, enum, values)


def types(files: list[descriptor_pb2.FileDescriptorProto]) -> dict[str, Type]:
    known: dict[str, Type] = {}
    for file in files:
        said = comments(file)
        for found in _walk(list(file.message_type), f".{file.package}", (MESSAGE,), file.name, said):
            known[found.full_name] = found
        for i, enum in enumerate(file.enum_type):
            values = tuple(said.get((ENUM, i, VALUE, v), "") for v in range(len(enum.value)))
            name = f".{file.package}.{enum.name}"
            known[name] = Type(name, file.name, said.get((ENUM, i), ""), None, enum, values)
    return known


def type_name(field: descriptor_pb2.FieldDescriptorProto, known: dict[str, Type]) -> str:
    if field.type_name:
        found = known.get(field.type_name)
        entry = found.message if found else None
        if entry is not None and entry.options.map_entry:
            key, value = entry.field
            return f"map<{type_name(key, known)}, {type_name(value, known)}>"
        name = field.type_name.lstrip(".")
        shown = f"[{name}](#{anchor(name)})" if field.type_name in known else name
    else:
        shown = SCALARS.get(field.type, "?")
    return f"repeated {shown}" if field.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED else shown


def anchor(full_name: str) -> str:
    return full_name.replace(".", "").lower()


def used_by(roots: list[str], known: dict[str, Type]) -> list[str]:
    """Every message and enum the roots name, transitively, in the order first met (well-known types aside)."""
    seen: list[str] = []
    stack = list(reversed(roots))
    while stack:
        name = stack.pop()
        if name in seen or name not in known:
            continue
        seen.append(name)
        message = known[name].message
        if message is not None:
            stack.extend(reversed([f.type_name for f in message.field if f.type_name]))
    return seen


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_types(names: list[str], known: dict[str, Type]) -> list[str]:
    lines: list[str] = []
    for name in names:
        found = known[name]
        if found.message is not None and found.message.options.map_entry:
            continue
        title = name.lstrip(".")
        lines += ["", f'<a id="{anchor(title)}"></a>', f"### {title}", ""]
        if found.comment:
            lines += [found.comment, ""]
        if found.message is not None:
            if not found.message.field:
                lines.append("No fields.")
                continue
            lines += ["| Field | Type | Description |", "|---|---|---|"]
            for field, comment in zip(found.message.field, found.member_comments, strict=True):
                lines.append(f"| `{field.name}` | {type_name(field, known)} | {cell(comment)} |")
        elif found.enum is not None:
            lines += ["| Value | Number | Description |", "|---|---|---|"]
            for value, comment in zip(found.enum.value, found.member_comments, strict=True):
                lines.append(f"| `{value.name}` | {value.number} | {cell(comment)} |")
    return lines


def scopes_of(file: descriptor_pb2.FileDescriptorProto) -> dict[str, str]:
    """Each method's required scope, read from the generated module (its options carry the extension)."""
    access = importlib.import_module("inbox.access.v1.access_pb2")
    module = importlib.import_module(file.name.removesuffix(".proto").replace("/", ".") + "_pb2")
    found = {}
    for service in module.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            options = method.GetOptions()
            if options.HasExtension(access.required_scope):
                found[method.full_name] = options.Extensions[access.required_scope]
    return found


def service_page(file: descriptor_pb2.FileDescriptorProto, known: dict[str, Type]) -> str:
    said = comments(file)
    scopes = scopes_of(file)
    lines = [
        f"<!-- Generated by libs/contracts/reference.py from proto/{file.name}: edit the .proto comments. -->",
    ]
    roots: list[str] = []
    for i, service in enumerate(file.service):
        full = f"{file.package}.{service.name}"
        lines += [f"# {full}", ""]
        if said.get((SERVICE, i)):
            lines += [said[(SERVICE, i)], ""]
        lines += [
            f"Defined in `proto/{file.name}`. Every method needs an API key holding its scope "
            "(`authorization: Bearer <key>`); errors are listed in [errors.md](errors.md).",
            "",
            "| Method | Request | Response | Scope | Description |",
            "|---|---|---|---|---|",
        ]
        for j, method in enumerate(service.method):
            request, response = method.input_type.lstrip("."), method.output_type.lstrip(".")
            stream = "stream " if method.server_streaming else ""
            lines.append(
                f"| `{method.name}` | [{request.rsplit('.', 1)[-1]}](#{anchor(request)}) "
                f"| {stream}[{response.rsplit('.', 1)[-1]}](#{anchor(response)}) "
                f"| `{scopes.get(f'{full}.{method.name}', '')}` | {cell(said.get((SERVICE, i, METHOD, j), ''))} |"
            )
            roots += [method.input_type, method.output_type]
    lines += ["", "## Messages and enums"]
    lines += render_types(used_by(roots, known), known)
    return "\n".join(lines) + "\n"


def events_page(files: list[descriptor_pb2.FileDescriptorProto], known: dict[str, Type]) -> str:
    subjects = importlib.import_module("inbox_events.subjects").every_subject()
    lines = [
        "<!-- Generated by libs/contracts/reference.py from proto/**/events.proto: edit the .proto comments. -->",
        "# Events",
        "",
        "What the services publish on NATS JetStream, each wrapped in an `inbox.events.v1.EventEnvelope`. "
        "Within a major version (`v1`) events only grow: fields are added, never renumbered, retyped or "
        "removed, so a consumer that ignores what it does not know keeps working.",
        "",
        "| Subject | Event | Description |",
        "|---|---|---|",
    ]
    roots: list[str] = []
    for full_name, subject in sorted(subjects.items(), key=lambda item: item[1]):
        name = f".{full_name}"
        found = known.get(name)
        comment = found.comment if found else ""
        lines.append(f"| `{subject}` | [{full_name.rsplit('.', 1)[-1]}](#{anchor(full_name)}) | {cell(comment)} |")
        roots.append(name)
    envelope = [f".{f.package}.{m.name}" for f in files if f.name.endswith("envelope.proto") for m in f.message_type]
    lines += ["", "## Messages and enums"]
    lines += render_types(used_by(envelope + roots, known), known)
    return "\n".join(lines) + "\n"


def write(out: Path) -> None:
    files = [f for f in descriptor_set().file if f.name.startswith("inbox/")]
    known = types(files)
    out.mkdir(parents=True, exist_ok=True)
    for file in files:
        if file.service:
            name = file.service[0].name
            (out / f"{name}.md").write_text(service_page(file, known))
    (out / "events.md").write_text(events_page(files, known))


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT)
