"""Learner and deployer accounts: the chains' development keys, generated keys, JSON keystores."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from colearn_chain.errors import ColearnFileError, ColearnValueError

#: Anvil's (and Hardhat's) well-known development mnemonic; its first accounts are pre-funded.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def eth_tester_dev_accounts(count: int = 10) -> list[LocalAccount]:
    """eth-tester's funded genesis accounts: private keys 1, 2, ..., ``count``."""
    return [Account.from_key(i.to_bytes(32, "big")) for i in range(1, count + 1)]


def anvil_dev_accounts(count: int = 10) -> list[LocalAccount]:
    """Anvil's funded development accounts (derived from :data:`ANVIL_MNEMONIC`)."""
    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)]


def generated_accounts(count: int, seed: int | None = None) -> list[LocalAccount]:
    """``count`` fresh accounts: random, or derived from ``seed`` so that runs are repeatable.

    Seeded keys are for experiments and tests only (anyone who knows the seed knows the keys);
    real participants use :func:`load_keystore`.
    """
    if seed is None:
        return [Account.create() for _ in range(count)]
    accounts = []
    for index in range(count):
        counter = 0
        while True:
            digest = hashlib.sha256(f"colearn-chain:{seed}:{index}:{counter}".encode()).digest()
            if 0 < int.from_bytes(digest, "big") < _SECP256K1_ORDER:
                break
            counter += 1
        accounts.append(Account.from_key(digest))
    return accounts


def save_keystore(account: LocalAccount, path: Path, password: str, *, light: bool = False) -> Path:
    """Write ``account`` as a standard encrypted JSON keystore (Web3 Secret Storage).

    The default key derivation is scrypt with eth-account's standard cost (about a second to
    encrypt or decrypt, on purpose). ``light=True`` uses pbkdf2 with few iterations: still a
    standard keystore, for throw-away test accounts only.
    """
    if path.exists():
        raise ColearnFileError(f"{path} already exists: refusing to overwrite a keystore")
    if light:
        keystore = Account.encrypt(account.key, password, kdf="pbkdf2", iterations=1024)
    else:
        keystore = Account.encrypt(account.key, password)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(keystore))
        path.chmod(0o600)
    except OSError as exc:
        raise ColearnFileError(f"cannot write the keystore {path}: {exc.strerror or exc}") from exc
    return path


def load_keystore(path: Path, password: str) -> LocalAccount:
    """Decrypt a JSON keystore; a one-line error for a missing file or a wrong password."""
    try:
        keystore = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ColearnFileError(f"keystore {path} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise ColearnFileError(f"keystore {path} is not a readable JSON keystore: {exc}") from exc
    try:
        key = Account.decrypt(keystore, password)
    except ValueError as exc:
        raise ColearnValueError(f"cannot decrypt keystore {path}: wrong password?") from exc
    except (KeyError, TypeError) as exc:
        raise ColearnFileError(f"keystore {path} is malformed (missing {exc})") from exc
    account: LocalAccount = Account.from_key(key)
    return account
