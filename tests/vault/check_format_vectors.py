#!/usr/bin/env python3
"""Checks docs/FORMAT_VECTORS.md with a second implementation, independent of matterfs and
libsodium: ChaCha20, HChaCha20 and Poly1305 are written out below (RFC 8439 and
draft-irtf-cfrg-xchacha); BLAKE2b is Python's hashlib. AES-256-GCM and the Ed25519
signature of CERT-1 are checked only if the `cryptography` package is importable (CERT-1's
layout with Python's `json` module); the SIGN vectors and Argon2id are not checked here
(they are checked against RFC 8032 and the Argon2 reference implementation instead).

Usage: check_format_vectors.py [path/to/FORMAT_VECTORS.md]
Prints one line per vector and "N passed, N failed"; exits non-zero on any failure.
"""

import base64
import hashlib
import json
import re
import struct
import sys
from pathlib import Path

MASK32 = 0xFFFFFFFF


# --- ChaCha20 / HChaCha20 / XChaCha20 (RFC 8439 section 2.3, XChaCha draft section 2.2) ---

def _rotl(v, c):
    return ((v << c) & MASK32) | (v >> (32 - c))


def _quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & MASK32
    s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & MASK32
    s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & MASK32
    s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & MASK32
    s[b] = _rotl(s[b] ^ s[c], 7)


def _rounds(s):
    for _ in range(10):
        _quarter(s, 0, 4, 8, 12)
        _quarter(s, 1, 5, 9, 13)
        _quarter(s, 2, 6, 10, 14)
        _quarter(s, 3, 7, 11, 15)
        _quarter(s, 0, 5, 10, 15)
        _quarter(s, 1, 6, 11, 12)
        _quarter(s, 2, 7, 8, 13)
        _quarter(s, 3, 4, 9, 14)


_SIGMA = list(struct.unpack("<4I", b"expand 32-byte k"))


def chacha20_block(key, counter, nonce12):
    init = _SIGMA + list(struct.unpack("<8I", key)) + [counter] + list(
        struct.unpack("<3I", nonce12))
    s = list(init)
    _rounds(s)
    return struct.pack("<16I", *[(x + y) & MASK32 for x, y in zip(s, init)])


def hchacha20(key, nonce16):
    s = _SIGMA + list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    _rounds(s)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def chacha20_xor(key, nonce12, counter, data):
    out = bytearray()
    for i in range(0, len(data), 64):
        ks = chacha20_block(key, counter + i // 64, nonce12)
        out += bytes(a ^ b for a, b in zip(data[i:i + 64], ks))
    return bytes(out)


def xchacha20_xor(key, nonce24, data):
    # libsodium's crypto_stream_xchacha20: 64-bit counter from 0, 64-bit nonce tail.
    return chacha20_xor(hchacha20(key, nonce24[:16]), b"\0" * 4 + nonce24[16:], 0, data)


def poly1305(key, msg):
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:], "little")
    p = (1 << 130) - 5
    acc = 0
    for i in range(0, len(msg), 16):
        block = msg[i:i + 16] + b"\x01"
        acc = ((acc + int.from_bytes(block, "little")) * r) % p
    return ((acc + s) & ((1 << 128) - 1)).to_bytes(16, "little")


def _pad16(b):
    return b"\0" * (-len(b) % 16)


def xchacha20poly1305_seal(key, nonce24, plain, ad):
    """nonce | ciphertext | tag, as libsodium's xchacha20poly1305_ietf with the nonce prefixed."""
    subkey = hchacha20(key, nonce24[:16])
    nonce12 = b"\0" * 4 + nonce24[16:]
    otk = chacha20_block(subkey, 0, nonce12)[:32]
    ct = chacha20_xor(subkey, nonce12, 1, plain)
    mac_data = ad + _pad16(ad) + ct + _pad16(ct) + struct.pack("<QQ", len(ad), len(ct))
    return nonce24 + ct + poly1305(otk, mac_data)


def aes256gcm_seal(key, nonce12, plain, ad):
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        return None
    return nonce12 + AESGCM(key).encrypt(nonce12, plain, ad)


# --- matterfs constructions (docs/FORMAT.md) ---

def blake2b(data, size, key=b"", salt=b"", person=b""):
    return hashlib.blake2b(data, digest_size=size, key=key, salt=salt, person=person).digest()


def kdf_subkey(master, subkey_id, context):
    # crypto_kdf_derive_from_key: BLAKE2b-256, key = master, salt = le64(id) || 0^8,
    # personal = context(8) || 0^8, empty message.
    return blake2b(b"", 32, key=master, salt=struct.pack("<Q", subkey_id) + b"\0" * 8,
                   person=context.encode() + b"\0" * 8)


