#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/*). Run it again
after changing the seeds; libFuzzer grows its own corpus from these in
build-fuzz/ and never writes here."""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def write(folder, name, data):
    path = os.path.join(here, "corpus", folder)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# -- protocol: one inbound text frame each ------------------------------------
protocol = {
    "create": '{"type":"create-room"}',
    "join": '{"type":"join-room","roomId":"483920"}',
    "leave": '{"type":"leave-room","roomId":"483920"}',
    "signal_sdp": '{"type":"signal","roomId":"483920","sdp":{"type":"offer","sdp":"v=0\\r\\no=- 46 2 IN IP4 127.0.0.1\\r\\n"}}',
    "signal_candidate": '{"type":"signal","roomId":"1","candidate":{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}',
    "chat": '{"type":"chat-message","roomId":"483920","message":"Hello, w\\u00f6rld \\ud83d\\ude00","sender":"User","timestamp":"2024-01-01T12:00:00.000Z"}',
    "resume": '{"type":"resume","roomId":"123456","resumeToken":"0123456789abcdef0123456789abcdef"}',
    "escaped_type": '{"type":"sig\\u006eal","roomId":"7"}',
    "numbers": '{"type":"teleport","a":[0,-0,1.5e10,-2E-3,123456789012345678901234567890,true,false,null]}',
    "nested": '{"type":"chat-message","roomId":"1","x":[[[[{"a":[{}]}]]]]}',
    "duplicate_type": '{"type":"signal","type":"create-room"}',
    "duplicate_room": '{"type":"join-room","roomId":"1","roomId":"2"}',
    "room_number": '{"type":"join-room","roomId":123456}',
    "type_object": '{"type":{"type":"create-room"}}',
    "missing_type": '{"roomId":"123456"}',
    "array": "[1,2,3]",
    "string": '"create-room"',
    "trailing": '{"type":"create-room"} trailing',
    "bad_json": "{not json",
    "whitespace": ' \t\r\n{ "type" : "create-room" , "roomId" : "" } \n',
    "nested_keys": '{"x":{"type":"join-room","roomId":"1"},"type":"create-room"}',
    "control_escape": '{"type":"join-room","roomId":"\\u0000\\n\\"\\\\\\/\\b\\f\\t"}',
    "surrogate_lone": '{"type":"join-room","roomId":"\\ud800"}',
    "empty": "",
}
for name, text in protocol.items():
    write("protocol", name, text)
write("protocol", "deep", '{"a":' + "[" * 40 + "]" * 40 + "}")
write("protocol", "utf8_raw", '{"type":"chat-message","roomId":"1","m":"κόσμε 𝄞"}'.encode())
write("protocol", "utf8_bad", b'{"type":"chat-message","roomId":"1","m":"\xed\xa0\x80"}')


# -- websocket: an HTTP request, "\r\n\r\n", then client frames ---------------
def frame(op, payload=b"", fin=True, rsv=0, mask=True, length=None):
    payload = payload.encode() if isinstance(payload, str) else payload
    n = len(payload) if length is None else length
    out = bytes([(0x80 if fin else 0) | (rsv << 4) | op])
    m = 0x80 if mask else 0
    if n < 126:
        out += bytes([m | n])
    elif n < 65536:
        out += bytes([m | 126]) + struct.pack(">H", n)
    else:
        out += bytes([m | 127]) + struct.pack(">Q", n)
    if not mask:
        return out + payload
    key = b"\x12\x34\x56\x78"
    return out + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def request(extra="", version="13", method="GET"):
    return (f"{method} / HTTP/1.1\r\nHost: 127.0.0.1:4000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n").encode()


ws = {
    "create": request() + frame(1, '{"type":"create-room"}'),
    "join_signal": request() + frame(1, '{"type":"join-room","roomId":"1"}') + frame(1, '{"type":"signal","roomId":"1","sdp":"x"}'),
    "ping_pong": request() + frame(9, "hello") + frame(10, "unsolicited") + frame(1, '{"type":"teleport"}'),
    "fragmented": request() + frame(1, '{"type":"tel', fin=False) + frame(9, "p") + frame(0, 'eport"}'),
    "close": request() + frame(8, b"\x03\xe8bye"),
    "close_bad_code": request() + frame(8, b"\x03\xed"),
    "binary": request() + frame(2, b"\x00\x01\x02"),
    "reserved_bits": request() + frame(1, "x", rsv=4),
    "reserved_opcode": request() + frame(3, "x"),
    "unmasked": request() + frame(1, '{"type":"teleport"}', mask=False),
    "bad_utf8": request() + frame(1, b"\xce\xba\xed\xa0\x80"),
    "too_big_header": request() + frame(1, b"", length=4096),
    "many_fragments": request() + b"".join(frame(1 if i == 0 else 0, "x" * 30, fin=False) for i in range(80)),
    "ping_too_long": request() + frame(9, "p" * 126),
    "version_8": request(version="8"),
    "no_key": b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "plain_get": b"GET /api/ping HTTP/1.1\r\nHost: a\r\n\r\n",
    "post_body": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "chunked": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "deflate_offer": request("Sec-WebSocket-Extensions: permessage-deflate\r\n") + frame(1, '{"type":"create-room"}', rsv=4),
    "origin_xff": request("Origin: https://app.example\r\nX-Forwarded-For: 1.2.3.4, 10.0.0.1\r\n") + frame(1, "{}"),
    # the server's own close (the fuzz handler closes 1008 on leave-room), then the client's answer
    "server_close": request() + frame(1, '{"type":"leave-room","roomId":"1"}') + frame(8, b"\x03\xf0"),
    # a paused read (create-room) with frames already behind it
    "paused": request() + frame(1, '{"type":"create-room"}') + frame(9, "x") + frame(1, '{"type":"teleport"}'),
    # a client that sends and never reads: the server's answers fill the socket and the send queue
    "flood": request() + b"".join(frame(1, '{"type":"signal","roomId":"1","p":"' + "x" * 1500 + '"}') for _ in range(5)),
}
for name, data in ws.items():
    write("websocket", name, data)
