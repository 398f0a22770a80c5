#!/usr/bin/env python3
"""Re-verifies a `carnet export --format jsonl` file without Carnet: Python 3's standard library
(and, for a checkpoint, the `openssl` command). Recomputes each event's hash and checks each
stream's chain; prints the first broken line. With --checkpoint and --key, also recomputes the
log's Merkle tree (RFC 9162) from the exported events and checks it against the signed checkpoint.
With --witness KEY (repeatable), the checkpoint must also carry that witness's valid cosignature.
With --receipt and --key (an export is then optional), checks an event's receipt (C2SP
tlog-proof: the checkpoint's signature and the inclusion proof), and finds that event in the export."""
import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile

# the hash: SHA-256 of these fields' text, in this order, each followed by a newline
FIELDS = ["prev_hash", "global_position", "stream_id", "stream_version", "event_id",
          "event_type", "schema_version", "payload", "metadata", "recorded_at"]
ZERO = "0" * 64  # the prev_hash of a stream's version 1


def broken(number, event, why):
    print(f"BROKEN at line {number}: position {event.get('global_position')}, "
          f"stream {event.get('stream_id')}, version {event.get('stream_version')}: {why}")
    sys.exit(1)


def refused(why):
    print(f"CHECKPOINT REFUSED: {why}")
    sys.exit(1)


def tree_root(leaves):
    """RFC 9162 MTH: split at the largest power of two below n; leaves are leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + tree_root(leaves[:k]) + tree_root(leaves[k:])).digest()


def ed25519_verifies(public, message, signature):
    """openssl's verdict on an Ed25519 signature (RFC 8410 public key, raw message)."""
    spki = bytes.fromhex("302a300506032b6570032100") + public
    with tempfile.TemporaryDirectory() as tmp:
        for file, data in [("key.der", spki), ("message", message), ("signature", signature)]:
            with open(os.path.join(tmp, file), "wb") as out:
                out.write(data)
        verified = subprocess.run(
            ["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", "key.der", "-rawin",
             "-in", "message", "-sigfile", "signature"], cwd=tmp, capture_output=True)
    return verified.returncode == 0


def signature_by(signatures, key, kind):
    """The signature line of `key` (<name>+<id>+<base64>, type `kind`): its bytes after the key id."""
    name, key_id, key64 = key.strip().split("+", 2)
    public = base64.b64decode(key64)
    if len(public) != 33 or public[0] != kind:
        refused(f"{key} is not an Ed25519 key of type {kind}")
    if hashlib.sha256(name.encode() + b"\n" + public).digest()[:4].hex() != key_id:
        refused(f"the id of {key} does not match its name and public key")
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "\u2014" and parts[1] == name:
            blob = base64.b64decode(parts[2])
            if blob[:4].hex() == key_id:
                return name, public[1:], blob[4:]
    refused(f"the checkpoint carries no signature by {name}")


def open_checkpoint(note, key, witnesses=()):
    """The signed note's Ed25519 signature by `key`, and the cosignatures (C2SP
    tlog-cosignature/v1, type 4) of `witnesses`: its tree size and root."""
    text, _, signatures = note.partition("\n\n")
    text += "\n"
    lines = text.splitlines()
    name, public, signature = signature_by(signatures, key, 1)
    if len(lines) < 3 or lines[0] != name:
        refused(f"not a checkpoint of the log {name}")
    if not ed25519_verifies(public, text.encode(), signature):
        refused("its signature does not verify with the key")
    for witness in witnesses:
        name, public, signature = signature_by(signatures, witness, 4)
        time = int.from_bytes(signature[:8], "big")
        if not ed25519_verifies(public, f"cosignature/v1\ntime {time}\n{text}".encode(), signature[8:]):
            refused(f"the cosignature of {name} does not verify with its key")
        print(f"OK: cosigned by the witness {name} at {time} (seconds since 1970)")
    return int(lines[1]), base64.b64decode(lines[2])


def check_checkpoint(note, key, witnesses, leaves):
    """The signed checkpoint and its cosignatures, then its tree against `leaves`."""
    size, root = open_checkpoint(note, key, witnesses)
    if size > len(leaves):
        refused(f"it signs {size} events, the export holds {len(leaves)}: events were removed")
    if tree_root(leaves[:size]) != root:
        refused(f"the export's first {size} events are not the ones it signs: events were removed, "
                "added, reordered or replaced")
    return size


