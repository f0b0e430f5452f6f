"""The local runner's data plane delivers every byte of a bundle's input, however long the
runner takes to write it (pipeline.runners.send_worker_inputs_without_timed_flush).

Each test sends one input the way Beam's local runner does (BundleManager.
_send_input_to_worker: the input's pieces written into one output stream of the runner's
data plane, then closed), through the data server of a real GrpcServer of the runner, to a
real SDK client channel over gRPC on localhost, which reads it back. Between pieces the
writing thread keeps the GIL busy, as a coordinator decoding or copying large buffers does,
so that writing the input spans more than the one-second period of Beam's timed flush.
"""

import threading
import time

from apache_beam.runners.portability.fn_api_runner import worker_handlers
from apache_beam.runners.worker import data_plane

from pipeline.runners import local_batch_runner

PIECES, PIECE_BYTES, BUSY_SECONDS = 40, 2 << 20, 0.04  # 80 MB written over about 1.6 s


def keep_busy(seconds: float) -> None:
    """Hold the GIL (a busy loop, no sleep) for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def received_by_the_worker(pieces: list) -> bytes:
    """The bytes an SDK worker's data channel receives for one bundle input written in
    `pieces` through a new GrpcServer of the local runner."""
    server = worker_handlers.GrpcServer(worker_handlers.StateServicer(), None, None)
    worker = data_plane.GrpcClientDataChannelFactory(worker_id="worker-1")
    try:
        inbound = worker.create_data_channel_from_url(f"localhost:{server.data_port}")
        runner_side = server.data_plane_handler.get_conn_by_worker_id("worker-1")
        received: list = []
        reader = threading.Thread(
            target=lambda: received.extend(e.data for e in inbound.input_elements("bundle_1", ["read"]))
        )
        reader.start()
        stream = runner_side.output_stream("bundle_1", "read")
        for piece in pieces:
            stream.write(piece)
            keep_busy(BUSY_SECONDS)
        stream.close()
        reader.join(timeout=60)
        assert not reader.is_alive(), "the worker never got the input's end"
        return b"".join(received)
    finally:
        worker.close()
        server.close()


def numbered_pieces() -> list:
    return [bytes([index]) * PIECE_BYTES for index in range(PIECES)]


def test_the_local_runner_delivers_an_input_written_over_seconds_whole():
    local_batch_runner()  # what `newsbeam run` uses locally
    pieces = numbered_pieces()
    started = time.monotonic()
    received = received_by_the_worker(pieces)
    assert time.monotonic() - started > 1.2  # the writing spanned Beam's flush period
    assert len(received) == PIECES * PIECE_BYTES
    assert received == b"".join(pieces)


def test_beams_timed_flush_drops_pieces_written_while_it_runs(monkeypatch):
    """The failure the setting avoids, on Beam's own default: if this stops losing bytes, a
    Beam release fixed its timed flush and send_worker_inputs_without_timed_flush can go."""
    monkeypatch.setattr(worker_handlers, "DATA_BUFFER_TIME_LIMIT_MS", 1000)
    pieces = numbered_pieces()
    received = received_by_the_worker(pieces)
    lost = [index for index in range(PIECES) if bytes([index]) * PIECE_BYTES not in received]
    assert lost, "every piece arrived with Beam's timed flush on"
    assert len(received) == (PIECES - len(lost)) * PIECE_BYTES  # whole pieces, silently gone
