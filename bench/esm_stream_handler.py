"""The function of the stream mapping benchmark: Roost deploys this file as ``handler.py``
and the baseline consumer imports it, so both run the same code.

It reports to the recorder (``async_invoke_recorder.py``) on 127.0.0.1, port env ``PORT``:

- ``MODE=latency``: one ``ID START`` line per record, ``ID`` the first word of the record's
  data (the data is ``ID PUT_TIME``);
- ``MODE=count``: one ``FIRST_SEQUENCE_NUMBER:RECORDS START`` line per batch (no record is
  decoded).

``START`` is the wall clock (``time.time()``) when the handler started.
"""

import base64
import os
import socket
import time


def handler(event, context):  # type: ignore[no-untyped-def]
    started = time.time()
    records = event["Records"]
    if os.environ.get("MODE") == "count":
        lines = f"{records[0]['kinesis']['sequenceNumber']}:{len(records)} {started:.6f}\n"
    else:
        lines = "".join(
            f"{base64.b64decode(r['kinesis']['data']).split()[0].decode()} {started:.6f}\n"
            for r in records
        )
    with socket.create_connection(("127.0.0.1", int(os.environ["PORT"])), timeout=10) as conn:
        conn.sendall(lines.encode())
