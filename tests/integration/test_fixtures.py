"""The fixtures hand out real servers: prove it by talking to them."""

from __future__ import annotations

import asyncpg
import nats


async def test_nats_fixture_is_a_real_jetstream_server(nats_url: str, unique_name: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=unique_name, subjects=[f"{unique_name}.>"])
        ack = await js.publish(f"{unique_name}.x", b"hello")
        assert ack.seq == 1
        msg = await js.get_msg(unique_name, seq=1)
        assert msg.data == b"hello"
    finally:
        await nc.close()


async def test_each_test_gets_an_empty_database(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        assert tables == 0
        await conn.execute("CREATE TABLE t (id int primary key)")
        await conn.execute("INSERT INTO t VALUES (1)")
        assert await conn.fetchval("SELECT count(*) FROM t") == 1
    finally:
        await conn.close()
