"""Chatr spoken to by python-socketio, a Socket.IO client that is not the
official JavaScript one: handlers of fixed arity, both transports, acks,
connect errors. Starts the real server (target/debug/chatr, or CHATR_BIN) on
a free port with SQLite in a temporary directory."""

import json
import os
import queue
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import unittest
import urllib.request
from pathlib import Path

import socketio

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("CHATR_BIN") or str(ROOT / os.environ.get("CARGO_TARGET_DIR", "target") / "debug" / "chatr")
TIMEOUT = 5


class Server:
    def __init__(self):
        self.data = tempfile.mkdtemp(prefix="chatr-python-")
        env = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET", "DATABASE_URL")}
        env.update(PORT="0", CHATR_HOST="127.0.0.1", CHATR_DATA_DIR=self.data, CHATR_RATE_LIMITS="off",
                   JWT_SECRET=secrets.token_hex(32), RUST_LOG="warn")
        self.child = subprocess.Popen([BIN], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        found = queue.Queue()

        def read():
            for line in self.child.stdout:
                m = re.search(r"chatr listening on (http://\S+)", line)
                if m:
                    found.put(m.group(1))

        threading.Thread(target=read, daemon=True).start()
        self.url = found.get(timeout=30)

    def stop(self):
        self.child.terminate()
        self.child.wait(timeout=30)
        shutil.rmtree(self.data, ignore_errors=True)

    def api(self, method, path, body=None, token=None):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        req.add_header("content-type", "application/json")
        if token:
            req.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as res:
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def register(self, prefix):
        name = f"{prefix}{secrets.token_hex(4)}"
        status, body = self.api("POST", "/api/auth/register",
                                {"username": name, "email": f"{name}@example.com", "password": "Secret123!"})
        assert status == 201, (status, body)
        return body


class PythonClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def client(self, token, transport):
        sio = socketio.Client(reconnection=False)
        sio.received = queue.Queue()
        sio.statuses = queue.Queue()

        # Fixed arity on purpose: one argument per event, as the contract says.
        @sio.on("message:received")
        def received(message):
            sio.received.put(message)

        @sio.on("message:status")
        def status(update):
            sio.statuses.put(update)

        sio.connect(self.server.url, auth={"token": token}, transports=[transport], wait_timeout=TIMEOUT)
        self.addCleanup(sio.disconnect)
        return sio

    def test_a_conversation_over_each_transport(self):
        for transport in ("websocket", "polling"):
            with self.subTest(transport=transport):
                a = self.server.register("pya")
                b = self.server.register("pyb")
                sa = self.client(a["token"], transport)
                sb = self.client(b["token"], transport)
                ack = sa.call("message:send", {"recipientId": b["user"]["id"], "content": "hello from python"},
                              timeout=TIMEOUT)
                self.assertIs(ack["ok"], True, ack)
                sent = ack["message"]
                self.assertEqual(sent["content"], "hello from python")
                got = sb.received.get(timeout=TIMEOUT)
                self.assertEqual(got["id"], sent["id"])
                self.assertEqual(got["senderId"], a["user"]["id"])
                sb.emit("message:delivered", {"messageId": got["id"], "senderId": got["senderId"]})
                # "sent" first, then "delivered".
                updates = [sa.statuses.get(timeout=TIMEOUT) for _ in range(2)]
                self.assertEqual([(u["messageId"], u["status"]) for u in updates],
                                 [(sent["id"], "sent"), (sent["id"], "delivered")])

    def test_a_refusal_without_a_valid_token_is_a_connect_error(self):
        sio = socketio.Client(reconnection=False)
        errors = queue.Queue()
        sio.on("connect_error", lambda data: errors.put(data))
        with self.assertRaises(socketio.exceptions.ConnectionError):
            sio.connect(self.server.url, auth={"token": "not-a-token"}, transports=["websocket"],
                        wait_timeout=TIMEOUT)
        error = errors.get(timeout=TIMEOUT)
        self.assertTrue(error["message"].startswith("Authentication error"), error)

    def test_an_invalid_send_is_answered_not_dropped(self):
        a = self.server.register("pyc")
        sa = self.client(a["token"], "websocket")
        ack = sa.call("message:send", {"recipientId": "nobody", "content": "x"}, timeout=TIMEOUT)
        self.assertIs(ack["ok"], False, ack)
        self.assertTrue(ack["error"], ack)


if __name__ == "__main__":
    unittest.main()
