//! Gzip with bytes that depend only on the input.
//!
//! Layer digests are part of the release digest, so the compressed bytes must not change with
//! the build: `flate2` picks its backend by Cargo feature unification (another crate in the
//! build enabling `zlib-rs` silently changes its output). This module always uses
//! `miniz_oxide` and writes the gzip framing itself (RFC 1952: no name, mtime 0, OS unknown).

use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress_to_output, create_comp_flags_from_zip_params,
};

/// The deflate level used for every layer this project writes.
pub const LEVEL: u8 = 6;

/// The gzip header this module writes: ID1 ID2, CM = deflate, FLG = 0, MTIME = 0, XFL = 0,
/// OS = 255 (unknown).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Compresses `data` as a gzip member, deterministically.
pub fn compress(data: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(data, LEVEL);
    let mut out = Vec::with_capacity(deflated.len() + 18);
    out.extend_from_slice(&HEADER);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    // ISIZE is the input size modulo 2^32 (RFC 1952 §2.3.1).
    out.extend_from_slice(&((data.len() & 0xffff_ffff) as u32).to_le_bytes());
    out
}

/// A gzip member built from input given in pieces: the same bytes as [`compress`] of the whole
/// input, without holding the input. The compressed bytes are kept (they are the blob); the
/// input is only hashed and counted.
pub struct Encoder {
    compressor: Box<CompressorOxide>,
    crc: crc32fast::Hasher,
    len: u64,
    out: Vec<u8>,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// An encoder at [`LEVEL`], its output starting with the gzip header.
    pub fn new() -> Self {
        let flags = create_comp_flags_from_zip_params(LEVEL.into(), 0, 0);
        Encoder {
            compressor: Box::new(CompressorOxide::new(flags)),
            crc: crc32fast::Hasher::new(),
            len: 0,
            out: HEADER.to_vec(),
        }
    }

    /// Compresses `data`, with `flush` (`None` while more input follows, `Finish` at the end).
    fn push(&mut self, mut data: &[u8], flush: TDEFLFlush) -> std::io::Result<()> {
        let out = &mut self.out;
        loop {
            let (status, used) = compress_to_output(&mut self.compressor, data, flush, |chunk| {
                out.extend_from_slice(chunk);
                true
            });
            data = data.get(used..).unwrap_or_default();
            match status {
                TDEFLStatus::Done => return Ok(()),
                TDEFLStatus::Okay if data.is_empty() && flush == TDEFLFlush::None => {
                    return Ok(());
                }
                TDEFLStatus::Okay => {}
                other => {
                    return Err(std::io::Error::other(format!(
                        "deflate stopped with status {other:?}"
                    )));
                }
            }
        }
    }

    /// Ends the member (the deflate end, CRC-32 and size) and returns its bytes.
    pub fn finish(mut self) -> std::io::Result<Vec<u8>> {
        self.push(&[], TDEFLFlush::Finish)?;
        let mut out = self.out;
        out.extend_from_slice(&self.crc.finalize().to_le_bytes());
        // ISIZE is the input size modulo 2^32 (RFC 1952 §2.3.1).
        out.extend_from_slice(&((self.len & 0xffff_ffff) as u32).to_le_bytes());
        Ok(out)
    }
}

impl std::io::Write for Encoder {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.push(data, TDEFLFlush::None)?;
        self.crc.update(data);
        self.len += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // A deflate flush would change the bytes: only `finish` ends the stream.
        Ok(())
    }
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

    #[test]
    fn the_encoder_gives_the_bytes_of_compress_whatever_the_pieces() {
        use std::io::Write;
        // Text that compresses (long matches across piece boundaries) and noise that does not.
        let mut data: Vec<u8> = (0..40_000u32)
            .flat_map(|i| format!("line {} of a manifest: {}\n", i % 977, i % 13).into_bytes())
            .collect();
        let mut x: u32 = 1;
        data.extend((0..300_000).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        }));
        let whole = compress(&data);
        for piece in [1, 7, 512, 8192, 100_000, data.len()] {
            let mut encoder = Encoder::new();
            for chunk in data.chunks(piece) {
                encoder.write_all(chunk).unwrap();
            }
            assert_eq!(encoder.finish().unwrap(), whole, "pieces of {piece} bytes");
        }
        assert_eq!(Encoder::new().finish().unwrap(), compress(&[]));
    }
}
