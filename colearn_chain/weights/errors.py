"""Typed errors of the weights package: one per reason to refuse a peer's blob; a missing blob."""

from __future__ import annotations

from colearn_chain.errors import ColearnError, ColearnValueError


class InvalidWeightsBlob(ColearnValueError):
    """A weights blob was refused; a learner votes to reject the proposal and logs this message.

    Every reason to refuse a peer's blob is a subclass, so a caller can either catch them all
    (``except InvalidWeightsBlob``) or tell them apart for its log.
    """


class BlobTooLarge(InvalidWeightsBlob):
    """The blob is larger than the receiver's size cap (checked before anything else is done)."""


class TooManyTensors(InvalidWeightsBlob):
    """The blob holds more tensors than the receiver's cap (checked before the blob is parsed)."""


class HashMismatch(InvalidWeightsBlob):
    """The blob's sha256 is not the hash the ledger recorded for it."""


class MalformedBlob(InvalidWeightsBlob):
    """The bytes are not a weights container in this project's canonical ONNX form."""


class ExternalDataNotAllowed(InvalidWeightsBlob):
    """A tensor points at external data: loading it would read files named by a peer."""


class GraphNodesNotAllowed(InvalidWeightsBlob):
    """The blob carries a graph (nodes, functions, inputs, outputs), not only tensors."""


class WeightsSpecMismatch(InvalidWeightsBlob):
    """Tensor names, dtypes or shapes differ from the receiving model's; the message lists which."""


class NonFiniteWeights(InvalidWeightsBlob):
    """A floating-point tensor holds NaN or infinity, which no model should be asked to use."""


class BlobNotFound(ColearnError, KeyError):
    """No blob with this digest in the store, or the stored bytes no longer hash to the digest.

    A corrupted blob is reported as missing, never returned: readers must not act on bad data.
    """

    def __str__(self) -> str:
        # KeyError quotes its argument (``'message'``); keep the one-line message readable.
        return str(self.args[0]) if self.args else "blob not found"


class UnsafeBlob(BlobNotFound):
    """What is stored under a digest is not safely readable: a symlink, a FIFO, a device...

    Any participant can write into a shared store; such an entry is refused at once, never
    followed or read (a FIFO would block the reader for ever), and counts as missing.
    """


class StoreUnavailable(ColearnError, ConnectionError):
    """A remote content store could not be reached, even after bounded retries."""


class StoreAccessDenied(ColearnError, PermissionError):
    """A remote content store refused the credentials (missing, wrong or without the right)."""


class StoreNotFound(ColearnError, FileNotFoundError):
    """The content store named does not exist (an S3 bucket that was never created)."""
