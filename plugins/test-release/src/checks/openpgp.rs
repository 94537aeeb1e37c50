//! Whether a text is an ASCII-armored OpenPGP public key ring that the CVO's verifier reads.
//!
//! The CVO (library-go `verify.NewFromManifests`) reads every `verifier-public-key-*` value of
//! the release-verification ConfigMap with golang.org/x/crypto/openpgp `ReadArmoredKeyRing`
//! and refuses to start its verifier when one does not read. That reader wants: an armor
//! block of type `PGP PUBLIC KEY BLOCK` whose base64 decodes and whose CRC-24 (when present)
//! matches; then one or more keys, each a version-4 public-key packet with well-formed key
//! material of a known algorithm, followed by at least one user ID, each user ID followed by a
//! signature packet. [`check_public_key`] checks exactly this structure. It does not verify
//! the self-signatures' cryptography (the stage holds no OpenPGP library); a key that passes is
//! one the verifier parses, not one it necessarily trusts.

/// The armor type of a public key block.
const PUBLIC_BLOCK: &str = "PGP PUBLIC KEY BLOCK";

/// Why `text` is not an armored OpenPGP public key the CVO reads; `None` when it is one.
pub fn check_public_key(text: &str) -> Option<String> {
    let body = match dearmor(text) {
        Ok(body) => body,
        Err(problem) => return Some(problem),
    };
    packets(&body).err()
}

/// The decoded bytes of the first armor block of `text`, which must be a public key block.
fn dearmor(text: &str) -> Result<Vec<u8>, String> {
    let mut lines = text.lines().map(str::trim);
    let kind = loop {
        let Some(line) = lines.next() else {
            return Err("no `-----BEGIN PGP PUBLIC KEY BLOCK-----` armor line".into());
        };
        if let Some(kind) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            break kind.to_string();
        }
    };
    if kind != PUBLIC_BLOCK {
        return Err(format!(
            "the armor block is a `{kind}`, not a `{PUBLIC_BLOCK}`"
        ));
    }
    // Armor headers (`Key: value`) end at the first blank line.
    let mut base64 = String::new();
    let mut in_headers = true;
    let mut checksum = None;
    let mut ended = false;
    for line in lines.by_ref() {
        if in_headers {
            if line.is_empty() {
                in_headers = false;
            } else if !line.contains(": ") {
                // No headers at all: this line is already data.
                in_headers = false;
                base64.push_str(line);
            }
            continue;
        }
        if line == format!("-----END {PUBLIC_BLOCK}-----") {
            ended = true;
            break;
        }
        if let Some(crc) = line.strip_prefix('=') {
            checksum = Some(crc.to_string());
            continue;
        }
        base64.push_str(line);
    }
    if !ended {
        return Err(format!("no `-----END {PUBLIC_BLOCK}-----` line"));
    }
    let data = decode_base64(&base64).ok_or("the armored data is not base64")?;
    if let Some(crc) = checksum {
        let want = decode_base64(&crc).filter(|b| b.len() == 3);
        let got = crc24(&data).to_be_bytes();
        if want.as_deref() != Some(&got[1..]) {
            return Err("the armor checksum (CRC-24) does not match the data".into());
        }
    }
    if data.is_empty() {
        return Err("the armor block holds no data".into());
    }
    Ok(data)
}

/// Decodes standard base64 with `=` padding; `None` on any other character.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&bytes[1..4]),
            3 => out.extend_from_slice(&bytes[1..3]),
            2 => out.push(bytes[1]),
            _ => return None,
        }
    }
    Some(out)
}

/// The OpenPGP armor checksum (RFC 4880 §6.1).
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00B7_04CE;
    for &byte in data {
        crc ^= u32::from(byte) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4CFB;
            }
        }
    }
    crc & 0x00FF_FFFF
}

