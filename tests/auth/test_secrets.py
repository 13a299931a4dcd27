"""SecretBox: Fernet sealing under a master key file created on first use."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from roost.auth.secrets import MASTER_KEY_FILENAME, SecretBox, SecretBoxError


def test_seal_then_open_round_trips_and_hides_the_plaintext(tmp_path: Path) -> None:
    box = SecretBox.in_data_dir(tmp_path)

    sealed = box.seal("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")

    assert "wJalrXUtnFEMI" not in sealed
    assert sealed != box.seal("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")  # random IV
    assert box.open(sealed) == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_master_key_is_created_0600_in_a_new_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet"
    box = SecretBox.in_data_dir(data_dir)
    assert not data_dir.exists()  # nothing happens before first use

    box.seal("x")

    key_file = data_dir / MASTER_KEY_FILENAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in data_dir.iterdir()] == [MASTER_KEY_FILENAME]  # no temp files left


def test_a_new_box_on_the_same_key_file_opens_earlier_secrets(tmp_path: Path) -> None:
    sealed = SecretBox.in_data_dir(tmp_path).seal("secret")

    assert SecretBox.in_data_dir(tmp_path).open(sealed) == "secret"


def test_existing_key_file_is_never_replaced(tmp_path: Path) -> None:
    key_file = tmp_path / MASTER_KEY_FILENAME
    key = Fernet.generate_key()
    key_file.write_bytes(key + b"\n")
    key_file.chmod(0o600)

    sealed = SecretBox(key_file).seal("secret")

    assert key_file.read_bytes() == key + b"\n"
    assert Fernet(key).decrypt(sealed.encode()) == b"secret"


def test_boxes_racing_to_create_the_key_agree_on_one(tmp_path: Path) -> None:
    boxes = [SecretBox.in_data_dir(tmp_path) for _ in range(8)]
    sealed: list[str] = []
    barrier = threading.Barrier(len(boxes))

    def seal(box: SecretBox) -> None:
        barrier.wait()
        sealed.append(box.seal("secret"))

    threads = [threading.Thread(target=seal, args=(box,)) for box in boxes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    reader = SecretBox.in_data_dir(tmp_path)
    assert [reader.open(value) for value in sealed] == ["secret"] * len(boxes)


def test_secret_sealed_under_another_key_cannot_be_opened(tmp_path: Path) -> None:
    sealed = SecretBox(tmp_path / "a.key").seal("secret")

    with pytest.raises(SecretBoxError):
        SecretBox(tmp_path / "b.key").open(sealed)


@pytest.mark.parametrize("garbage", ["", "not-a-token", "é"])
def test_garbage_cannot_be_opened(tmp_path: Path, garbage: str) -> None:
    with pytest.raises(SecretBoxError):
        SecretBox.in_data_dir(tmp_path).open(garbage)


def test_rotated_key_file_seals_with_the_first_key_and_opens_with_all(tmp_path: Path) -> None:
    key_file = tmp_path / MASTER_KEY_FILENAME
    old_sealed = SecretBox(key_file).seal("old")
    new_key = Fernet.generate_key()
    key_file.write_bytes(new_key + b"\n" + key_file.read_bytes())

    box = SecretBox(key_file)

    assert box.open(old_sealed) == "old"
    assert Fernet(new_key).decrypt(box.seal("new").encode()) == b"new"


@pytest.mark.parametrize("content", [b"", b"\n", b"not a fernet key\n"])
def test_unusable_key_file_is_reported(tmp_path: Path, content: bytes) -> None:
    key_file = tmp_path / MASTER_KEY_FILENAME
    key_file.write_bytes(content)
    key_file.chmod(0o600)

    with pytest.raises(SecretBoxError, match="master key"):
        SecretBox(key_file).seal("x")
