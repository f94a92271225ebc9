"""The router's upstream client against raw asyncio servers: keep-alive, chunked bodies,
stale pooled connections, refusals and timeouts."""

from __future__ import annotations

import asyncio

import pytest

from release.deploy import processes
from release.deploy.upstream import UpstreamError, UpstreamPool


async def serve(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def read_request(reader):
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return await reader.readexactly(length) if length else b""


def test_keep_alive_chunked_and_stale_connections():
    connections = []

    async def handler(reader, writer):
        connections.append(writer)
        n = 0
        while True:
            try:
                body = await read_request(reader)
            except asyncio.IncompleteReadError:
                break
            if reader.at_eof():
                break
            n += 1
            if body == b"chunked":
                writer.write(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                )
            else:
                writer.write(
                    b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                )
            await writer.drain()
            if body == b"close-after":
                writer.close()
                return

    async def main():
        server, port = await serve(handler)
        pool = UpstreamPool("127.0.0.1", port)
        r1 = await pool.request("POST", "/a", b"hello")
        assert (r1.status, r1.body) == (201, b"hello")
        r2 = await pool.request("POST", "/a", b"chunked")
        assert r2.body == b"abcde"
        assert len(connections) == 1  # one keep-alive connection for both
        await pool.request("POST", "/a", b"close-after")
        # The pooled connection is now closed by the server: retried on a fresh one.
        r3 = await pool.request("POST", "/a", b"again")
        assert r3.body == b"again" and len(connections) == 2
        pool.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())


def test_refused_and_timeout():
    async def slow(reader, writer):
        await asyncio.sleep(5)

    async def main():
        pool = UpstreamPool("127.0.0.1", processes.free_port())
        with pytest.raises(UpstreamError, match="cannot connect"):
            await pool.request("POST", "/", b"x")
        server, port = await serve(slow)
        with pytest.raises(UpstreamError, match="timed out"):
            await UpstreamPool("127.0.0.1", port).request("POST", "/", b"x", timeout=0.2)
        server.close()

    asyncio.run(main())