/// Packet tags this check knows by name.
const TAG_SIGNATURE: u8 = 2;
const TAG_SECRET_KEY: u8 = 5;
const TAG_PUBLIC_KEY: u8 = 6;
const TAG_SECRET_SUBKEY: u8 = 7;
const TAG_TRUST: u8 = 12;
const TAG_USER_ID: u8 = 13;
const TAG_PUBLIC_SUBKEY: u8 = 14;
const TAG_USER_ATTRIBUTE: u8 = 17;

/// Splits the packets and checks the key ring's structure.
fn packets(data: &[u8]) -> Result<(), String> {
    let mut list = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (tag, body, next) = packet(rest)?;
        list.push((tag, body));
        rest = next;
    }
    let mut keys = 0;
    let mut i = 0;
    while i < list.len() {
        let (tag, body) = list[i];
        match tag {
            TAG_PUBLIC_KEY => {}
            TAG_SECRET_KEY => {
                return Err("it holds a secret key, not a public key".into());
            }
            _ => {
                return Err(format!(
                    "key {}: starts with a packet of tag {tag}, not a public key",
                    keys + 1
                ));
            }
        }
        keys += 1;
        key_material(body).map_err(|e| format!("key {keys}: {e}"))?;
        i += 1;
        let mut identities = 0;
        while i < list.len() && list[i].0 != TAG_PUBLIC_KEY && list[i].0 != TAG_SECRET_KEY {
            let (tag, body) = list[i];
            match tag {
                TAG_USER_ID | TAG_USER_ATTRIBUTE => {
                    let signed = list
                        .get(i + 1..)
                        .unwrap_or_default()
                        .iter()
                        .take_while(|(t, _)| *t == TAG_TRUST || *t == TAG_SIGNATURE)
                        .any(|(t, _)| *t == TAG_SIGNATURE);
                    if !signed {
                        return Err(format!(
                            "key {keys}: a user ID is not followed by its self-signature"
                        ));
                    }
                    if tag == TAG_USER_ID {
                        identities += 1;
                    }
                }
                TAG_PUBLIC_SUBKEY => {
                    key_material(body).map_err(|e| format!("key {keys}, subkey: {e}"))?;
                }
                TAG_SECRET_SUBKEY => {
                    return Err("it holds a secret subkey, not a public key".into());
                }
                _ => {}
            }
            i += 1;
        }
        if identities == 0 {
            return Err(format!("key {keys}: it has no user ID"));
        }
    }
    if keys == 0 {
        return Err("it holds no key".into());
    }
    Ok(())
}

/// One packet at the start of `data`: its tag, body and the bytes after it.
fn packet(data: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let truncated = || "a packet is truncated".to_string();
    let first = *data.first().ok_or_else(truncated)?;
    if first & 0x80 == 0 {
        return Err("the data is not OpenPGP packets (bad packet header)".into());
    }
    let (tag, header, length): (u8, usize, usize) = if first & 0x40 != 0 {
        let tag = first & 0x3f;
        let o1 = usize::from(*data.get(1).ok_or_else(truncated)?);
        match o1 {
            0..=191 => (tag, 2, o1),
            192..=223 => {
                let o2 = usize::from(*data.get(2).ok_or_else(truncated)?);
                (tag, 3, ((o1 - 192) << 8) + o2 + 192)
            }
            255 => {
                let b = data.get(2..6).ok_or_else(truncated)?;
                (
                    tag,
                    6,
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                )
            }
            _ => return Err("a key packet uses partial body lengths".into()),
        }
    } else {
        let tag = (first >> 2) & 0x0f;
        match first & 3 {
            0 => (tag, 2, usize::from(*data.get(1).ok_or_else(truncated)?)),
            1 => {
                let b = data.get(1..3).ok_or_else(truncated)?;
                (tag, 3, usize::from(u16::from_be_bytes([b[0], b[1]])))
            }
            2 => {
                let b = data.get(1..5).ok_or_else(truncated)?;
                (
                    tag,
                    5,
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                )
            }
            _ => (tag, 1, data.len() - 1),
        }
    };
    let end = header.checked_add(length).ok_or_else(truncated)?;
    let body = data.get(header..end).ok_or_else(truncated)?;
    Ok((tag, body, &data[end..]))
}

