//! Per-page, per-channel codecs (see FORMAT.md, "Codecs").

/// How a page's channel is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Codec {
    /// Every cell the same value; no payload.
    Uniform = 0,
    /// The raw little-endian bytes.
    Raw = 1,
    /// The raw bytes, zstd-compressed.
    Zstd = 2,
}

impl Codec {
    /// The codec with this file code.
    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(Codec::Uniform),
            1 => Some(Codec::Raw),
            2 => Some(Codec::Zstd),
            _ => None,
        }
    }
}

/// Encodes one channel of one page: `raw` holds elements of `elem` bytes.
/// Returns the codec, the uniform value (zero-padded) and the payload.
pub fn encode(raw: &[u8], elem: usize, level: i32) -> std::io::Result<(Codec, [u8; 4], Vec<u8>)> {
    let first = &raw[..elem];
    if raw.chunks_exact(elem).all(|c| c == first) {
        let mut value = [0u8; 4];
        value[..elem].copy_from_slice(first);
        return Ok((Codec::Uniform, value, Vec::new()));
    }
    let packed = zstd::bulk::compress(raw, level)?;
    if packed.len() < raw.len() {
        Ok((Codec::Zstd, [0; 4], packed))
    } else {
        Ok((Codec::Raw, [0; 4], raw.to_vec()))
    }
}

/// Decodes one channel of one page into `out` (exactly the raw length).
pub fn decode_into(
    codec: Codec,
    value: [u8; 4],
    stored: &[u8],
    out: &mut [u8],
    elem: usize,
) -> Result<(), String> {
    let raw_len = out.len();
    match codec {
        // A fill of the element's width compiles to wide stores; a copy per
        // element would be a call per cell.
        Codec::Uniform => match elem {
            1 => {
                out.fill(value[0]);
                Ok(())
            }
            4 => {
                let v = value;
                out.chunks_exact_mut(4).for_each(|c| {
                    let c: &mut [u8; 4] = c.try_into().expect("chunks of exactly 4");
                    *c = v;
                });
                Ok(())
            }
            _ => Err(format!("no uniform fill for {elem}-byte elements")),
        },
        Codec::Raw if stored.len() == raw_len => {
            out.copy_from_slice(stored);
            Ok(())
        }
        Codec::Raw => Err(format!(
            "raw payload of {} bytes, expected {raw_len}",
            stored.len()
        )),
        Codec::Zstd => match zstd::bulk::decompress_to_buffer(stored, out) {
            Ok(n) if n == raw_len => Ok(()),
            Ok(n) => Err(format!(
                "zstd payload decodes to {n} bytes, expected {raw_len}"
            )),
            Err(e) => Err(format!("zstd: {e}")),
        },
    }
}

/// Decodes one channel of one page into a new buffer of `raw_len` bytes.
pub fn decode(
    codec: Codec,
    value: [u8; 4],
    stored: &[u8],
    raw_len: usize,
    elem: usize,
) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; raw_len];
    decode_into(codec, value, stored, &mut out, elem)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_varied_and_incompressible_pick_their_codecs_and_round_trip() {
        let uniform = 300.0f32.to_le_bytes().repeat(64);
        let varied: Vec<u8> = (0..4096u32).map(|i| (i / 64) as u8).collect();
        let noise: Vec<u8> = (0..4096u64).map(|i| (loam_hash(i) >> 24) as u8).collect();
        for (raw, elem, codec) in [
            (&uniform, 4, Codec::Uniform),
            (&varied, 1, Codec::Zstd),
            (&noise, 1, Codec::Raw),
        ] {
            let (c, value, payload) = encode(raw, elem, 3).unwrap();
            assert_eq!(c, codec);
            assert_eq!(&decode(c, value, &payload, raw.len(), elem).unwrap(), raw);
        }
    }

    fn loam_hash(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
