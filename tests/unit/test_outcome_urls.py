"""The outcome destination rules on IP literals (no DNS): IPv6 forms that carry a private
IPv4 address are refused like the address itself, and ``https`` is required of unlisted
hosts."""

from __future__ import annotations

import pytest

from adapters.outcome_urls import OutcomeUrlPolicy, OutcomeUrlRefused

# Each form reaches 10.0.0.1 or 127.0.0.1 (or stays in the operator's network), so each is
# as private as the address it carries.
PRIVATE_FORMS = {
    "nat64": "64:ff9b::a00:1",
    "nat64 dotted": "64:ff9b::10.0.0.1",
    "nat64 loopback": "64:ff9b::127.0.0.1",
    "nat64 metadata": "64:ff9b::169.254.169.254",
    "nat64 local-use, any position": "64:ff9b:1:a00:1::",
    "nat64 local-use, public-looking tail": "64:ff9b:1::8.8.8.8",
    "6to4": "2002:a00:1::1",
    "6to4 loopback": "2002:7f00:1::",
    "teredo, private client": "2001:0:4136:e378:8000:63bf:f5ff:fffe",
    "ipv4-mapped": "::ffff:10.0.0.1",
    "ipv4-compatible": "::10.0.0.1",
    "ipv4-compatible loopback": "::127.0.0.1",
    "ipv4-translated": "::ffff:0:10.0.0.1",
    "ipv4-translated metadata": "::ffff:0:169.254.169.254",
}

# The same forms around a public IPv4 address are what a NAT64 or 6to4 network really uses.
PUBLIC_FORMS = {
    "nat64": "64:ff9b::8.8.8.8",
    "6to4": "2002:808:808::1",
    "ipv4-mapped": "::ffff:8.8.8.8",
    "plain ipv6": "2606:4700:4700::1111",
    "plain ipv4": "8.8.8.8",
}


def _https(address: str) -> str:
    return f"https://[{address}]/outcomes" if ":" in address else f"https://{address}/outcomes"


@pytest.mark.parametrize("address", PRIVATE_FORMS.values(), ids=PRIVATE_FORMS.keys())
async def test_translated_forms_of_private_addresses_are_refused(address: str) -> None:
    with pytest.raises(OutcomeUrlRefused) as refused:
        await OutcomeUrlPolicy().resolve(_https(address))
    assert refused.value.field == "outcome_url"
    assert refused.value.rule == "public_address"
    # Listing the host is still how an internal receiver is allowed.
    allowed = await OutcomeUrlPolicy([address]).resolve(_https(address))
    assert allowed.host == address


@pytest.mark.parametrize("address", PUBLIC_FORMS.values(), ids=PUBLIC_FORMS.keys())
async def test_translated_forms_of_public_addresses_pass(address: str) -> None:
    target = await OutcomeUrlPolicy().resolve(_https(address))
    assert target.host == address


async def test_http_is_refused_for_an_unlisted_public_host() -> None:
    with pytest.raises(OutcomeUrlRefused) as refused:
        await OutcomeUrlPolicy().resolve("http://8.8.8.8/outcomes")
    assert (refused.value.field, refused.value.rule) == ("outcome_url", "https")
    assert "OUTCOME_URL_ALLOWED_HOSTS" in str(refused.value)


async def test_http_is_refused_even_when_the_host_does_not_resolve() -> None:
    # Validation lets an unresolved host through; it must not let plain http through with it.
    with pytest.raises(OutcomeUrlRefused) as refused:
        await OutcomeUrlPolicy().resolve("http://no-such-host.invalid/outcomes")
    assert refused.value.rule == "https"


async def test_a_listed_host_may_use_http() -> None:
    target = await OutcomeUrlPolicy(["8.8.8.8"]).resolve("http://8.8.8.8/outcomes")
    assert target.connect_url == "http://8.8.8.8/outcomes"


async def test_a_private_http_url_names_the_address_rule() -> None:
    # Both rules are broken; https alone would not fix it, so the address rule is named.
    with pytest.raises(OutcomeUrlRefused) as refused:
        await OutcomeUrlPolicy().resolve("http://10.1.2.3/outcomes")
    assert refused.value.rule == "public_address"
