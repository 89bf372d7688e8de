"""Unit tests of the packet layer and of one connection's streams and flow control, with a
fake device (trivial services) over real loopback sockets and a hand-driven host side."""

from __future__ import annotations

import asyncio
import struct

import pytest

from harness.virtual import protocol
from harness.virtual.protocol import A_AUTH, A_CLSE, A_CNXN, A_OKAY, A_OPEN, A_WRTE, MalformedPacket
from harness.virtual.transport import Connection, Stream


def test_packets_round_trip_and_bad_ones_are_refused():
    packet = protocol.encode_packet(A_WRTE, 3, 9, b"hello")
    header = protocol.decode_header(packet[:24], 4096)
    assert (header.command, header.arg0, header.arg1, header.data_length) == (A_WRTE, 3, 9, 5)
    assert header.data_check == sum(b"hello")
    with pytest.raises(MalformedPacket, match="magic"):
        protocol.decode_header(b"\0" * 24, 4096)
    with pytest.raises(MalformedPacket, match="exceeds"):
        protocol.decode_header(protocol.encode_packet(A_WRTE, 1, 1, b"x" * 5000)[:24], 4096)
    unknown = struct.pack("<6I", 0x41414141, 0, 0, 0, 0, 0x41414141 ^ 0xFFFFFFFF)
    with pytest.raises(MalformedPacket, match="unknown command"):
        protocol.decode_header(unknown, 4096)


def test_banner_names_product_model_device_and_features():
    banner = protocol.device_banner("p", "M", "d").decode()
    assert banner.startswith("device::ro.product.name=p;ro.product.model=M;ro.product.device=d;features=")
    assert "shell_v2" in banner and not banner.endswith("\0")


class FakeDevice:
    """Services: `echo:` sends back what it receives; `source:N` sends N bytes; `wait:` blocks."""

    def __init__(self, unauthorized: bool = False):
        self.unauthorized = unauthorized
        self.cancelled: list[str] = []

    def banner(self) -> bytes:
        return protocol.device_banner("p", "m", "d")

    def open_service(self, name):
        if name == "echo:":
            return self._echo
        if name.startswith("source:"):
            return lambda stream: stream.send(b"s" * int(name[7:]))
        if name == "wait:":
            return self._wait
        return None

    async def _echo(self, stream: Stream) -> None:
        while (data := await stream.receive()) is not None:
            await stream.send(data)

    async def _wait(self, stream: Stream) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            self.cancelled.append("wait:")


class Host:
    """The host side of one connection, driven packet by packet."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    def send(self, command, arg0, arg1, payload=b""):
        self.writer.write(protocol.encode_packet(command, arg0, arg1, payload))

    async def receive(self):
        raw = await self.reader.readexactly(protocol.HEADER_SIZE_BYTES)
        header = protocol.decode_header(raw, protocol.MAX_PAYLOAD_BYTES)  # the device's packets are checked too
        payload = await self.reader.readexactly(header.data_length) if header.data_length else b""
        return header.command, header.arg0, header.arg1, payload

    async def connect(self, max_payload=protocol.MAX_PAYLOAD_BYTES):
        self.send(A_CNXN, protocol.A_VERSION, max_payload, b"host::\0")
        return await self.receive()

    async def open(self, host_id, name):
        self.send(A_OPEN, host_id, 0, name.encode() + b"\0")
        command, device_id, arg1, _ = await self.receive()
        assert (command, arg1) == (A_OKAY, host_id)
        return device_id


async def with_device(device, body):
    async def accept(reader, writer):
        await Connection(reader, writer, device).serve()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await body(port)
    finally:
        server.close()


async def open_host(port) -> Host:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return Host(reader, writer)


def test_handshake_negotiates_the_smaller_payload_and_packets_respect_it():
    async def body(port):
        host = await open_host(port)
        command, version, max_payload, banner = await host.connect(max_payload=4096)
        assert (command, version, max_payload) == (A_CNXN, protocol.A_VERSION, 4096)
        assert banner.startswith(b"device::")
        device_id = await host.open(5, "source:10000")
        sizes = []
        while sum(sizes) < 10000:
            command, arg0, arg1, payload = await host.receive()
            assert (command, arg0, arg1) == (A_WRTE, device_id, 5)
            sizes.append(len(payload))
            host.send(A_OKAY, 5, device_id)
        assert max(sizes) <= 4096
        assert (await host.receive())[0] == A_CLSE

    asyncio.run(with_device(FakeDevice(), body))


def test_device_waits_for_okay_before_its_next_write_while_other_streams_go_on():
    async def body(port):
        host = await open_host(port)
        await host.connect(max_payload=4096)
        source = await host.open(1, "source:9000")
        first = await host.receive()
        assert first[0] == A_WRTE and first[1] == source
        # No OKAY for the source yet: a second stream must still work, and nothing more may
        # arrive for the first one meanwhile.
        echo = await host.open(2, "echo:")
        host.send(A_WRTE, 2, echo, b"ping")
        seen = [await host.receive(), await host.receive()]
        assert {(c, a1) for c, _a0, a1, _p in seen} == {(A_OKAY, 2), (A_WRTE, 2)}
        assert [p for c, _a0, _a1, p in seen if c == A_WRTE] == [b"ping"]
        host.send(A_OKAY, 1, source)
        assert (await host.receive())[:2] == (A_WRTE, source)

    asyncio.run(with_device(FakeDevice(), body))


def test_unknown_service_is_refused_and_host_close_cancels_the_service():
    device = FakeDevice()

    async def body(port):
        host = await open_host(port)
        await host.connect()
        host.send(A_OPEN, 3, 0, b"nope:\0")
        assert await host.receive() == (A_CLSE, 0, 3, b"")
        waiting = await host.open(4, "wait:")
        host.send(A_CLSE, 4, waiting)
        echo = await host.open(6, "echo:")  # a round trip later the cancellation has run
        host.send(A_WRTE, 6, echo, b"x")
        await host.receive()
        await host.receive()
        assert device.cancelled == ["wait:"]

    asyncio.run(with_device(device, body))


def test_malformed_packet_closes_only_its_connection():
    async def body(port):
        good, bad = await open_host(port), await open_host(port)
        await good.connect()
        await bad.connect()
        bad.writer.write(b"garbage!" * 3)
        assert await bad.reader.read(1) == b""
        echo = await good.open(1, "echo:")
        good.send(A_WRTE, 1, echo, b"still here")
        replies = [await good.receive(), await good.receive()]
        assert (A_WRTE, echo, 1, b"still here") in replies

    asyncio.run(with_device(FakeDevice(), body))


def test_unauthorized_device_answers_every_signature_with_a_new_token():
    async def body(port):
        host = await open_host(port)
        command, token_type, _, token = await host.connect()
        assert (command, token_type, len(token)) == (A_AUTH, protocol.AUTH_TOKEN, 20)
        host.send(A_AUTH, protocol.AUTH_SIGNATURE, 0, b"s" * 256)
        command, token_type, _, second = await host.receive()
        assert (command, token_type) == (A_AUTH, protocol.AUTH_TOKEN) and second != token
        host.send(A_OPEN, 1, 0, b"echo:\0")  # ignored: the device is not online
        host.send(A_AUTH, protocol.AUTH_RSAPUBLICKEY, 0, b"key\0")
        host.writer.write_eof()
        assert await host.reader.read() == b""

    asyncio.run(with_device(FakeDevice(unauthorized=True), body))
