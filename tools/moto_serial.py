"""moto server answering one request at a time, as scripts/moto.sh starts it.

moto's DynamoDB evaluates a write's condition and then writes, without a lock, and
`moto_server` serves every request on its own thread: two concurrent conditional writes
(or transactions) on one item can then both pass their conditions, which DynamoDB never
allows. The race tests in `adapters/aws/tests/dynamo.rs` rely on DynamoDB's per-item
atomicity, so every test runs against this server, which serves requests one after another
(the clients still race). Use it through scripts/moto.sh, which installs moto first.
"""

import argparse
import copy

from moto import backends
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("-H", "--host", default="127.0.0.1")
parser.add_argument("-p", "--port", type=int, default=5000)
args = parser.parse_args()
# Two fixes of moto's speed, neither of its behaviour.
# moto lists its own package directory (a listdir and an isdir per entry) to route every
# request: a tenth of its time under the tests. The list cannot change while it runs.
_MODULES = tuple(backends.list_of_moto_modules())
backends.list_of_moto_modules = lambda: _MODULES


class _TableBackupOncePerTransaction:
    """`copy` as moto's DynamoDB models see it. Before applying a TransactWriteItems,
    moto backs up the target table with a deep copy, once per action, all before the first
    write: 100 copies of the same table for a 100-action transaction, which made the tests
    quadratic in their tables' sizes. The copies are alike, so one per table and transaction
    is the same backup. Every other use of `copy` is passed through."""

    def __init__(self):
        self.backups = None  # id(table) -> its copy, during one transact_write_items

    def deepcopy(self, x, memo=None):
        if self.backups is not None and isinstance(x, Table):
            if id(x) not in self.backups:
                self.backups[id(x)] = copy.deepcopy(x)
            return self.backups[id(x)]
        return copy.deepcopy(x, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


_copy = _TableBackupOncePerTransaction()
dynamodb_models.copy = _copy
_transact = dynamodb_models.DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items):
    _copy.backups = {}
    try:
        return _transact(self, transact_items)
    finally:
        _copy.backups = None


dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items
run_simple(
    args.host,
    args.port,
    DomainDispatcherApplication(create_backend_app),
    threaded=False,
)
