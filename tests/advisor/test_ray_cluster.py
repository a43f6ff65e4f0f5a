"""A Ray address is checked with one TCP connection before ``ray.init``, which would retry for minutes."""
from __future__ import annotations

import socket

import pytest

from advisor.ray_cluster import unreachable_reason
from testsupport import free_port


@pytest.mark.parametrize("address", [None, "auto", "local", " AUTO "])
def test_addresses_ray_resolves_itself_are_left_to_ray(address):
    assert unreachable_reason(address) is None


@pytest.mark.parametrize("address", ["head-node", "ray://head-node", "10.0.0.5:port"])
def test_an_address_without_a_port_says_how_to_write_one(address):
    assert "has no port number: give it as host:port" in unreachable_reason(address)


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_where_nothing_listens_names_host_and_port(scheme):
    port = free_port()
    reason = unreachable_reason(f"{scheme}127.0.0.1:{port}")
    assert reason.startswith(f"nothing answers at 127.0.0.1:{port} (") and "--ray-address" in reason


def test_an_unknown_host_is_named():
    assert unreachable_reason("no-such-host.invalid:6379").startswith("nothing answers at no-such-host.invalid:6379")


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_that_accepts_a_connection_goes_on_to_ray(scheme):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert unreachable_reason(f"{scheme}127.0.0.1:{server.getsockname()[1]}") is None


def test_the_docstring_examples_run_and_show_what_they_say():
    import doctest

    import advisor.ray_cluster

    assert doctest.testmod(advisor.ray_cluster).failed == 0