def keyfile_key(contents, salt):
    return blake2b(b"matterfs keyfile v1" + contents, 32, key=salt)


def name_encrypt(name_key, dir_iv, name):
    mac_key = kdf_subkey(name_key, 1, "MFSnames")
    enc_key = kdf_subkey(name_key, 2, "MFSnames")
    padded_len = max(16, (len(name) + 15) // 16 * 16)
    padded = name + b"\0" * (padded_len - len(name))
    tag = blake2b(dir_iv + padded, 16, key=mac_key)
    return tag + xchacha20_xor(enc_key, tag + b"\0" * 8, padded)


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def ed25519_sign(seed, message):
    """(public key, signature), or None without the `cryptography` package."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError:
        return None
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
    return public, key.sign(message)


def certificate_file(text):
    """The `json` block after the CERT-1 heading: the certificate file's exact text."""
    m = re.search(r"^### CERT-1 .*?^```json\n(.*?)^```", text, re.M | re.S)
    return m.group(1)


# --- the vectors file ---

def parse_value(raw):
    raw = raw.strip()
    if raw.startswith('"'):
        return raw[1:raw.rindex('"')].encode()
    m = re.match(r"^(\d+) \(integer\)$", raw)
    if m:
        return int(m.group(1))
    return bytes.fromhex(re.sub(r"\(.*\)$", "", raw).replace(" ", ""))


def parse_vectors(text):
    """{id: {field: value}} from '### ID title' headings and the first code block after each.

    In a block, `name = VALUE` where VALUE is hex (continued on following indented lines of
    hex), "ASCII text", or `N (integer)`; a trailing parenthesised comment is ignored.
    """
    vectors = {}
    for m in re.finditer(r"^### (\S+)[^\n]*\n(?:(?!^### ).)*?^```\n(.*?)^```", text, re.M | re.S):
        fields = {}
        name = None
        for line in m.group(2).splitlines():
            fm = re.match(r"^([\w.-]+)\s*=\s*(.*)$", line)
            if fm:
                name = fm.group(1)
                fields[name] = fm.group(2)
            elif name is not None and re.match(r"^\s+[0-9a-f]+\s*$", line):
                fields[name] += line.strip()
        vectors[m.group(1)] = {k: parse_value(val) for k, val in fields.items()}
    return vectors


def check_all(v):
    results = []

    def check(vid, got, want_field="expected"):
        want = v[vid][want_field]
        if got is None:
            print(f"SKIP {vid}: no implementation available here")
            return
        ok = got == want
        results.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {vid}" + ("" if ok else f"\n  got  {got.hex()}"
                                                          f"\n  want {want.hex()}"))

    f = v["BLAKE2B-1"]
    check("BLAKE2B-1", blake2b(f["message"], 64))
    f = v["BLAKE2B-2"]
    check("BLAKE2B-2", blake2b(f["message"], 64, key=f["key"]))
    f = v["KDF-1"]
    for i in range(1, 7):
        check("KDF-1", kdf_subkey(f["master"], i, "MFSvault"), f"subkey{i}")
    f = v["KDF-2"]
    for i in range(1, 5):
        check("KDF-2", kdf_subkey(f["master"], i, "MFSnames"), f"subkey{i}")
    f = v["KDF-4"]
    check("KDF-4", keyfile_key(f["contents"], f["salt"]))
    f = v["KDF-5"]
    check("KDF-5", blake2b(b"matterfs passphrase+keyfile v1" + f["keyfile"], 32, key=f["A"]),
          "expected_keyfile")
    check("KDF-5", blake2b(b"matterfs passphrase+fido2 v1" + f["hmac"], 32, key=f["A"]),
          "expected_fido2")
    f = v["AEAD-1"]
    check("AEAD-1", xchacha20poly1305_seal(f["key"], f["nonce"], f["plain"], f["ad"]))
    f = v["AEAD-2"]
    check("AEAD-2", aes256gcm_seal(f["key"], f["nonce"], f["plain"], f["ad"]))
    f = v["WRAP-1"]
    check("WRAP-1", xchacha20poly1305_seal(f["kek"], f["nonce"], f["secret"], f["ad"]))
    f = v["NAME-1"]
    for n in ("1", "2", "3"):
        enc = name_encrypt(f["name_key"], f["dir_iv"], f[f"name{n}"])
        check("NAME-1", enc, f"sealed{n}")
        check("NAME-1", b64url(enc).encode(), f"entry{n}")
    f = v["NAME-2"]
    full = b64url(name_encrypt(f["name_key"], f["dir_iv"], f["name"]))
    check("NAME-2", full.encode(), "full")
    check("NAME-2", (".L" + b64url(blake2b(full.encode(), 32))).encode(), "entry")
    f = v["B64-1"]
    for i in range(1, 9):
        check("B64-1", b64url(f[f"in{i}"]).encode(), f"out{i}")

    f = v["HEADER-1"]
    head28 = (b"MFSF" + bytes([1, f["cipher"]]) + b"\0\0" +
              struct.pack("<I", f["key_version"]) + f["file_id"])
    check("HEADER-1", f["matter_id"] + head28, "wrap_ad")
    wrapped = xchacha20poly1305_seal(f["mwk"], f["nonce"], f["dek"], f["matter_id"] + head28)
    check("HEADER-1", head28 + wrapped)
    f = v["HEADER-2"]
    check("HEADER-2", kdf_subkey(f["dek"], 1, "MFSfile\x00"), "k_hdr")
    head28 = (b"MFSF" + bytes([f["version"], f["cipher"]]) + b"\0\0" +
              struct.pack("<I", f["key_version"]) + f["file_id"])
    wrapped = xchacha20poly1305_seal(f["mwk"], f["nonce"], f["dek"], f["matter_id"] + head28)
    body = (head28 + wrapped + struct.pack("<QHH", f["sequence"], 2, 0) +
            struct.pack("<QQQQ", f["hole1_first"], f["hole1_count"], f["hole2_first"],
                        f["hole2_count"]))
    check("HEADER-2", body, "head")
    body += bytes(496 - len(body))
    check("HEADER-2", blake2b(b"MFS2fhdr" + f["matter_id"] + body, 16, key=f["k_hdr"]), "mac")
    f = v["HEADER-3"]
    check("HEADER-3", kdf_subkey(f["dek"], 1, "MFSfile\x00"), "k_hdr")
    tag = blake2b(b"MFS3name" + f["entry"], 16)
    check("HEADER-3", tag, "name_tag")
    head28 = (b"MFSF" + bytes([f["version"], f["cipher"]]) + b"\0\0" +
              struct.pack("<I", f["key_version"]) + f["file_id"])
    wrapped = xchacha20poly1305_seal(f["mwk"], f["nonce"], f["dek"], f["matter_id"] + head28)
    body = (head28 + wrapped + struct.pack("<QHHQ", f["sequence"], 1, f["flags"],
                                           f["recorded_size"]) +
            tag + struct.pack("<QQ", f["hole1_first"], f["hole1_count"]))
    check("HEADER-3", body, "head")
    body += bytes(496 - len(body))
    check("HEADER-3", blake2b(b"MFS2fhdr" + f["matter_id"] + body, 16, key=f["k_hdr"]), "mac")
    f = v["BLOCK-1"]
    ad = f["file_id"] + struct.pack("<Q", f["index"])
    check("BLOCK-1", ad, "ad")
    check("BLOCK-1", xchacha20poly1305_seal(f["dek"], f["nonce"], f["plain"], ad))
    f = v["BLOCK-2"]
    ad = f["file_id"] + struct.pack("<Q", f["index"])
    check("BLOCK-2", aes256gcm_seal(f["dek"], f["nonce"], f["plain"], ad))

    f = v["CONFIG-1"]
    vmk = f["vmk"]
    header33 = (b"MFSVAULT" + struct.pack("<HHI", 1, 0, 0) + f["vault_id"] + bytes([2]))
    sign_ad = b"MFS1sign" + f["vault_id"] + f["sign_public"]
    check("CONFIG-1", sign_ad, "signing_ad")
    wrapped_sign = xchacha20poly1305_seal(kdf_subkey(vmk, 4, "MFSvault"), f["sign_nonce"],
                                          f["sign_secret"], sign_ad)
    slot44 = (bytes([2, 0, 0, 0]) + struct.pack("<QQQ", f["created"], 0, 0) + f["salt"])
    slot_ad = b"MFS1slot" + header33 + slot44
    check("CONFIG-1", slot_ad, "slot_ad")
    slot_key = keyfile_key(f["key_file"], f["salt"])
    check("CONFIG-1", slot_key, "slot_key")
    wrapped_vmk = xchacha20poly1305_seal(slot_key, f["slot_nonce"], vmk, slot_ad)
    body = (header33 + bytes([1]) + b"\0\0" + f["sign_public"] + wrapped_sign + slot44 +
            wrapped_vmk + b"\0" * 12)
    mac = blake2b(body, 32, key=kdf_subkey(vmk, 1, "MFSvault"))
    check("CONFIG-1", body + mac + blake2b(body + mac, 32))

    f = v["KEYRING-1"]
    wrap_key = kdf_subkey(f["vmk"], 2, "MFSvault")
    ids = f["vault_id"] + f["matter_id"]
    copy = (b"MFSKEYRG" + struct.pack("<HBB", 1, f["status"], 2) + ids +
            struct.pack("<QII", f["sequence"], f["current_version"], 0))
    copy += xchacha20poly1305_seal(wrap_key, f["name_key_nonce"], f["name_key"],
                                   b"MFS1mnk\0" + ids)
    for n in ("1", "2"):
        ver = struct.pack("<I", f[f"version{n}"])
        copy += ver + xchacha20poly1305_seal(wrap_key, f[f"mwk{n}_nonce"], f[f"mwk{n}"],
                                             b"MFS1mwk\0" + ids + ver)
    check("KEYRING-1", copy, "prefix")
    copy += b"\0" * (2016 - len(copy))
    check("KEYRING-1", blake2b(copy, 32, key=kdf_subkey(f["vmk"], 3, "MFSvault")), "mac")

    g = v["KEYRING-2"]  # KEYRING-1's keys and nonces, version 2 with its two times
    copy2 = copy[:8] + struct.pack("<H", 2) + copy[10:1984]
    check("KEYRING-2", copy2[:284], "prefix")
    copy2 += struct.pack("<QQ", g["created"], g["rotated"]) + b"\0" * 16
    check("KEYRING-2", blake2b(copy2, 32, key=kdf_subkey(f["vmk"], 3, "MFSvault")), "mac")

    h = v["KEYRING-3"]  # a key table entry, and KEYRING-2 as version 3 under its root key
    index = h["index"]
    table_ad = b"MFS1mrk\0" + ids + struct.pack("<I", index)
    entry = (b"MFSKTENT" + struct.pack("<II", index, 0) + f["matter_id"] +
             xchacha20poly1305_seal(kdf_subkey(f["vmk"], 9, "MFSvault"), h["mrk_nonce"], h["mrk"],
                                    table_ad))
    check("KEYRING-3", entry, "entry")
    copy3 = (b"MFSKEYRG" + struct.pack("<HBB", 3, f["status"], 2) + ids +
             struct.pack("<QII", f["sequence"], f["current_version"], index + 1))
    copy3 += xchacha20poly1305_seal(h["mrk"], f["name_key_nonce"], f["name_key"],
                                    b"MFS1mnk\0" + ids)
    for n in ("1", "2"):
        ver = struct.pack("<I", f[f"version{n}"])
        copy3 += ver + xchacha20poly1305_seal(h["mrk"], f[f"mwk{n}_nonce"], f[f"mwk{n}"],
                                              b"MFS1mwk\0" + ids + ver)
    check("KEYRING-3", copy3, "prefix")
    copy3 += b"\0" * (1984 - len(copy3)) + struct.pack("<QQ", g["created"], g["rotated"])
    copy3 += b"\0" * 16
    check("KEYRING-3", blake2b(copy3, 32, key=kdf_subkey(f["vmk"], 3, "MFSvault")), "mac")

    k = v["KEYTABLE-2"]  # KEYRING-3's entry as table version 2 writes it, with state
    state = struct.pack("<QB", k["sequence"], k["status"])
    entry2 = (b"MFSKTENT" + struct.pack("<II", k["index"], 0) + f["matter_id"] +
              xchacha20poly1305_seal(kdf_subkey(f["vmk"], 9, "MFSvault"), h["mrk_nonce"],
                                     h["mrk"], b"MFS1mrks" + ids + struct.pack("<I", k["index"]) +
                                     state) + state)
    check("KEYTABLE-2", entry2, "entry")

    f = v["CERT-1"]
    obj = json.loads(f["file"])
    signature = obj.pop("signature")
    body = json.dumps(obj, indent=2) + "\n"
    obj["signature"] = signature
    check("CERT-1", (json.dumps(obj, indent=2) + "\n").encode(), "file")  # the layout
    check("CERT-1", bytes.fromhex(obj["public_key"]), "public_key")
    check("CERT-1", bytes.fromhex(signature), "signature")
    signed = ed25519_sign(f["seed"], f["context"] + b"\0" + body.encode())
    check("CERT-1", signed and signed[0], "public_key")
    check("CERT-1", signed and signed[1], "signature")

    passed = sum(results)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return failed == 0


def main():
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else (
        Path(__file__).resolve().parents[2] / "docs" / "FORMAT_VECTORS.md")
    text = path.read_text()
    vectors = parse_vectors(text)
    vectors["CERT-1"]["file"] = certificate_file(text).encode()
    return 0 if check_all(vectors) else 1


if __name__ == "__main__":
    sys.exit(main())
