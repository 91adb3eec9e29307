"""An in-memory stand-in for Google Cloud Storage's JSON API, for tests of ``gs://`` workdirs.

It serves what the three clients a run uses ask of it: tensorstore (orbax's arrays; media uploads,
generation-conditioned reads and writes, listings by key range), gcsfs (epath's files; multipart
and resumable uploads, listings by prefix, batched deletes, moves) and google-cloud-storage
(tensorboardX's event files). Point them at it with :func:`client_env`. Objects live in one dict
per server; generations count up from 1, as GCS's own are opaque increasing integers.
"""

import base64
import hashlib
import itertools
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


def client_env(url: str) -> dict[str, str]:
    """Environment variables that send tensorstore, gcsfs and google-cloud-storage to ``url``."""
    return {
        "STORAGE_EMULATOR_HOST": url,  # gcsfs, google-cloud-storage
        "TENSORSTORE_GCS_HTTP_URL": url,
        "GOOGLE_AUTH_TOKEN_FOR_TESTING": "fake",  # tensorstore: no credential lookup
        "GOOGLE_CLOUD_PROJECT": "fake",  # google-cloud-storage
        "EPATH_USE_TF": "false",  # epath through gcsfs: TensorFlow's GCS client has a fixed endpoint
    }


class Store:
    def __init__(self, buckets: tuple[str, ...]):
        self.buckets = buckets
        self.objects = {}  # (bucket, name) -> (generation, bytes, content type)
        self.uploads = {}  # resumable upload id -> (bucket, object metadata, query, bytes so far)
        self.generations = itertools.count(1)
        self.upload_ids = itertools.count(1)
        self.lock = threading.Lock()

    def resource(self, bucket: str, name: str) -> dict:
        generation, data, content_type = self.objects[bucket, name]
        return {
            "kind": "storage#object",
            "id": f"{bucket}/{name}/{generation}",
            "bucket": bucket,
            "name": name,
            "generation": str(generation),
            "metageneration": "1",
            "size": str(len(data)),
            "contentType": content_type,
            "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),
            "timeCreated": "2026-01-01T00:00:00.000Z",
            "updated": "2026-01-01T00:00:00.000Z",
            "storageClass": "STANDARD",
        }

    def precondition(self, bucket: str, name: str, query: dict) -> bool:
        """Whether ``ifGenerationMatch`` / ``ifGenerationNotMatch`` hold (generation 0: no object)."""
        current = self.objects[bucket, name][0] if (bucket, name) in self.objects else 0
        match, not_match = query.get("ifGenerationMatch"), query.get("ifGenerationNotMatch")
        return (match is None or int(match) == current) and (not_match is None or int(not_match) != current)

    def put(self, bucket: str, name: str, data: bytes, content_type: str, query: dict) -> tuple[int, dict]:
        with self.lock:
            if bucket not in self.buckets:
                return 404, {"error": {"code": 404, "message": "The specified bucket does not exist."}}
            if not self.precondition(bucket, name, query):
                return 412, {"error": {"code": 412, "message": "precondition failed"}}
            self.objects[bucket, name] = (next(self.generations), data, content_type or "application/octet-stream")
            return 200, self.resource(bucket, name)