def check_receipt(text, key):
    """A C2SP tlog-proof: the checkpoint's signature, then the RFC 9162 inclusion of the leaf of
    the `extra` event hash at `index`. Returns (index, event hash hex, tree size)."""
    head, _, note = text.partition("\n\n")
    lines = head.splitlines()
    if len(lines) < 3 or lines[0] != "c2sp.org/tlog-proof@v1" or not lines[1].startswith("extra ") \
            or not lines[2].startswith("index "):
        refused("not a receipt (c2sp.org/tlog-proof@v1, extra, index, the proof, a blank line, the checkpoint)")
    event_hash, index = base64.b64decode(lines[1][6:]), int(lines[2][6:])
    path = [base64.b64decode(line) for line in lines[3:]]
    size, root = open_checkpoint(note, key)
    fn, sn, r = index, size - 1, hashlib.sha256(b"\x00" + event_hash).digest()  # RFC 9162 2.1.3.2
    for p in path:
        if index >= size or sn == 0:
            refused("the inclusion proof does not hold: it is longer than the tree")
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn, sn = fn >> 1, sn >> 1
    if index >= size or sn != 0 or r != root:
        refused(f"the inclusion proof does not hold: leaf {index} is not in the signed tree of {size} events")
    return index, event_hash.hex(), size


parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("export", nargs="?", help="a `carnet export --format jsonl` file")
parser.add_argument("--checkpoint", help="the signed checkpoint (`carnet export --checkpoint`)")
parser.add_argument("--receipt", help="an event's receipt (`receipt` query, `carnet prove inclusion`)")
parser.add_argument("--key", help="the log's public key (`GET /checkpoint/key`), from the lab")
parser.add_argument("--witness", action="append", default=[],
                    help="a witness's public key (repeatable): the checkpoint must carry its valid cosignature")
args = parser.parse_args()
if bool(args.checkpoint or args.receipt) != bool(args.key):
    sys.exit("--key goes with --checkpoint or --receipt, and they need it")
if args.receipt:
    with open(args.receipt, encoding="utf-8") as receipt:
        index, event_hash, size = check_receipt(receipt.read(), args.key)
    print(f"OK: the receipt holds: the event of hash {event_hash} is leaf {index} of the signed tree of {size} events")
    if not args.export:
        sys.exit(0)
if not args.export:
    sys.exit("give the export to check")
heads = {}  # stream_id -> (version, hash) of its latest line so far
leaves = []  # SHA-256(0x00 || event hash), in the export's (reading) order
with open(args.export, encoding="utf-8") as export:
    for number, line in enumerate(export, start=1):
        try:
            event = json.loads(line)
        except ValueError:
            broken(number, {}, "not a JSON object")
        if not isinstance(event, dict) or any(event.get(f) is None for f in FIELDS + ["hash"]):
            broken(number, {}, "not an exported event")
        # payload and metadata are the stored JSON text: hashed as given, never re-serialized
        text = "".join(f"{event[f]}\n" for f in FIELDS)
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != event["hash"]:
            broken(number, event, "the hash does not match the event's content")
        version, head = heads.get(event["stream_id"], (None, None))
        # a stream's first line in an export of a period may be past version 1: its chain starts there
        if head is None and event["stream_version"] == 1 and event["prev_hash"] != ZERO:
            broken(number, event, "a version 1 must follow 64 zeros")
        if head is not None and event["stream_version"] != version + 1:
            broken(number, event, f"expected version {version + 1} of the stream")
        if head is not None and event["prev_hash"] != head:
            broken(number, event, f"prev_hash is not the hash of version {version}")
        heads[event["stream_id"]] = (event["stream_version"], event["hash"])
        leaves.append(hashlib.sha256(b"\x00" + bytes.fromhex(event["hash"])).digest())
print(f"OK: {len(leaves)} events in {len(heads)} streams, every hash and every chain verified")
if args.receipt:
    if index >= len(leaves) or leaves[index] != hashlib.sha256(b"\x00" + bytes.fromhex(event_hash)).digest():
        refused(f"the export's line {index + 1} is not the event of the receipt")
    print(f"OK: the export's line {index + 1} is the event of the receipt")
if args.checkpoint:
    with open(args.checkpoint, encoding="utf-8") as note:
        size = check_checkpoint(note.read(), args.key, args.witness, leaves)
    print(f"OK: the signed checkpoint of {size} events holds: its tree is the export's first {size} events")
