//! Gzip with bytes that depend only on the input.
//!
//! Layer digests are part of the release digest, so the compressed bytes must not change with
//! the build: `flate2` picks its backend by Cargo feature unification (another crate in the
//! build enabling `zlib-rs` silently changes its output). This module always uses
//! `miniz_oxide` and writes the gzip framing itself (RFC 1952: no name, mtime 0, OS unknown).

/// The deflate level used for every layer this project writes.
pub const LEVEL: u8 = 6;

/// Compresses `data` as a gzip member, deterministically.
pub fn compress(data: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(data, LEVEL);
    let mut out = Vec::with_capacity(deflated.len() + 18);
    // ID1 ID2, CM = deflate, FLG = 0, MTIME = 0, XFL = 0, OS = 255 (unknown).
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    // ISIZE is the input size modulo 2^32 (RFC 1952 §2.3.1).
    out.extend_from_slice(&((data.len() & 0xffff_ffff) as u32).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn standard_decoders_read_it_back() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let gz = compress(&data);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        assert_eq!(compress(&data), gz, "same input, same bytes");
        assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0]);
    }
}
