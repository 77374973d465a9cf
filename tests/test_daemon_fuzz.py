"""Every parser the daemon exposes, fuzzed over real sockets: no request ever gets a 500, and errors store nothing.

One real ``jobgallery serve`` on 127.0.0.1 serves the module. Requests are
written byte for byte on raw sockets (http.client would refuse much of what
an attacker sends): multipart headers, parameters and file names, JSON
bodies, query strings, Basic credentials, cookies, any header line, and
Content-Length / Transfer-Encoding framing. A second daemon takes real
photos under fuzzed file names, which must be stored under names it makes.
Each property runs ``EXAMPLES`` examples (the module takes about 15 s).

Three kinds of request failed before this file existed, and are kept as
explicit examples: a JSON body nested 50,000 deep (500: RecursionError in
the JSON reader), the "create job" form posted as multipart with a title
that is not UTF-8 (500), and a header line waitress cannot parse (no
answer at all, the connection left open, a traceback in the log)."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
from dataclasses import dataclass

import photos
import pytest
import yaml
from conftest import nest
from daemon_support import Daemon, basic, running_daemon, stored_files
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jobgallery import db, users
from jobgallery.config import Config, load_config

EXAMPLES = 60
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)
ADMIN = ("boss", "boss-password-1")
CREW = ("crew", "crew-password-1")
CRLF = b"\r\n"


@dataclass
class Target:
    daemon: Daemon
    config: Config
    job_id: int

    def rows(self) -> tuple[int, int]:
        """(jobs, photos) in the database: what an error must leave as it was."""
        with db.open_db(self.config.db_path) as conn:
            jobs = conn.execute("SELECT COUNT(*) FROM job").fetchone()[0]
            images = conn.execute("SELECT COUNT(*) FROM job_image").fetchone()[0]
        return jobs, images


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Target:
    folder = tmp_path_factory.mktemp("fuzz")
    config_path = folder / "config.yaml"
    settings_ = {"server.max_upload_mb": 1, "server.rebuild_delay_seconds": 60}
    config_path.write_text(yaml.safe_dump(nest(settings_)), encoding="utf-8")
    config = load_config(str(config_path))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *ADMIN, admin=True)
        users.add_user(conn, *CREW, admin=False)
        job = db.create_job(conn, "Fuzzed job")
    with running_daemon(config_path) as daemon:
        yield Target(daemon, config, job.id)
        assert "Traceback" not in daemon.log(), daemon.log()[-3000:]


# ---------------------------------------------------------------- raw HTTP


def raw(daemon: Daemon, request: bytes, timeout: float = 10) -> int | None:
    """Send ``request`` as is, close our side, and return the status of the answer (None: closed unanswered)."""
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
        head = b""
        with contextlib.suppress(OSError):
            while CRLF not in head and len(head) < 4096:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                head += chunk
    if not head:
        return None
    status_line = head.split(CRLF, 1)[0].split()
    assert status_line[0].startswith(b"HTTP/1."), head[:200]
    return int(status_line[1])


def request(method: str, path: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> bytes:
    lines = [f"{method} ".encode() + path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    return CRLF.join(lines) + CRLF + CRLF + body


def with_length(headers: list[tuple[bytes, bytes]], body: bytes) -> list[tuple[bytes, bytes]]:
    return [*headers, (b"Content-Length", str(len(body)).encode())]


def auth(user: tuple[str, str]) -> tuple[bytes, bytes]:
    return b"Authorization", basic(*user)["Authorization"].encode()


def assert_no_server_error(target: Target, status: int | None, before: tuple[int, int], allowed=()) -> None:
    """Never a 5xx (but ``allowed``); an error (or no answer) leaves the database and ``data/images`` as they were."""
    assert status is None or status < 500 or status in allowed, status
    if status is None or status >= 400:
        assert target.rows() == before
        assert stored_files(target.config.paths.data) == []


# ---------------------------------------------------------------- strategies

header_text = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
token = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='";\\'), min_size=1, max_size=20)
name_text = st.text(max_size=40)
file_bytes = st.one_of(st.binary(max_size=300), st.binary(max_size=300).map(lambda b: b"\xff\xd8\xff\xe0" + b))


@st.composite
def part_header(draw) -> bytes:
    """A Content-Disposition line, well-formed or not, with odd names and file names."""
    name = draw(st.one_of(st.sampled_from(["image", "description", "tags", "job_id", "title"]), name_text))
    params = [f'name="{name}"'.encode("utf-8", "surrogatepass")]
    if draw(st.booleans()):
        filename = draw(name_text).encode("utf-8", "surrogatepass")
        params.append(draw(st.sampled_from([b'filename="%s"', b"filename=%s", b"filename*=UTF-8''%s"])) % filename)
    if draw(st.booleans()):
        params.append(draw(header_text))
    disposition = draw(st.sampled_from([b"form-data", b"attachment", b"", b"FORM-DATA"]))
    return b"Content-Disposition: " + b"; ".join([disposition, *params])


@st.composite
def multipart_body(draw) -> tuple[bytes, bytes]:
    """``(boundary, body)``: parts with fuzzed headers and bytes, sometimes cut short or with junk around."""
    boundary = draw(st.one_of(st.just(b"XyZ"), token.map(str.encode)))
    body = draw(st.sampled_from([b"", b"preamble\r\n"]))
    for _ in range(draw(st.integers(0, 4))):
        headers = [draw(part_header())] if draw(st.integers(0, 9)) else []
        headers += [draw(header_text) for _ in range(draw(st.integers(0, 2)))]
        body += b"--" + boundary + CRLF + CRLF.join(headers) + CRLF + CRLF + draw(file_bytes) + CRLF
    body += draw(st.sampled_from([b"--" + boundary + b"--\r\n", b"--" + boundary, b"", b"--" + boundary + b"--junk"]))
    if draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]
    return boundary, body


content_types = st.one_of(
    st.just(b"multipart/form-data; boundary=%s"),
    st.just(b'multipart/form-data; boundary="%s"'),
    st.just(b"multipart/form-data; charset=latin1; boundary=%s"),
    st.just(b"multipart/form-data"),
    header_text.map(lambda value: value.replace(b"%", b"")),
)
FORM_PATHS = ["/api/jobs/{job}/images", "/upload", "/{job}/add_image", "/upload/jobs", "/login", "/logout"]
upload_paths = st.sampled_from([*FORM_PATHS, "/api/jobs/{job}/known"])


# ---------------------------------------------------------------- properties


@FUZZ
@given(body=multipart_body(), content_type=content_types, path=upload_paths, as_admin=st.booleans())
@example(
    body=(b"XyZ", b'--XyZ\r\nContent-Disposition: form-data; name="title"\r\n\r\n\xff\xfe\r\n--XyZ--\r\n'),
    content_type=b"multipart/form-data; boundary=%s",
    path="/upload/jobs",
    as_admin=True,
)
def test_multipart_forms(target: Target, body, content_type, path, as_admin) -> None:
    boundary, data = body
    kind = content_type % boundary if b"%s" in content_type else content_type
    headers = with_length([auth(ADMIN if as_admin else CREW), (b"Content-Type", kind)], data)
    url = path.format(job=target.job_id).encode()
    before = target.rows()
    status = raw(target.daemon, request("POST", url, headers, data))
    if path == "/upload/jobs" and status == 303:
        return  # a well-formed title made a job, as it should
    assert_no_server_error(target, status, before)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
json_bodies = st.one_of(
    json_values.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.just("title"), json_values).map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.just("sha256"), json_values | st.lists(st.text("0123456789abcdefABCDEF", max_size=70))).map(
        lambda value: json.dumps(value).encode()
    ),
    st.binary(max_size=200),
    st.integers(1, 60_000).map(lambda depth: b"[" * depth),
    st.integers(1, 5_000).map(lambda depth: b'{"title": ' + b'{"a": ' * depth),
)


@FUZZ
@given(
    body=json_bodies,
    content_type=st.sampled_from([b"application/json", b"application/json; charset=utf-8", b"text/plain"]),
    known=st.booleans(),
)
@example(body=b"[" * 50_000, content_type=b"application/json", known=False)
def test_json_bodies(target: Target, body: bytes, content_type: bytes, known: bool) -> None:
    """``POST /api/jobs`` (a title) and ``POST /api/jobs/<id>/known`` (a list of hashes)."""
    path = f"/api/jobs/{target.job_id}/known" if known else "/api/jobs"
    headers = with_length([auth(ADMIN), (b"Content-Type", content_type)], body)
    before = target.rows()
    status = raw(target.daemon, request("POST", path.encode(), headers, body))
    if status == 201 and not known:
        return  # a JSON object with a good title: a job, as asked
    assert_no_server_error(target, status, before)


query_strings = st.one_of(
    st.binary(max_size=200).map(
        lambda b: b.replace(b" ", b"").replace(b"\r", b"").replace(b"\n", b"").replace(b"#", b"")
    ),
    st.lists(st.tuples(st.sampled_from([b"job", b"created", b"v", b"next"]), st.binary(max_size=30)), max_size=5).map(
        lambda pairs: b"&".join(
            k + b"=" + v.hex().encode() if i % 2 else k + b"=%" + v[:2].hex().encode() for i, (k, v) in enumerate(pairs)
        )
    ),
)
query_paths = st.sampled_from([b"/upload", b"/api/jobs", b"/upload/static/upload.css", b"/healthz", b"/upload/jobs"])


@FUZZ
@given(path=query_paths, query=query_strings, browser=st.booleans())
def test_query_strings(target: Target, path: bytes, query: bytes, browser: bool) -> None:
    headers = [auth(CREW)] + ([(b"Accept", b"text/html")] if browser else [])
    before = target.rows()
    status = raw(target.daemon, request("GET", path + b"?" + query, headers))
    assert_no_server_error(target, status, before)


credentials = st.one_of(
    header_text,
    st.binary(max_size=80).map(lambda b: b"Basic " + base64.b64encode(b)),
    st.tuples(st.text(max_size=20), st.text(max_size=20)).map(
        lambda pair: b"Basic " + base64.b64encode(f"{pair[0]}:{pair[1]}".encode("utf-8", "surrogatepass"))
    ),
    st.sampled_from([b"Basic", b"Basic ", b"basic =", b"Bearer x", b"Basic " + b"A" * 4000]),
)


@FUZZ
@given(value=credentials, path=st.sampled_from([b"/api/jobs", b"/upload"]), client=st.integers(1, 250))
def test_basic_credentials(target: Target, value: bytes, path: bytes, client: int) -> None:
    # Wrong passwords count against an address: give the fuzz its own so other tests are not throttled.
    headers = [(b"Authorization", value), (b"X-Forwarded-For", f"10.99.0.{client}".encode())]
    before = target.rows()
    status = raw(target.daemon, request("GET", path, headers))
    assert_no_server_error(target, status, before)
    assert status in (400, 401, 429, 200, 303), status


cookies = st.one_of(
    header_text,
    st.lists(st.tuples(st.text(max_size=15), st.text(max_size=40)), max_size=6).map(
        lambda pairs: "; ".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass")
    ),
    st.sampled_from([b"jobgallery_session=", b"jobgallery_session=" + b"a" * 3000, b'jobgallery_session="\\"']),
)


@FUZZ
@given(cookie=cookies, path=st.sampled_from([b"/api/jobs", b"/upload", b"/healthz"]), signed_in=st.booleans())
def test_cookies(target: Target, cookie: bytes, path: bytes, signed_in: bool) -> None:
    headers = [(b"Cookie", cookie), (b"Accept", b"text/html")] + ([auth(CREW)] if signed_in else [])
    before = target.rows()
    status = raw(target.daemon, request("GET", path, headers))
    assert_no_server_error(target, status, before)


framing_headers = st.lists(
    st.one_of(
        st.tuples(
            st.just(b"Content-Length"), st.one_of(st.integers(-5, 3000).map(lambda n: str(n).encode()), header_text)
        ),
        st.tuples(
            st.just(b"Transfer-Encoding"),
            st.sampled_from(
                [b"chunked", b"gzip", b"chunked, chunked", b"identity", b"gzip, chunked", b" chunked", b"x"]
            ),
        ),
        st.tuples(st.just(b"Expect"), st.sampled_from([b"100-continue", b"nonsense"])),
    ),
    max_size=3,
)
chunked_bodies = st.lists(
    st.tuples(st.binary(max_size=40), st.sampled_from([b"", b";ext=1", b"zz", b" "])), max_size=4
).map(lambda chunks: b"".join(b"%x" % len(data) + ext + CRLF + data + CRLF for data, ext in chunks) + b"0\r\n\r\n")


@FUZZ
@given(
    framing=framing_headers,
    body=st.one_of(st.binary(max_size=400), chunked_bodies),
    method=st.sampled_from(["POST", "GET", "DELETE", "PUT"]),
    path=st.sampled_from([b"/api/jobs", b"/api/jobs/1/images", b"/upload", b"/api/images/1", b"/healthz"]),
)
def test_content_length_and_transfer_encoding(target: Target, framing, body, method, path) -> None:
    headers = [auth(CREW), (b"Content-Type", b"multipart/form-data; boundary=XyZ"), *framing]
    before = target.rows()
    status = raw(target.daemon, request(method, path, headers, body))
    # 501 is HTTP's own answer to a transfer coding the server does not implement (gzip): not a failure.
    assert_no_server_error(target, status, before, allowed=(501,))


@FUZZ
@given(line=header_text, path=st.sampled_from([b"/api/jobs", b"/upload", b"/healthz"]))
@example(line=b"NoColon", path=b"/api/jobs")
@example(line=b"Content-Type: \x00", path=b"/upload")
def test_header_lines(target: Target, line: bytes, path: bytes) -> None:
    """Any header line; one waitress cannot parse used to leave the connection unanswered, with a traceback."""
    before = target.rows()
    status = raw(target.daemon, request("GET", path, [auth(CREW)]).replace(b"Connection: close", line, 1))
    assert status is not None
    assert_no_server_error(target, status, before)


def test_the_fuzzed_daemon_logged_no_traceback(target: Target) -> None:
    """Each 500 above would also have left a traceback in the log."""
    assert "Traceback" not in target.daemon.log()


# ---------------------------------------------------------------- file names of real photos


@pytest.fixture(scope="module")
def photo_target(tmp_path_factory) -> Target:
    """A daemon of its own: these uploads store a photo (once; the rest are duplicates)."""
    folder = tmp_path_factory.mktemp("fuzz-names")
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(nest({"server.rebuild_delay_seconds": 60})), encoding="utf-8")
    config = load_config(str(config_path))
    with db.open_db(config.db_path) as conn:
        users.add_user(conn, *CREW, admin=False)
        job = db.create_job(conn, "Named photos")
    with running_daemon(config_path) as daemon:
        yield Target(daemon, config, job.id)
        assert "Traceback" not in daemon.log()


PHOTO = photos.jpeg_bytes(64, 48, seed=5)
STORED_NAME = re.compile(r"img_[0-9]{8}_[0-9]{6}_[0-9a-f]{12}\.jpg")


def quoted_value(data: bytes) -> bytes:
    """Bytes that stay inside one quoted header parameter: no CR, LF or double quote."""
    return data.replace(b"\r", b"").replace(b"\n", b"").replace(b'"', b"")


file_names = st.one_of(
    st.binary(max_size=120).map(quoted_value),
    st.text(max_size=60).map(lambda text: quoted_value(text.encode("utf-8", "replace"))),
    st.sampled_from([b"../../etc/passwd", b"C:\\evil\\x.jpg", b"<script>alert(1)</script>.jpg", b".", b"\x00.jpg"]),
)


@FUZZ
@given(name=file_names, path=st.sampled_from(["/api/jobs/{job}/images", "/upload", "/{job}/add_image"]))
def test_file_names_of_real_photos(photo_target: Target, name: bytes, path: str) -> None:
    """Whatever a real photo is called, it is stored under a name the daemon makes, or refused with a 4xx."""
    boundary = b"XyZ"
    parts = [b'Content-Disposition: form-data; name="job_id"\r\n\r\n%d' % photo_target.job_id]
    parts.append(b'Content-Disposition: form-data; name="image"; filename="' + name + b'"\r\n\r\n' + PHOTO)
    body = b"".join(b"--" + boundary + CRLF + part + CRLF for part in parts) + b"--" + boundary + b"--\r\n"
    kind = b"multipart/form-data; boundary=" + boundary
    headers = with_length([auth(CREW), (b"Content-Type", kind), (b"Accept", b"text/html")], body)
    status = raw(photo_target.daemon, request("POST", path.format(job=photo_target.job_id).encode(), headers, body))
    assert status is not None and status < 500, status
    with db.open_db(photo_target.config.db_path) as conn:
        names = [image.filename for image in db.list_images(conn, photo_target.job_id)]
    assert len(names) <= 1 and all(STORED_NAME.fullmatch(stored) for stored in names), names
    assert stored_files(photo_target.config.paths.data) == [f"job_{photo_target.job_id}/{n}" for n in names]