_OBJECT = re.compile(r"^(?:/download)?/storage/v1/b/([^/]+)/o/(.+)$")
_MOVE = re.compile(r"^/storage/v1/b/([^/]+)/o/(.+)/moveTo/o/(.+)$")
_COPY = re.compile(r"^/storage/v1/b/([^/]+)/o/(.+)/(?:rewriteTo|copyTo)/b/([^/]+)/o/(.+)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    store: Store  # set on a subclass per server

    def log_message(self, *args):
        pass

    def _reply(self, status: int, body: bytes | dict = b"", headers: dict | None = None) -> None:
        if isinstance(body, dict):
            body, headers = json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _route(self):
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        return url.path, query

    def do_GET(self):
        path, query = self._route()
        if m := re.fullmatch(r"/storage/v1/b/([^/]+)/o", path):
            return self._reply(200, self._list(m[1], query))
        if m := re.fullmatch(r"/storage/v1/b/([^/]+)", path):
            return self._reply(200, {"kind": "storage#bucket", "name": m[1], "location": "US"})
        if m := _OBJECT.fullmatch(path):
            return self._get(m[1], unquote(m[2]), query)
        self._reply(404, {"error": {"code": 404, "message": f"no route GET {path}"}})

    def _get(self, bucket: str, name: str, query: dict) -> None:
        store = self.store
        with store.lock:
            if (bucket, name) not in store.objects:
                return self._reply(404, {"error": {"code": 404, "message": f"{name} not found"}})
            generation, data, content_type = store.objects[bucket, name]
            if not store.precondition(bucket, name, query):
                status = 304 if "ifGenerationNotMatch" in query else 412
                return self._reply(status, b"", {"x-goog-generation": str(generation)})
            resource = store.resource(bucket, name)
        if query.get("alt") != "media":
            return self._reply(200, resource)
        headers = {
            "Content-Type": content_type,
            "x-goog-generation": str(generation),
            "x-goog-metageneration": "1",
            "x-goog-stored-content-length": str(len(data)),
            "x-goog-hash": f"md5={resource['md5Hash']}",
        }
        status, part = 200, data
        if m := re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "")):
            start, end = int(m[1]), min(int(m[2]) + 1 if m[2] else len(data), len(data))
            status, part = 206, data[start:end]
            headers["Content-Range"] = f"bytes {start}-{max(end - 1, start)}/{len(data)}"
        self._reply(status, part, headers)

    def _list(self, bucket: str, query: dict) -> dict:
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter")
        start, end = query.get("startOffset", ""), query.get("endOffset")
        items, prefixes = [], set()
        with self.store.lock:
            for b, name in sorted(self.store.objects):
                if b != bucket or not name.startswith(prefix) or name < start or (end and name >= end):
                    continue
                rest = name[len(prefix) :]
                if delimiter and delimiter in rest:
                    prefixes.add(prefix + rest[: rest.index(delimiter) + len(delimiter)])
                else:
                    items.append(self.store.resource(b, name))
        return {"kind": "storage#objects", "items": items, "prefixes": sorted(prefixes)}

    def do_POST(self):
        path, query = self._route()
        if m := re.fullmatch(r"/upload/storage/v1/b/([^/]+)/o", path):
            return self._upload(m[1], query)
        if m := _COPY.fullmatch(path):
            self._body()
            src, dst = (m[1], unquote(m[2])), (m[3], unquote(m[4]))
            if src not in self.store.objects:
                return self._reply(404, {"error": {"code": 404, "message": "source not found"}})
            _, data, content_type = self.store.objects[src]
            status, resource = self.store.put(*dst, data, content_type, query)
            rewrite = "/rewriteTo/" in path
            body = {"kind": "storage#rewriteResponse", "done": True, "resource": resource} if rewrite else resource
            return self._reply(status, body if status == 200 else resource)
        if m := _MOVE.fullmatch(path):  # within a bucket (gcsfs's rename)
            self._body()
            bucket, src, dst = m[1], unquote(m[2]), unquote(m[3])
            with self.store.lock:
                if (bucket, src) not in self.store.objects:
                    return self._reply(404, {"error": {"code": 404, "message": "source not found"}})
                self.store.objects[bucket, dst] = self.store.objects.pop((bucket, src))
                return self._reply(200, self.store.resource(bucket, dst))
        if path == "/batch/storage/v1":
            return self._batch()
        self._reply(404, {"error": {"code": 404, "message": f"no route POST {path}"}})

    def _upload(self, bucket: str, query: dict) -> None:
        if "upload_id" in query:
            return self._chunk(query)
        body, kind = self._body(), query.get("uploadType")
        if kind == "media":
            return self._reply(*self.store.put(bucket, query["name"], body, self.headers.get("Content-Type"), query))
        if kind == "multipart":
            boundary = re.search(r'boundary="?([^";]+)"?', self.headers["Content-Type"])[1].encode()
            # Parts: a line break, headers, an empty line, the content, a line break (CRLF or, from gcsfs, LF).
            parts = [p for p in body.split(b"--" + boundary) if p.strip() not in (b"", b"--")]
            meta_part, data_part = (re.split(rb"\r?\n\r?\n", p, maxsplit=1) for p in parts[:2])
            meta = json.loads(meta_part[1])
            content_type = re.search(rb"content-type:\s*([^\r\n]+)", data_part[0], re.I)
            data = re.sub(rb"\r?\n\Z", b"", data_part[1])
            kind_of = content_type[1].decode() if content_type else meta.get("contentType")
            return self._reply(*self.store.put(bucket, meta.get("name") or query["name"], data, kind_of, query))
        if kind == "resumable":
            meta = json.loads(body or b"{}")
            upload_id = str(next(self.store.upload_ids))
            self.store.uploads[upload_id] = (bucket, {"name": query.get("name"), **meta}, query, bytearray())
            host = self.headers["Host"]
            location = f"http://{host}/upload/storage/v1/b/{bucket}/o?uploadType=resumable&upload_id={upload_id}"
            return self._reply(200, b"", {"Location": location})
        self._reply(400, {"error": {"code": 400, "message": f"upload type {kind}"}})

    def do_PUT(self):
        self._chunk(self._route()[1])

    def _chunk(self, query: dict) -> None:
        """A piece of a resumable upload (PUT by google-cloud-storage, POST by gcsfs)."""
        upload = self.store.uploads.get(query.get("upload_id"))
        if upload is None:
            return self._reply(404, {"error": {"code": 404, "message": "no such upload"}})
        bucket, meta, first_query, data = upload
        data += self._body()
        total = re.search(r"/(\d+|\*)$", self.headers.get("Content-Range", "/*"))
        if total and total[1] != "*" and len(data) >= int(total[1]):
            del self.store.uploads[query["upload_id"]]
            return self._reply(*self.store.put(bucket, meta["name"], bytes(data), meta.get("contentType"), first_query))
        self._reply(308, b"", {"Range": f"bytes=0-{len(data) - 1}"} if data else {})

    def do_DELETE(self):
        path, query = self._route()
        m = _OBJECT.fullmatch(path)
        status = self._delete(m[1], unquote(m[2]), query) if m else 404
        self._reply(status)

    def _delete(self, bucket: str, name: str, query: dict) -> int:
        with self.store.lock:
            if (bucket, name) not in self.store.objects:
                return 404
            if not self.store.precondition(bucket, name, query):
                return 412
            del self.store.objects[bucket, name]
            return 204

    def _batch(self) -> None:
        """gcsfs deletes many objects in one multipart/mixed request of DELETEs."""
        boundary = re.search(r'boundary="?([^";]+)"?', self.headers["Content-Type"])[1]
        replies = []
        for part in self._body().decode().split("--" + boundary):
            if m := re.search(r"^DELETE (\S+)", part, re.M):
                url = urlsplit(m[1])
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                obj = _OBJECT.fullmatch(url.path)
                status = self._delete(obj[1], unquote(obj[2]), query) if obj else 404
                content_id = re.search(r"^Content-ID:\s*<?([^>\r\n]+)>?", part, re.M | re.I)
                cid = f"Content-ID: <response-{content_id[1]}>\r\n" if content_id else ""
                replies.append(
                    f"--batch_fake\r\nContent-Type: application/http\r\n{cid}\r\n"
                    f"HTTP/1.1 {status} {'No Content' if status == 204 else 'Error'}\r\nContent-Length: 0\r\n\r\n"
                )
        body = ("".join(replies) + "--batch_fake--\r\n").encode()
        self._reply(200, body, {"Content-Type": "multipart/mixed; boundary=batch_fake"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """Clients that hang up mid-reply (tensorstore drops its connections at exit) are not errors."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeGCS:
    """A server on a free localhost port, in a background thread: ``with FakeGCS() as gcs: gcs.url``.
    Objects can be written to ``buckets`` only."""

    def __init__(self, buckets: tuple[str, ...] = ("bucket",)):
        handler = type("BoundHandler", (Handler,), {"store": Store(buckets)})
        self.server = _Server(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.store = handler.store

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
