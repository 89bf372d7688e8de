"""ADB packets as the device side sees them (AOSP adb/protocol.txt).

A packet is a 24-byte header of six little-endian u32 (command, arg0, arg1, data_length,
data_check, magic) followed by `data_length` payload bytes. `magic` is `command ^ 0xFFFFFFFF`;
`data_check` is a plain byte sum that hosts at version >= 0x01000001 ignore (we send it anyway).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

A_CNXN = 0x4E584E43
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
A_AUTH = 0x48545541
A_SYNC = 0x434E5953  # obsolete; refused like any unknown command
A_STLS = 0x534C5453

KNOWN_COMMANDS = {A_CNXN, A_OPEN, A_OKAY, A_CLSE, A_WRTE, A_AUTH, A_STLS}

# AUTH packet types (arg0).
AUTH_TOKEN = 1
AUTH_SIGNATURE = 2
AUTH_RSAPUBLICKEY = 3
AUTH_TOKEN_SIZE_BYTES = 20

A_VERSION_MIN = 0x01000000  # checksummed payloads
A_VERSION = 0x01000001  # checksum ignored by the receiver
MAX_PAYLOAD_V1_BYTES = 4096
MAX_PAYLOAD_BYTES = 1024 * 1024

HEADER = struct.Struct("<6I")
HEADER_SIZE_BYTES = HEADER.size

# Only what this device implements: advertising a feature changes how hosts talk to it
# (e.g. `abb` would route `adb install` to a service that does not exist here).
FEATURES = (
    "shell_v2",
    "cmd",
    "stat_v2",
    "ls_v2",
    "fixed_push_mkdir",
    "fixed_push_symlink_timestamp",
)


class MalformedPacket(Exception):
    """The peer sent something that is not an ADB packet; the connection cannot continue."""


@dataclass(frozen=True)
class PacketHeader:
    command: int
    arg0: int
    arg1: int
    data_length: int
    data_check: int


def command_name(command: int) -> str:
    text = command.to_bytes(4, "little")
    return text.decode("ascii") if text.isalpha() else f"0x{command:08x}"


def encode_header(
    command: int, arg0: int, arg1: int, payload: bytes = b"", *, version: int = A_VERSION
) -> bytes:
    # sum() over a large payload is a full pass in Python; hosts >= 0x01000001 ignore the
    # checksum, so for them it is only computed for small (control) packets.
    needs_check = version < A_VERSION or len(payload) <= MAX_PAYLOAD_V1_BYTES
    check = sum(payload) if needs_check else 0
    return HEADER.pack(command, arg0, arg1, len(payload), check, command ^ 0xFFFFFFFF)


def encode_packet(
    command: int, arg0: int, arg1: int, payload: bytes = b"", *, version: int = A_VERSION
) -> bytes:
    return encode_header(command, arg0, arg1, payload, version=version) + payload


def decode_header(raw: bytes, max_payload_bytes: int) -> PacketHeader:
    command, arg0, arg1, length, check, magic = HEADER.unpack(raw)
    if magic != command ^ 0xFFFFFFFF:
        raise MalformedPacket(f"bad magic 0x{magic:08x} for command 0x{command:08x}")
    if command not in KNOWN_COMMANDS:
        raise MalformedPacket(f"unknown command {command_name(command)}")
    if length > max_payload_bytes:
        raise MalformedPacket(
            f"{command_name(command)} payload of {length} bytes exceeds the limit of "
            f"{max_payload_bytes}"
        )
    return PacketHeader(command, arg0, arg1, length, check)


def checksum_matches(header: PacketHeader, payload: bytes, version: int) -> bool:
    # A data_check of 0 means the sender skipped it: an adb server reconnecting a transport it
    # already negotiated sends its CNXN that way, and modern adbd accepts it.
    return version >= A_VERSION or header.data_check == 0 or sum(payload) == header.data_check


# Characters a banner value cannot hold: `;` and `=` separate its fields, and the adb server
# cuts the banner at `:`.
_BANNER_SEPARATORS = str.maketrans({c: "_" for c in ";=:\n\r"})


def device_banner(product_name: str, model: str, device: str, features: tuple[str, ...] = FEATURES) -> bytes:
    """The CNXN payload `adb devices -l` reads product/model/device from."""
    props = [
        f"ro.product.name={product_name.translate(_BANNER_SEPARATORS)}",
        f"ro.product.model={model.translate(_BANNER_SEPARATORS)}",
        f"ro.product.device={device.translate(_BANNER_SEPARATORS)}",
        "features=" + ",".join(features),
    ]
    banner = ("device::" + ";".join(props)).encode("utf-8")
    if len(banner) > MAX_PAYLOAD_V1_BYTES:
        raise ValueError(f"CNXN banner of {len(banner)} bytes exceeds {MAX_PAYLOAD_V1_BYTES}")
    return banner


def service_name(payload: bytes) -> str:
    """OPEN's payload: the service name, NUL-terminated by most hosts."""
    return payload.rstrip(b"\0").decode("utf-8", errors="surrogateescape")