/// Checks a public (sub)key packet body: version 4, a known algorithm, its key material.
fn key_material(body: &[u8]) -> Result<(), String> {
    let version = *body.first().ok_or("the key packet is empty")?;
    if version != 4 {
        return Err(format!(
            "a version {version} key, but the CVO's verifier (golang.org/x/crypto/openpgp) reads \
             version 4 keys only"
        ));
    }
    let algorithm = *body.get(5).ok_or("the key packet is truncated")?;
    let mut rest = &body[6..];
    let mpi = |rest: &mut &[u8]| -> Result<(), String> {
        let b = rest.get(..2).ok_or("the key material is truncated")?;
        let bits = usize::from(u16::from_be_bytes([b[0], b[1]]));
        let len = bits.div_ceil(8);
        if bits == 0 {
            return Err("the key material has an empty number".into());
        }
        *rest = rest.get(2 + len..).ok_or("the key material is truncated")?;
        Ok(())
    };
    let oid = |rest: &mut &[u8]| -> Result<(), String> {
        let len = usize::from(*rest.first().ok_or("the key material is truncated")?);
        if len == 0 || len == 0xff {
            return Err("the key's curve OID is invalid".into());
        }
        *rest = rest.get(1 + len..).ok_or("the key material is truncated")?;
        Ok(())
    };
    match algorithm {
        // RSA: n, e.
        1..=3 => (0..2).try_for_each(|_| mpi(&mut rest))?,
        // Elgamal: p, g, y.
        16 => (0..3).try_for_each(|_| mpi(&mut rest))?,
        // DSA: p, q, g, y.
        17 => (0..4).try_for_each(|_| mpi(&mut rest))?,
        // ECDSA, EdDSA: curve, point.
        19 | 22 => {
            oid(&mut rest)?;
            mpi(&mut rest)?;
        }
        // ECDH: curve, point, KDF parameters.
        18 => {
            oid(&mut rest)?;
            mpi(&mut rest)?;
            let len = usize::from(*rest.first().ok_or("the key material is truncated")?);
            rest = rest.get(1 + len..).ok_or("the key material is truncated")?;
        }
        other => return Err(format!("unknown public-key algorithm {other}")),
    }
    if !rest.is_empty() {
        return Err("the key packet has bytes after its key material".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Standard base64 with padding, for building test keys.
    fn encode(data: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let mut n = [0u8; 3];
            n[..chunk.len()].copy_from_slice(chunk);
            let n = (u32::from(n[0]) << 16) | (u32::from(n[1]) << 8) | u32::from(n[2]);
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
        out
    }

    fn packet(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![0xc0 | tag, body.len() as u8];
        out.extend_from_slice(body);
        out
    }

    /// A v4 RSA key body with a tiny modulus (structure only).
    fn rsa_key() -> Vec<u8> {
        let mut body = vec![4, 0x5f, 0, 0, 0, 1];
        body.extend_from_slice(&[0, 9, 0x01, 0xff]); // n: 9 bits
        body.extend_from_slice(&[0, 17, 0x01, 0x00, 0x01]); // e = 65537
        body
    }

    fn armor(data: &[u8], kind: &str) -> String {
        let crc = crc24(data).to_be_bytes();
        format!(
            "-----BEGIN {kind}-----\nComment: test\n\n{}\n={}\n-----END {kind}-----\n",
            encode(data),
            encode(&crc[1..])
        )
    }

    fn ring(packets: &[(u8, Vec<u8>)]) -> Vec<u8> {
        packets.iter().flat_map(|(t, b)| packet(*t, b)).collect()
    }

    #[test]
    fn a_well_formed_public_key_passes() {
        let data = ring(&[
            (TAG_PUBLIC_KEY, rsa_key()),
            (TAG_USER_ID, b"OKD <okd@example.org>".to_vec()),
            (TAG_SIGNATURE, vec![4, 0x13, 1, 8, 0, 0]),
        ]);
        assert_eq!(check_public_key(&armor(&data, PUBLIC_BLOCK)), None);
        // Indented as in a ConfigMap's block scalar, without a checksum line.
        let text = armor(&data, PUBLIC_BLOCK)
            .lines()
            .filter(|l| !l.starts_with('='))
            .map(|l| format!("    {l}\n"))
            .collect::<String>();
        assert_eq!(check_public_key(&text), None);
    }

    #[test]
    fn the_sample_placeholder_and_other_non_keys_fail() {
        let placeholder = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nPLACEHOLDER: the compose sample mirror carries no real key here.\nA composed release replaces this ConfigMap with its own key.\n-----END PGP PUBLIC KEY BLOCK-----\n";
        assert_eq!(
            check_public_key(placeholder).as_deref(),
            Some("the armored data is not base64")
        );
        assert_eq!(
            check_public_key("just text").as_deref(),
            Some("no `-----BEGIN PGP PUBLIC KEY BLOCK-----` armor line")
        );
        let key = ring(&[
            (TAG_PUBLIC_KEY, rsa_key()),
            (TAG_USER_ID, b"x".to_vec()),
            (TAG_SIGNATURE, vec![4]),
        ]);
        let mut bad_crc = armor(&key, PUBLIC_BLOCK);
        let at = bad_crc.find("\n=").unwrap() + 2;
        bad_crc.replace_range(
            at..at + 1,
            if &bad_crc[at..at + 1] == "A" {
                "B"
            } else {
                "A"
            },
        );
        assert_eq!(
            check_public_key(&bad_crc).as_deref(),
            Some("the armor checksum (CRC-24) does not match the data")
        );
        assert_eq!(
            check_public_key(&armor(&key, "PGP PRIVATE KEY BLOCK")).as_deref(),
            Some("the armor block is a `PGP PRIVATE KEY BLOCK`, not a `PGP PUBLIC KEY BLOCK`")
        );
        let no_uid = ring(&[(TAG_PUBLIC_KEY, rsa_key())]);
        assert_eq!(
            check_public_key(&armor(&no_uid, PUBLIC_BLOCK)).as_deref(),
            Some("key 1: it has no user ID")
        );
        let unsigned = ring(&[(TAG_PUBLIC_KEY, rsa_key()), (TAG_USER_ID, b"x".to_vec())]);
        assert_eq!(
            check_public_key(&armor(&unsigned, PUBLIC_BLOCK)).as_deref(),
            Some("key 1: a user ID is not followed by its self-signature")
        );
        let mut v6 = rsa_key();
        v6[0] = 6;
        let v6 = ring(&[
            (TAG_PUBLIC_KEY, v6),
            (TAG_USER_ID, b"x".to_vec()),
            (TAG_SIGNATURE, vec![6]),
        ]);
        assert!(
            check_public_key(&armor(&v6, PUBLIC_BLOCK))
                .unwrap()
                .starts_with("key 1: a version 6 key")
        );
        let mut truncated = rsa_key();
        truncated.pop();
        let truncated = ring(&[
            (TAG_PUBLIC_KEY, truncated),
            (TAG_USER_ID, b"x".to_vec()),
            (TAG_SIGNATURE, vec![4]),
        ]);
        assert_eq!(
            check_public_key(&armor(&truncated, PUBLIC_BLOCK)).as_deref(),
            Some("key 1: the key material is truncated")
        );
    }

    #[test]
    fn crc24_matches_the_rfc_example_value() {
        // RFC 4880's CRC-24 of no data is its init value.
        assert_eq!(crc24(b""), 0x00B7_04CE);
        assert_eq!(decode_base64("TWFu"), Some(b"Man".to_vec()));
        assert_eq!(decode_base64("TWE="), Some(b"Ma".to_vec()));
        assert_eq!(decode_base64("T!=="), None);
    }
}
