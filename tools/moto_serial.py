"""moto server answering one request at a time, as scripts/moto.sh starts it.

moto's DynamoDB evaluates a write's condition and then writes, without a lock, and
`moto_server` serves every request on its own thread: two concurrent conditional writes
(or transactions) on one item can then both pass their conditions, which DynamoDB never
allows. The race tests in `adapters/aws/tests/dynamo.rs` rely on DynamoDB's per-item
atomicity, so every test runs against this server, which serves requests one after another
(the clients still race). Use it through scripts/moto.sh, which installs moto first.
"""

import argparse

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("-H", "--host", default="127.0.0.1")
parser.add_argument("-p", "--port", type=int, default=5000)
args = parser.parse_args()
run_simple(
    args.host,
    args.port,
    DomainDispatcherApplication(create_backend_app),
    threaded=False,
)
