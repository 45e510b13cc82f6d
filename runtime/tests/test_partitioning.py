"""The outbox relay picks partitions itself (it submits whole record batches): it must pick the very
partition Kafka's default partitioner (Java client, aiokafka) picks, or a key's events would be split
across partitions depending on who produced them and lose their order."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from latchkey.runtime.kafka import default_partitioner, murmur2, partition_for


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=512))
def test_partition_for_agrees_with_the_default_partitioner(key: bytes, partitions: int) -> None:
    everything = list(range(partitions))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, everything, everything)


@given(st.binary(max_size=300), st.lists(st.integers(0, 1000), min_size=1, max_size=64, unique=True))
def test_the_producers_partitioner_agrees_with_aiokafkas(key: bytes, partitions: list[int]) -> None:
    """Every producer (services, relay) partitions with `default_partitioner`; aiokafka's own is the
    reference, also for partition ids that are not 0..n-1 in order."""
    ordered = sorted(partitions)
    expected = DefaultPartitioner()(key, ordered, ordered)
    assert default_partitioner(key, ordered, ordered) == expected


def test_a_record_without_key_goes_to_an_available_partition() -> None:
    chosen = {default_partitioner(None, [0, 1, 2, 3], [1, 3]) for _ in range(200)}
    assert chosen == {1, 3}


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
