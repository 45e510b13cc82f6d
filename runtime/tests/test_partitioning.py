"""The outbox relay picks partitions itself (it submits whole record batches): it must pick the very
partition Kafka's default partitioner (Java client, aiokafka) picks, or a key's events would be split
across partitions depending on who produced them and lose their order."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from latchkey.runtime.kafka import murmur2, partition_for


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=512))
def test_partition_for_agrees_with_the_default_partitioner(key: bytes, partitions: int) -> None:
    everything = list(range(partitions))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, everything, everything)


def test_murmur2_matches_the_java_clients_published_values() -> None:
    # From the Java client's UtilsTest.testMurmur2 (org.apache.kafka.common.utils).
    cases = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    for key, signed in cases.items():
        assert murmur2(key) == signed & 0xFFFFFFFF, key
