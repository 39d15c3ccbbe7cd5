"""Where a campaign's contacts may be read from (CONTACTS_ALLOWED_LOCATIONS): the rules on
real paths of a temporary directory and real name resolution (loopback only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.contacts_file import scan_path
from adapters.contacts_locations import ContactsLocationPolicy, ContactsLocationRefused
from calls.contacts_file import ContactsTooLarge, ReadLimits
from outbound_calls_client.contacts import CallTemplate, ContactSource


def _refused(rule: str) -> pytest.RaisesExc[ContactsLocationRefused]:
    return pytest.raises(ContactsLocationRefused, match=rf"contacts\.location: .*\(rule: {rule}\)")


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    folder = tmp_path / "contacts"
    folder.mkdir()
    (folder / "spring.csv").write_text("to_number\n+14155550123\n")
    (tmp_path / "secret.csv").write_text("to_number\n")
    return folder


def test_a_file_under_a_listed_directory_is_read(allowed: Path) -> None:
    policy = ContactsLocationPolicy([str(allowed)])
    assert policy.check_path(str(allowed / "spring.csv")) == (allowed / "spring.csv").resolve()


def test_a_file_outside_the_listed_directories_is_refused(allowed: Path) -> None:
    policy = ContactsLocationPolicy([str(allowed)])
    with _refused("allowed_locations") as refused:
        policy.check_path(str(allowed.parent / "secret.csv"))
    assert "CONTACTS_ALLOWED_LOCATIONS" in str(refused.value)
    with _refused("allowed_locations"):  # .. does not climb out
        policy.check_path(str(allowed / ".." / "secret.csv"))
    (allowed / "link.csv").symlink_to(allowed.parent / "secret.csv")
    with _refused("allowed_locations"):  # nor does a symbolic link
        policy.check_path(str(allowed / "link.csv"))
    with _refused("allowed_locations"):  # a sibling whose name starts alike is not under it
        policy.check_path(f"{allowed}-other/x.csv")


def test_no_directory_listed_reads_no_file(allowed: Path) -> None:
    with _refused("allowed_locations") as refused:
        ContactsLocationPolicy().check_path(str(allowed / "spring.csv"))
    assert "none is listed" in str(refused.value)


def test_relative_paths_and_other_schemes_are_refused(allowed: Path) -> None:
    policy = ContactsLocationPolicy([str(allowed)])
    with _refused("absolute_path"):
        policy.check_path("spring.csv")
    with _refused("scheme"):
        policy.check_path(f"file://{allowed}/spring.csv")


async def test_a_private_address_url_is_refused_unless_its_host_is_listed() -> None:
    policy = ContactsLocationPolicy()
    for url in ("https://localhost/c.csv", "https://127.0.0.1/c.csv", "https://[::1]/c.csv"):
        with _refused("public_address"):
            await policy.resolve(url)
    listed = await ContactsLocationPolicy(["localhost"]).resolve("https://localhost:8443/c.csv")
    assert listed.address.is_loopback
    assert listed.connect_url.endswith(":8443/c.csv")


async def test_http_only_from_a_listed_http_prefix() -> None:
    with _refused("https"):
        await ContactsLocationPolicy(["localhost"]).resolve("http://localhost/c.csv")
    policy = ContactsLocationPolicy(["http://127.0.0.1:8080"])
    await policy.resolve("http://127.0.0.1:8080/c.csv")
    with _refused("https"):  # another port is another origin
        await policy.resolve("http://127.0.0.1:8081/c.csv")


async def test_listed_hosts_are_the_only_hosts() -> None:
    policy = ContactsLocationPolicy(["/contacts", "files.example.com"])
    with _refused("allowed_locations"):
        await policy.resolve("https://other.example.com/c.csv")
    with _refused("credentials"):
        await policy.resolve("https://user:pw@files.example.com/c.csv")
    # Directories alone leave URLs to the public-hosts rule.
    with _refused("public_address"):
        await ContactsLocationPolicy(["/contacts"]).resolve("https://127.0.0.1/c.csv")


def test_a_bad_entry_stops_the_worker_naming_the_setting() -> None:
    for entry in ("contacts/", "ftp://files.example.com", "https://files.example.com/dir"):
        with pytest.raises(ValueError, match="CONTACTS_ALLOWED_LOCATIONS"):
            ContactsLocationPolicy([entry])


def test_a_file_over_the_byte_cap_is_refused_before_it_is_read(allowed: Path) -> None:
    source = ContactSource(
        location=str(allowed / "spring.csv"), template=CallTemplate(from_number="+12125550199")
    )
    size = (allowed / "spring.csv").stat().st_size
    assert scan_path(allowed / "spring.csv", source, ReadLimits(max_bytes=size)).records == 1
    with pytest.raises(ContactsTooLarge, match="CONTACTS_MAX_BYTES"):
        scan_path(allowed / "spring.csv", source, ReadLimits(max_bytes=size - 1))
