"""Requests between the gateway's processes are signed: the method, path, body, sender and time, nothing else."""

from __future__ import annotations

from gateway.internal_auth import HOP_HEADER, SKEW_SECONDS, hop_sender, sign, verify
from gateway.settings import Settings, internal_secret
from tests.gateway.conftest import Gateway

SECRET = "s3cret"
NOW = 1_800_000_000.0


def test_a_signed_request_names_its_sender():
    header = sign(SECRET, "POST", "/api/webrtc/offer", b'{"sdp": "v=0"}', "node-a", now=NOW)
    assert verify(SECRET, header, "post", "/api/webrtc/offer", b'{"sdp": "v=0"}', now=NOW + 1) == "node-a"


def test_any_change_to_the_request_or_the_secret_is_refused():
    header = sign(SECRET, "POST", "/api/interactions/ix-1/hold", b'{"on": true}', "node-a", now=NOW)
    assert verify(SECRET, header, "POST", "/api/interactions/ix-1/hold", b'{"on": false}', now=NOW) is None
    assert verify(SECRET, header, "POST", "/api/interactions/ix-2/hold", b'{"on": true}', now=NOW) is None
    assert verify(SECRET, header, "PUT", "/api/interactions/ix-1/hold", b'{"on": true}', now=NOW) is None
    assert verify("other", header, "POST", "/api/interactions/ix-1/hold", b'{"on": true}', now=NOW) is None
    forged = header.replace("n=node-a", "n=node-b")
    assert verify(SECRET, forged, "POST", "/api/interactions/ix-1/hold", b'{"on": true}', now=NOW) is None


def test_old_or_malformed_signatures_are_refused():
    header = sign(SECRET, "GET", "/x", b"", "node-a", now=NOW)
    assert verify(SECRET, header, "GET", "/x", b"", now=NOW + SKEW_SECONDS + 1) is None
    for bad in ("", "t=1", "t=x,n=a,s=00", "garbage", "t=1,n=a"):
        assert verify(SECRET, bad, "GET", "/x", b"", now=NOW) is None


def test_a_hop_sender_is_named_only_for_a_verified_header_under_a_secret():
    """The one check every receiver makes (a forwarded leg, /internal/ paths, a relayed media socket)."""
    body, target = b'{"on": true}', "/api/interactions/ix-1/hold"
    headers = {HOP_HEADER: sign(SECRET, "POST", target, body, "node-a")}
    assert hop_sender(SECRET, headers, "POST", target, body) == "node-a"
    assert hop_sender(None, headers, "POST", target, body) is None, "no secret: processes cannot talk"
    assert hop_sender("", headers, "POST", target, body) is None
    assert hop_sender(SECRET, {}, "POST", target, body) is None
    assert hop_sender(SECRET, headers, "POST", target + "?x=1", body) is None, "the query is signed too"


def test_the_secret_is_set_or_derived_from_the_admin_token_or_absent():
    assert internal_secret("given", "admin") == "given"
    derived = internal_secret(None, "admin-token")
    assert derived and derived != "admin-token" and derived == internal_secret("", "admin-token")
    assert internal_secret(None, None) is None
    s = Settings.from_env({"PORT": "9100", "GATEWAY_HOST": "0.0.0.0"})
    assert (s.internal_url, s.internal_secret) == ("http://127.0.0.1:9100", None)
    a, b = Settings.from_env({}), Settings.from_env({})
    assert a.node_id != b.node_id, "two processes never share a name by default"
    assert Settings.from_env({"GATEWAY_NODE_ID": "gw-1"}).node_id == "gw-1"


def test_every_http_answer_names_the_process_that_gave_it(gw: Gateway):
    for path in ("/healthz", "/api/queues", "/no-such-page"):
        assert gw.client.get(path).headers["x-switchboard-node"] == gw.app.state.node
